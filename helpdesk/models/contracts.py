"""The price list (packages, add-ons, SLA policies) and the contracts clients sign."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import Money, StrEnum, UTCDateTime, enum_check, enum_column, utcnow


class Package(db.Model):
    """A support package of the vendor's price list; editable data, not code."""

    __tablename__ = "packages"
    __table_args__ = (
        CheckConstraint("included_minutes >= 0", name="included_minutes"),
        CheckConstraint("monthly_fee >= 0", name="monthly_fee"),
        CheckConstraint("overage_rate >= 0", name="overage_rate"),
        CheckConstraint("visits_per_year >= 0", name="visits_per_year"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    included_minutes: Mapped[int] = mapped_column(Integer)
    monthly_fee: Mapped[Decimal] = mapped_column(Money)
    visits_per_year: Mapped[int] = mapped_column(Integer, default=0)
    #: Price per hour of billable time beyond the included minutes.
    overage_rate: Mapped[Decimal] = mapped_column(Money)
    #: Order in the price list; a higher rank is a bigger package (upgrade vs downgrade).
    rank: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    sla_policy = relationship("SlaPolicy", back_populates="package", uselist=False)

    def __repr__(self) -> str:
        return f"<Package {self.code}>"


class SlaPolicy(db.Model):
    """Targets in business minutes for tickets of clients on a package (normal priority)."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        CheckConstraint("first_response_minutes > 0", name="first_response_positive"),
        CheckConstraint("resolution_minutes > 0", name="resolution_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), unique=True
    )
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)

    package = relationship("Package", back_populates="sla_policy")


class Addon(db.Model):
    """An optional monthly extra: cloud backup, on-call phone support out of hours."""

    __tablename__ = "addons"
    __table_args__ = (CheckConstraint("monthly_fee >= 0", name="monthly_fee"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    monthly_fee: Mapped[Decimal] = mapped_column(Money)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ContractStatus(StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Contract(db.Model):
    __tablename__ = "contracts"
    __table_args__ = (
        CheckConstraint(enum_check("status", ContractStatus), name="status"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        CheckConstraint("monthly_fee IS NULL OR monthly_fee >= 0", name="fee"),
        Index("ix_contracts_client_status", "client_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    #: The package in force now; its history is in ``changes``.
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)
    status: Mapped[str] = mapped_column(enum_column(ContractStatus))
    start_date: Mapped[date] = mapped_column(Date)
    #: Last day covered (inclusive); None for open-ended.
    end_date: Mapped[date | None] = mapped_column(Date)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    #: A negotiated monthly fee ("Extended from 200 EUR"); None means the package's price.
    monthly_fee: Mapped[Decimal | None] = mapped_column(Money)
    #: The product's warranty end when this contract was signed (signed during or after it).
    warranty_end: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Length of a term in months (a renewal adds one term).
    term_months: Mapped[int] = mapped_column(Integer, default=12, server_default="12")
    #: The package the next term starts on: a trial's choice, or a downgrade asked for at the
    #: end of a term. None: a trial ends; a renewal keeps the package.
    next_package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id"))
    #: The term this contract continues (a renewal, or the trial it was converted from).
    previous_id: Mapped[int | None] = mapped_column(
        ForeignKey("contracts.id", ondelete="SET NULL"), unique=True
    )
    #: When the client cancelled the renewal at the end of the term (``auto_renew`` is off then).
    renewal_cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why the contract stopped serving: renewed, ended, trial_converted, trial_ended.
    ended_reason: Mapped[str | None] = mapped_column(String(20))

    client = relationship("Client", back_populates="contracts")
    package = relationship("Package", foreign_keys=[package_id])
    next_package = relationship("Package", foreign_keys=[next_package_id])
    previous = relationship("Contract", remote_side=[id], foreign_keys=[previous_id])
    addons = relationship("ContractAddon", back_populates="contract", cascade="all, delete-orphan")
    changes = relationship(
        "ContractChange",
        back_populates="contract",
        cascade="all, delete-orphan",
        order_by="ContractChange.effective_date",
    )

    def covers(self, day: date) -> bool:
        return self.start_date <= day and (self.end_date is None or day <= self.end_date)


class ContractAddon(db.Model):
    """An add-on on a contract, with the days it is in force (prorated by day)."""

    __tablename__ = "contract_addons"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        UniqueConstraint("contract_id", "addon_id", "start_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    addon_id: Mapped[int] = mapped_column(ForeignKey("addons.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)

    contract = relationship("Contract", back_populates="addons")
    addon = relationship("Addon")


class ChangeKind(StrEnum):
    START = "start"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"


class ContractChange(db.Model):
    """The package history: from ``effective_date`` on, the contract is on ``package``."""

    __tablename__ = "contract_changes"
    __table_args__ = (
        CheckConstraint(enum_check("kind", ChangeKind), name="kind"),
        UniqueConstraint("contract_id", "effective_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    effective_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(enum_column(ChangeKind))
    from_package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id"))
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contract = relationship("Contract", back_populates="changes")
    package = relationship("Package", foreign_keys=[package_id])
    from_package = relationship("Package", foreign_keys=[from_package_id])
