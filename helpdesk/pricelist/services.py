"""Editing the price list: packages (minutes, fee, overage rate, SLA targets, visits) and add-ons.

A price change takes effect from the first day of a month and is kept in ``package_prices`` or
``addon_prices`` (:mod:`.dated`); the accounting reads the price in force for each month, so a
closed month (and its stored PDF) never changes and earlier open months keep the price they had.
SLA targets per priority are in :mod:`.sla_targets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, select

from ..audit_log.record import record, snapshot
from ..clients.validate import FieldError
from ..extensions import db
from ..models import Addon, Package, SlaPolicy, User
from . import dated
from .dated import BASELINE  # noqa: F401  (the price a package had before its first change)
from .dated import today as local_today
from .models import AddonPrice, PackagePrice

PRICE_FIELDS = ("included_minutes", "monthly_fee", "overage_rate", "visits_per_year")


@dataclass(frozen=True, slots=True)
class PackageTerms:
    """A package as billed in one month (same attribute names as :class:`Package`)."""

    id: int
    code: str
    name: str
    rank: int
    included_minutes: int
    monthly_fee: Decimal
    overage_rate: Decimal
    visits_per_year: int


def _terms(package: Package, price: PackagePrice | None) -> PackageTerms:
    src = price or package
    return PackageTerms(package.id, package.code, package.name, package.rank,
                        src.included_minutes, src.monthly_fee, src.overage_rate,
                        src.visits_per_year)


def packages_in_force(packages: dict[int, Package], first_day: date) -> dict[int, PackageTerms]:
    """Each package with the latest price change on or before ``first_day``."""
    latest = dated.in_force(PackagePrice, first_day)
    return {pid: _terms(p, latest.get((pid,))) for pid, p in packages.items()}


def price_on(package: Package, day: date) -> PackageTerms:
    first = day.replace(day=1)
    return packages_in_force({package.id: package}, first)[package.id]


def history(package: Package) -> list[PackagePrice]:
    return dated.changes(PackagePrice, package_id=package.id)


# -- validation -----------------------------------------------------------------------------


def money(field: str, value) -> Decimal:
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise FieldError(field, str(_l("Not an amount: %(value)s (e.g. 120.00).",
                                       value=value))) from None
    if not amount.is_finite():
        raise FieldError(field, str(_l("Not an amount: %(value)s (e.g. 120.00).", value=value)))
    if amount < 0:
        raise FieldError(field, str(_l("A price cannot be negative.")))
    if amount >= Decimal(10000000000):
        raise FieldError(field, str(_l("That amount is too large.")))
    return amount.quantize(Decimal("0.01"))


def whole(field: str, value, *, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise FieldError(field, str(_l("A whole number, please."))) from None
    if number < minimum:
        raise FieldError(field, str(_l("At least %(n)s.", n=minimum)))
    return number


# -- packages -------------------------------------------------------------------------------


def change_price(actor: User | None, package: Package, *, effective_from: date,
                 included_minutes, monthly_fee, overage_rate, visits_per_year) -> PackagePrice:
    """New prices from the first day of a month that is not closed; earlier months keep theirs."""
    values = {
        "included_minutes": whole("included_minutes", included_minutes),
        "monthly_fee": money("monthly_fee", monthly_fee),
        "overage_rate": money("overage_rate", overage_rate),
        "visits_per_year": whole("visits_per_year", visits_per_year),
    }
    dated.check_month_start(effective_from)
    return dated.record_change(
        actor, PackagePrice, {"package_id": package.id}, effective_from=effective_from,
        values=values, baseline=lambda: {k: getattr(package, k) for k in PRICE_FIELDS},
        owner=package, today=local_today())


def update_package(actor: User | None, package: Package, *, name: str, rank, active: bool,
                   first_response_minutes, resolution_minutes) -> Package:
    """Name, order, availability and SLA targets (normal priority; others derive from it)."""
    name = (name or "").strip()
    if not name:
        raise FieldError("name", str(_l("Please give the package's name.")))
    rank = whole("rank", rank)
    first = whole("first_response_minutes", first_response_minutes, minimum=1)
    resolve = whole("resolution_minutes", resolution_minutes, minimum=1)
    if resolve < first:
        raise FieldError("resolution_minutes",
                         str(_l("The resolution target cannot be shorter than the first response.")))
    before = snapshot(package) | _sla(package)
    package.name, package.rank, package.active = name[:100], rank, bool(active)
    if package.sla_policy is None:
        package.sla_policy = SlaPolicy(first_response_minutes=first, resolution_minutes=resolve)
    else:
        package.sla_policy.first_response_minutes = first
        package.sla_policy.resolution_minutes = resolve
    db.session.flush()
    after = snapshot(package) | _sla(package)
    if after != before:
        record(package, "update", user=actor, before=before, after=after)
    return package


def _sla(package: Package) -> dict:
    p = package.sla_policy
    return {"first_response_minutes": p.first_response_minutes if p else None,
            "resolution_minutes": p.resolution_minutes if p else None}


def create_package(actor: User | None, *, code: str, name: str, included_minutes, monthly_fee,
                   overage_rate, visits_per_year, rank, first_response_minutes,
                   resolution_minutes) -> Package:
    code = (code or "").strip().lower()
    if not code or not code.replace("_", "").isalnum() or len(code) > 30:
        raise FieldError("code", str(_l("A short code of letters, digits and _, e.g. premium.")))
    if db.session.scalar(select(Package).where(Package.code == code)):
        raise FieldError("code", str(_l("A package with the code %(code)s exists.", code=code)))
    package = Package(code=code, name="-", rank=0, active=True,
                      included_minutes=whole("included_minutes", included_minutes),
                      monthly_fee=money("monthly_fee", monthly_fee),
                      overage_rate=money("overage_rate", overage_rate),
                      visits_per_year=whole("visits_per_year", visits_per_year))
    # Validate the rest before adding anything.
    if not (name or "").strip():
        raise FieldError("name", str(_l("Please give the package's name.")))
    first = whole("first_response_minutes", first_response_minutes, minimum=1)
    resolve = whole("resolution_minutes", resolution_minutes, minimum=1)
    db.session.add(package)
    db.session.flush()
    update_package(None, package, name=name, rank=rank, active=True,
                   first_response_minutes=first, resolution_minutes=resolve)
    record(package, "create", user=actor, after=snapshot(package) | _sla(package))
    return package


# -- add-ons --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddonTerms:
    """An add-on as billed in one month (same attribute names as :class:`Addon`)."""

    id: int
    code: str
    name: str
    monthly_fee: Decimal


def all_addons_in_force(first_day: date) -> dict[int, AddonTerms]:
    """Every add-on at its price in force on ``first_day``, read in one query (for billing)."""
    rows = db.session.execute(
        select(Addon, AddonPrice.monthly_fee)
        .outerjoin(AddonPrice, and_(AddonPrice.addon_id == Addon.id,
                                    AddonPrice.effective_from <= first_day))
        .order_by(Addon.id, AddonPrice.effective_from))
    out: dict[int, AddonTerms] = {}
    for addon, fee in rows:  # the latest change of each add-on comes last
        out[addon.id] = AddonTerms(addon.id, addon.code, addon.name,
                                   addon.monthly_fee if fee is None else fee)
    return out


def addon_price_on(addon: Addon, day: date) -> Decimal:
    """The add-on's monthly fee in force in the month of ``day``."""
    row = dated.in_force(AddonPrice, day.replace(day=1), addon_id=addon.id).get((addon.id,))
    return (row or addon).monthly_fee


