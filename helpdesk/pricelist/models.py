"""The price history: from ``effective_from`` on, a package or add-on costs these values, and a
package promises these SLA targets per priority."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models.tickets import Priority
from ..models.types import Money, UTCDateTime, enum_check, enum_column, utcnow


class PackagePrice(db.Model):
    """A price change of a package, in force from the first day of a month."""

    __tablename__ = "package_prices"
    #: The columns a dated change is kept apart by (:mod:`helpdesk.pricelist.dated`).
    __dated_keys__ = ("package_id",)
    __table_args__ = (
        UniqueConstraint("package_id", "effective_from"),
        CheckConstraint("included_minutes >= 0", name="included_minutes"),
        CheckConstraint("monthly_fee >= 0", name="monthly_fee"),
        CheckConstraint("overage_rate >= 0", name="overage_rate"),
        CheckConstraint("visits_per_year >= 0", name="visits_per_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), index=True
    )
    effective_from: Mapped[date] = mapped_column(Date)
    included_minutes: Mapped[int] = mapped_column(Integer)
    monthly_fee: Mapped[Decimal] = mapped_column(Money)
    overage_rate: Mapped[Decimal] = mapped_column(Money)
    visits_per_year: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    package = relationship("Package")


class AddonPrice(db.Model):
    """A price change of an add-on, in force from the first day of a month (like a package's)."""

    __tablename__ = "addon_prices"
    __dated_keys__ = ("addon_id",)
    __table_args__ = (
        UniqueConstraint("addon_id", "effective_from"),
        CheckConstraint("monthly_fee >= 0", name="monthly_fee"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    addon_id: Mapped[int] = mapped_column(ForeignKey("addons.id", ondelete="CASCADE"), index=True)
    effective_from: Mapped[date] = mapped_column(Date)
    monthly_fee: Mapped[Decimal] = mapped_column(Money)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    addon = relationship("Addon")


class SlaTarget(db.Model):
    """A package's own targets for one priority, for tickets opened from ``effective_from`` on.

    Without a row the priority's targets derive from the package's policy (normal priority) by
    :data:`helpdesk.sla.clock.PRIORITY_FACTORS`.
    """

    __tablename__ = "sla_targets"
    __dated_keys__ = ("package_id", "priority")
    __table_args__ = (
        UniqueConstraint("package_id", "priority", "effective_from"),
        CheckConstraint(enum_check("priority", Priority), name="priority"),
        CheckConstraint("first_response_minutes > 0", name="first_response_positive"),
        CheckConstraint("resolution_minutes >= first_response_minutes", name="resolution_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), index=True
    )
    priority: Mapped[str] = mapped_column(enum_column(Priority))
    effective_from: Mapped[date] = mapped_column(Date)
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    package = relationship("Package")
