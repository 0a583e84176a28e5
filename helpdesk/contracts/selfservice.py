"""Self-service contract changes by the client's company administrator (the portal).

Each operation checks that the acting user is a portal administrator of the contract's company,
makes the change through :mod:`helpdesk.contracts.changes` (the same rules as the console and the
CLI) and tells the account manager by mail. Nothing is committed here: the request does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import force_locale, format_date, gettext
from sqlalchemy import select

from ..accounting.ledger import is_month_closed
from ..accounting.periods import change_effective_date
from ..accounting.usage import usage_for
from ..audit_log.record import record, snapshot
from ..extensions import db
from ..i18n import language_for
from ..models import Addon, Contract, Package, PortalRole, Role, User, utcnow
from ..notifications.once import account_manager_email, send_once
from . import changes
from .changes import ContractChangeError
from .lifecycle import trial_last_day


class SelfServiceError(ContractChangeError):
    """Refused self-service change; the message is for the portal user."""


@dataclass(frozen=True)
class UpgradePreview:
    """The month's figures now and after the upgrade, exactly as the usage API computes them."""

    package: Package
    effective: date
    period: str
    fee_now: Decimal
    fee_after: Decimal
    included_now: int
    included_after: int

    @property
    def extra_fee(self) -> Decimal:
        return self.fee_after - self.fee_now

    @property
    def extra_minutes(self) -> int:
        return self.included_after - self.included_now


def require_company_admin(user: User, contract: Contract, day: date | None = None) -> None:
    """The user may change the contract (and the month of ``day`` is still open)."""
    if (user.role != Role.CLIENT or user.client_id != contract.client_id
            or user.portal_role != PortalRole.ADMIN):
        raise SelfServiceError(
            gettext("Only your company's portal administrator can change the contract.")
        )
    if day is not None and is_month_closed(day.strftime("%Y-%m")):
        raise SelfServiceError(gettext(
            "%(month)s is already closed and billed: it can no longer be changed.",
            month=format_date(day, "LLLL yyyy")))


def packages_offered() -> list[Package]:
    return db.session.scalars(
        select(Package).where(Package.active.is_(True)).order_by(Package.rank, Package.id)
    ).all()


def addons_offered() -> list[Addon]:
    return db.session.scalars(
        select(Addon).where(Addon.active.is_(True)).order_by(Addon.name)
    ).all()


def _current_package(contract: Contract, day: date) -> Package:
    return db.session.get(Package, changes.package_id_on(contract, day))


def _check_upgrade(contract: Contract, package: Package, day: date) -> None:
    current = _current_package(contract, day)
    if package.id == current.id:
        raise SelfServiceError(gettext("Your contract is already on %(package)s.",
                                       package=package.name))
    if package.rank <= current.rank:
        raise SelfServiceError(gettext(
            "%(package)s is smaller than %(current)s: ask for a downgrade from next month "
            "instead.", package=package.name, current=current.name))


def upgrade_preview(user: User, contract: Contract, package: Package, day: date) -> UpgradePreview:
    """What the upgrade on ``day`` does to the month's fee and included minutes (nothing saved)."""
    require_company_admin(user, contract, day)
    _check_upgrade(contract, package, day)
    client = contract.client
    period = day.strftime("%Y-%m")
    before = usage_for(client, period)
    savepoint = db.session.begin_nested()
    try:
        change = changes.upgrade(contract, package, on=day, user=user)
        after = usage_for(client, period)
        effective = change.effective_date
    finally:
        savepoint.rollback()
        db.session.expire_all()
    return UpgradePreview(package, effective, period, before.fee, after.fee,
                          before.included_minutes, after.included_minutes)


def self_upgrade(user: User, contract: Contract, package: Package, day: date):
    require_company_admin(user, contract, day)
    _check_upgrade(contract, package, day)
    change = changes.upgrade(contract, package, on=day, user=user)
    _tell_manager(contract, user, "upgrade", package=package.name,
                  day=change.effective_date)
    return change