def addon_history(addon: Addon) -> list[AddonPrice]:
    return dated.changes(AddonPrice, addon_id=addon.id)


def change_addon_price(actor: User | None, addon: Addon, *, effective_from: date,
                       monthly_fee) -> AddonPrice:
    """A new add-on fee from the first day of a month that is not closed, as for packages."""
    values = {"monthly_fee": money("monthly_fee", monthly_fee)}
    dated.check_month_start(effective_from)
    return dated.record_change(
        actor, AddonPrice, {"addon_id": addon.id}, effective_from=effective_from, values=values,
        baseline=lambda: {"monthly_fee": addon.monthly_fee}, owner=addon, today=local_today())


def save_addon(actor: User | None, addon: Addon | None, *, code: str | None = None, name: str,
               monthly_fee=None, active: bool = True) -> Addon:
    """A new add-on with its fee, or an add-on's name and availability (its fee changes from a
    date: :func:`change_addon_price`)."""
    name = (name or "").strip()
    if addon is None:
        fee = money("monthly_fee", monthly_fee)
        if not name:
            raise FieldError("name", str(_l("Please give the add-on's name.")))
        code = (code or "").strip().lower()
        if not code or not code.replace("_", "").isalnum() or len(code) > 30:
            raise FieldError("code", str(_l("A short code of letters, digits and _, e.g. "
                                            "cloud_backup.")))
        if db.session.scalar(select(Addon).where(Addon.code == code)):
            raise FieldError("code", str(_l("An add-on with the code %(code)s exists.",
                                            code=code)))
        addon = Addon(code=code, name=name, monthly_fee=fee, active=active)
        db.session.add(addon)
        db.session.flush()
        record(addon, "create", user=actor)
        return addon
    if not name:
        raise FieldError("name", str(_l("Please give the add-on's name.")))
    if monthly_fee is not None and money("monthly_fee", monthly_fee) != addon.monthly_fee:
        raise FieldError("monthly_fee", str(_l(
            "A fee changes from the first day of a month: use the price change.")))
    before = snapshot(addon)
    addon.name, addon.active = name[:100], bool(active)
    db.session.flush()
    if snapshot(addon) != before:
        record(addon, "update", user=actor, before=before)
    return addon


# -- the daily step -------------------------------------------------------------------------


@dataclass
class PricesApplied:
    packages: list[str]
    addons: list[str]

    def __str__(self) -> str:
        return (f"{len(self.packages)} package(s) and {len(self.addons)} add-on(s) took the "
                "price now in force")


def apply_prices_in_force(now=None) -> PricesApplied:
    """Give each package and add-on the price in force today (a change planned for this month
    was written before its month came), so every page that shows the stored price shows the one
    billed. Billing reads the dated rows either way; only rows that differ change, audited."""
    first = local_today().replace(day=1)
    done = PricesApplied([], [])
    packages = {p.id: p for p in db.session.scalars(select(Package).order_by(Package.id))}
    for package_id, terms in packages_in_force(packages, first).items():
        package = packages[package_id]
        wanted = {k: getattr(terms, k) for k in PRICE_FIELDS}
        if any(getattr(package, k) != v for k, v in wanted.items()):
            before = snapshot(package)
            for key, value in wanted.items():
                setattr(package, key, value)
            db.session.flush()
            record(package, "price_change", actor="price-list", before=before)
            done.packages.append(package.code)
    addons = {a.id: a for a in db.session.scalars(select(Addon))}
    for addon_id, terms in sorted(all_addons_in_force(first).items()):
        addon = addons[addon_id]
        if addon.monthly_fee != terms.monthly_fee:
            before = snapshot(addon)
            addon.monthly_fee = terms.monthly_fee
            db.session.flush()
            record(addon, "price_change", actor="price-list", before=before)
            done.addons.append(addon.code)
    return done
