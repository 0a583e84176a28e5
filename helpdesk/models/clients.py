"""Client companies, their people (contacts) and the addresses and numbers we know them by."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow

LANGUAGES = ("en", "sr_Latn", "tr")


class Client(db.Model):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint("language IN ('en', 'sr_Latn', 'tr')", name="language"),
        CheckConstraint("length(country) = 2", name="country_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    country: Mapped[str] = mapped_column(String(2), default="RS")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Belgrade")
    language: Mapped[str] = mapped_column(String(10), default="sr_Latn")
    #: The dedicated advisor who reads this client's reports and reviews out-of-hours work.
    account_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True), index=True
    )
    #: End of the one-year warranty of the product the client bought (None: no product warranty).
    warranty_until: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    #: Tax identification number (PIB, VKN, VAT id) as the client writes it.
    tax_id: Mapped[str | None] = mapped_column(String(40))
    #: Set when the client was archived: no new tickets or contracts, history stays readable.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The agent who gets this client's new tickets (auto-assignment); None: round-robin.
    dedicated_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account_manager = relationship("User", foreign_keys=[account_manager_id])
    dedicated_agent = relationship("User", foreign_keys=[dedicated_agent_id])
    users = relationship("User", foreign_keys="User.client_id", back_populates="client")
    contacts = relationship("Contact", back_populates="client", cascade="all, delete-orphan")
    domains = relationship("ClientDomain", back_populates="client", cascade="all, delete-orphan")
    contracts = relationship(
        "Contract", back_populates="client", order_by="Contract.start_date.desc()"
    )

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.name}>"


class ClientDomain(db.Model):
    """A mail domain that identifies the client when the sender is not a known contact."""

    __tablename__ = "client_domains"
    __table_args__ = (CheckConstraint("domain = lower(domain)", name="domain_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)

    client = relationship("Client", back_populates="domains")


class Contact(db.Model):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Receives reminders and monthly reports for the company.
    is_primary: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    client = relationship("Client", back_populates="contacts")
    emails = relationship("ContactEmail", back_populates="contact", cascade="all, delete-orphan")
    phones = relationship("ContactPhone", back_populates="contact", cascade="all, delete-orphan")

    @property
    def email(self) -> str | None:
        return self.emails[0].email if self.emails else None


class ContactEmail(db.Model):
    __tablename__ = "contact_emails"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)

    contact = relationship("Contact", back_populates="emails")


class ContactPhone(db.Model):
    __tablename__ = "contact_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    #: As written by a person, for display.
    number: Mapped[str] = mapped_column(String(40))
    #: Digits with the country code (e.g. 381641234567): what the call importer matches on.
    normalized: Mapped[str] = mapped_column(String(20), unique=True)

    contact = relationship("Contact", back_populates="phones")
