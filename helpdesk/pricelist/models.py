"""The price history: from ``effective_from`` on, a package costs and includes these values."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models.types import Money, UTCDateTime, utcnow


class PackagePrice(db.Model):
    """A price change of a package, in force from the first day of a month."""

    __tablename__ = "package_prices"
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
