"""The vendor's price list as data: packages, SLA policies and add-ons, created once, then edited."""

from __future__ import annotations

from decimal import Decimal

from ..extensions import db

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
    """Create the default price list where it is missing; never overwrite edits. True if changed.

    The same seeding as migration 0004 and ``flask setup`` (:mod:`helpdesk.pricelist.seed`).
    """
    from .seed import seed_price_list

    changed = seed_price_list(db.session.connection()) > 0
    db.session.flush()
    return changed