def self_downgrade(user: User, contract: Contract, package: Package, day: date):
    require_company_admin(user, contract, day)
    pending = changes.pending_change(contract, day)
    if pending is not None or contract.next_package_id is not None:
        when = pending.effective_date if pending is not None else contract.end_date
        raise SelfServiceError(gettext(
            "A change is already planned for %(date)s; ask your account manager to cancel it "
            "first.", date=format_date(when)))
    current = _current_package(contract, day)
    if package.rank >= current.rank:
        raise SelfServiceError(gettext("%(package)s is not smaller than %(current)s.",
                                       package=package.name, current=current.name))
    effective = change_effective_date(day, upgrade=False)
    if contract.end_date is not None and effective > contract.end_date:
        if not contract.auto_renew:
            raise SelfServiceError(gettext("Your contract ends on %(date)s and does not renew.",
                                           date=format_date(contract.end_date)))
        # The last month of the term: the next term starts on the smaller package.
        before = snapshot(contract)
        contract.next_package_id = package.id
        db.session.flush()
        record(contract, "package_downgrade", user=user, before=before)
        _tell_manager(contract, user, "downgrade", package=package.name,
                      day=contract.end_date + timedelta(days=1))
        return None
    change = changes.downgrade(contract, package, requested_on=day, user=user)
    _tell_manager(contract, user, "downgrade", package=package.name, day=change.effective_date)
    return change


def self_addon(user: User, contract: Contract, addon: Addon, day: date, *, add: bool):
    require_company_admin(user, contract, day)
    if add:
        item = changes.add_addon(contract, addon, on=day, user=user)
    else:
        item = changes.remove_addon(contract, addon, on=day, user=user)
    _tell_manager(contract, user, "addon_add" if add else "addon_remove", package=addon.name,
                  day=day)
    return item


def self_cancel_renewal(user: User, contract: Contract, day: date | None = None):
    require_company_admin(user, contract, day)
    changes.cancel_renewal(contract, user=user)
    _tell_manager(contract, user, "cancel_renewal", package=contract.package.name,
                  day=contract.end_date)
    return contract


def self_trial_choice(user: User, contract: Contract, package: Package | None):
    require_company_admin(user, contract)
    changes.choose_next_package(contract, package, user=user)
    _tell_manager(contract, user, "trial_choice", package=package.name if package else "—",
                  day=trial_last_day(contract))
    return contract


def _manager_text(kind: str, contract: Contract, user: User, package: str, day) -> tuple[str, str]:
    client = contract.client.name
    when = format_date(day, "long") if day else "—"
    what = {
        "upgrade": gettext("upgraded to %(package)s from %(date)s", package=package, date=when),
        "downgrade": gettext("asked for a downgrade to %(package)s from %(date)s",
                             package=package, date=when),
        "addon_add": gettext("added %(package)s from %(date)s", package=package, date=when),
        "addon_remove": gettext("removed %(package)s after %(date)s", package=package,
                                date=when),
        "cancel_renewal": gettext("cancelled the renewal: the contract ends on %(date)s",
                                  date=when),
        "trial_choice": gettext("chose %(package)s for after the trial ending on %(date)s",
                                package=package, date=when),
    }[kind]
    subject = gettext("%(client)s changed its contract in the portal", client=client)
    body = gettext(
        "%(user)s (%(email)s) of %(client)s %(what)s.\n\nThe change is in the contract "
        "history on the client page.\n\n%(vendor)s",
        user=user.name, email=user.email, client=client, what=what,
        vendor=current_app.config["VENDOR_NAME"],
    )
    return subject, body


def _tell_manager(contract: Contract, user: User, kind: str, *, package: str, day) -> bool:
    """Mail the account manager (in their language) about a change made in the portal."""
    address = account_manager_email(contract.client)
    if address is None:
        return False
    manager = contract.client.account_manager
    db.session.flush()
    key = f"contract-portal:{contract.id}:{kind}:{utcnow().isoformat()}"
    with force_locale(language_for(manager)):
        subject, body = _manager_text(kind, contract, user, package, day)
    return send_once(key, [address], subject, body)
