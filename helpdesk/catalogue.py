"""The vendor's price list as data: packages, SLA policies and add-ons, created once, then edited."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from .extensions import db
from .models import Addon, Package, SlaPolicy

#: code, name, included minutes/month, fee/month, visits/year, overage EUR/h, rank, SLA (min)
DEFAULT_PACKAGES = (
    ("basic", "Basic", 120, Decimal("60.00"), 0, Decimal("45.00"), 1, (8 * 60, 24 * 60)),
    ("standard", "Standard", 300, Decimal("120.00"), 1, Decimal("40.00"), 2, (4 * 60, 16 * 60)),
    ("extended", "Extended", 600, Decimal("200.00"), 2, Decimal("35.00"), 3, (2 * 60, 8 * 60)),
)
DEFAULT_ADDONS = (
    ("cloud_backup", "Cloud backup", Decimal("20.00")),
    ("oncall", "On-call phone support out of hours", Decimal("30.00")),
)


def ensure_catalogue() -> bool:
    """Create the default price list where it is missing; never overwrite edits. True if changed."""
    changed = False
    for code, name, minutes, fee, visits, rate, rank, (first, resolve) in DEFAULT_PACKAGES:
        pkg = db.session.scalar(select(Package).where(Package.code == code))
        if pkg is None:
            pkg = Package(code=code, name=name, included_minutes=minutes, monthly_fee=fee,
                          visits_per_year=visits, overage_rate=rate, rank=rank)
            db.session.add(pkg)
            db.session.flush()
            changed = True
        if pkg.sla_policy is None:
            db.session.add(SlaPolicy(package_id=pkg.id, first_response_minutes=first,
                                     resolution_minutes=resolve))
            changed = True
    for code, name, fee in DEFAULT_ADDONS:
        if db.session.scalar(select(Addon).where(Addon.code == code)) is None:
            db.session.add(Addon(code=code, name=name, monthly_fee=fee))
            changed = True
    db.session.flush()
    return changed
