"""Input model of the monthly usage report: every figure already computed, ready to print.

`reports/data.py` fills these from the accounting services; `reports/pdf.py` only lays them out,
so no number is computed twice and the renderer needs no database.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Client languages the report is written in.
LANGUAGES = ("en", "sr", "tr")

#: Other spellings of those languages, as the helpdesk stores them (Client.language "sr_Latn").
LANGUAGE_ALIASES = {"sr_Latn": "sr"}

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class Channel(StrEnum):
    """The kind of support work, as sold in the packages."""

    EMAIL = "email"
    REMOTE = "remote"
    PHONE = "phone"
    VISIT = "visit"
    CONSULTING = "consulting"
    DEVELOPMENT = "development"


class SlaOutcome(StrEnum):
    """Whether one SLA target of a ticket was kept; NONE when the ticket had no such target."""

    MET = "met"
    BREACHED = "breached"
    NONE = "none"


def _require_decimal(name: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True)
class Vendor:
    """The software vendor that sells the support package (the report's issuer)."""

    name: str
    logo_path: Path | None = None


@dataclass(frozen=True)
class Client:
    """The customer the report is for; language and time zone decide how it is printed.

    `language` is "en", "sr" (Serbian, Latin script; "sr_Latn" is accepted too) or "tr".
    """

    name: str
    language: str = "en"
    time_zone: str = "Europe/Belgrade"

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", LANGUAGE_ALIASES.get(self.language, self.language))
        if self.language not in LANGUAGES:
            raise ValueError(f"unsupported report language {self.language!r}")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from exc


@dataclass(frozen=True)
class AccountManager:
    """The vendor's person the client talks to about the package."""

    name: str
    email: str


@dataclass(frozen=True)
class Addon:
    """An add-on to the package and what it costs this month."""

    name: str
    amount: Decimal

    def __post_init__(self) -> None:
        _require_decimal(f"add-on {self.name!r} amount", self.amount)


@dataclass(frozen=True)
class Summary:
    """The month's figures as the accounting module computed them.

    `used_minutes` are the package hours (what counts against the package: the API's
    ``billable_minutes``); `balance_minutes` is included minus those: positive means minutes left,
    negative means the package was exceeded by that much. Development, free visits and warranty
    work are apart; `surcharge_minutes` and `adjustment_minutes` are parts of `used_minutes`.
    A `trial` month shows the figures but charges nothing for the package.
    """

    included_minutes: int
    used_minutes: int
    billable_minutes: int
    balance_minutes: int
    overage_minutes: int
    overage_amount: Decimal
    fee: Decimal
    development_amount: Decimal
    no_contract_amount: Decimal
    total: Decimal
    currency: str
    addons: tuple[Addon, ...] = ()
    worked_minutes: int = 0
    surcharge_minutes: int = 0
    adjustment_minutes: int = 0
    development_minutes: int = 0
    free_visit_minutes: int = 0
    warranty_minutes: int = 0
    trial: bool = False
    #: Without a contract every counted minute is charged at the hourly rate.
    no_contract: bool = False
    #: Minutes of days no contract served, in a month a contract served partly (hourly rate).
    outside_contract_minutes: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "addons", tuple(self.addons))
        for name in (
            "overage_amount",
            "fee",
            "development_amount",
            "no_contract_amount",
            "total",
        ):
            _require_decimal(name, getattr(self, name))
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")


@dataclass(frozen=True)
class ChannelMinutes:
    """Minutes worked this month per channel."""

    email: int = 0
    remote: int = 0
    phone: int = 0
    visit: int = 0
    consulting: int = 0
    development: int = 0

    def items(self) -> tuple[tuple[Channel, int], ...]:
        """Pairs in the fixed order the report shows them."""
        return tuple((channel, getattr(self, channel.value)) for channel in Channel)


@dataclass(frozen=True)
class TicketLine:
    """One ticket worked on this month.

    `status` is the helpdesk's TicketStatus value ("new", "open", "pending", "resolved",
    "closed"), printed translated; an unknown key prints as it is.
    """

    number: str
    subject: str
    status: str
    minutes_spent: int
    first_response: SlaOutcome = SlaOutcome.NONE
    resolution: SlaOutcome = SlaOutcome.NONE

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_response", SlaOutcome(self.first_response))
        object.__setattr__(self, "resolution", SlaOutcome(self.resolution))


@dataclass(frozen=True)
class TimeEntryLine:
    """One logged piece of work; `start` is aware and printed in the client's time zone."""

    start: datetime
    agent: str
    kind: Channel
    duration_minutes: int
    billable_minutes: int
    out_of_hours: bool = False
    ticket_number: str | None = None
    #: Codes of the rules that made billed differ from worked (see RULE_CODES of the accounting).
    codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require_aware("time entry start", self.start)
        object.__setattr__(self, "kind", Channel(self.kind))
        object.__setattr__(self, "codes", tuple(self.codes))


@dataclass(frozen=True)
class AdjustmentLine:
    """A correction booked this month: why, and which month's entry it corrects (signed minutes)."""

    booked_at: datetime
    kind: Channel
    reason: str
    corrects_period: str | None
    minutes: int
    billable_minutes: int
    ticket_number: str | None = None

    def __post_init__(self) -> None:
        _require_aware("adjustment time", self.booked_at)
        object.__setattr__(self, "kind", Channel(self.kind))


@dataclass(frozen=True)
class SlaCompliance:
    """Share of SLA targets kept this month, in percent (0-100); None when no ticket had one."""

    first_response_pct: Decimal | None = None
    resolution_pct: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("first_response_pct", "resolution_pct"):
            value = getattr(self, name)
            if value is None:
                continue
            _require_decimal(name, value)
            if not Decimal(0) <= value <= Decimal(100):
                raise ValueError(f"{name} must lie between 0 and 100, got {value}")


@dataclass(frozen=True)
class Visits:
    """On-site visits used and still available in the current contract year."""

    used: int
    left: int


@dataclass(frozen=True)
class ContractEvent:
    """A change of the contract within the month (a new term, an upgrade, an add-on, the end).

    ``kind`` is one of :data:`helpdesk.contracts.history.KINDS`; ``name`` the package or add-on,
    ``before`` the package before an upgrade or downgrade.
    """

    day: date
    kind: str
    name: str
    before: str | None = None


@dataclass(frozen=True)
class ReportInput:
    """Everything one client's monthly usage report prints.

    `issued_at` is the moment the figures were taken (for a closed month: when it was closed);
    it is printed and becomes the PDF's creation date, so the same input gives the same bytes.
    `daily_minutes[i]` holds the minutes of day i + 1 of the month in the client's time zone;
    `holidays` are the month's public holidays from the client's business calendar (the chart
    shades them like weekends).
    """

    vendor: Vendor
    client: Client
    period: str
    account_manager: AccountManager
    package_name: str
    preliminary: bool
    issued_at: datetime
    summary: Summary
    channel_minutes: ChannelMinutes
    daily_minutes: tuple[int, ...]
    tickets: tuple[TicketLine, ...] = ()
    time_entries: tuple[TimeEntryLine, ...] = ()
    sla: SlaCompliance = field(default_factory=SlaCompliance)
    visits: Visits | None = None
    holidays: tuple[date, ...] = ()
    adjustments: tuple[AdjustmentLine, ...] = ()
    #: The billing increment and out-of-hours weight the legend names.
    increment_minutes: int = 15
    out_of_hours_multiplier: Decimal = Decimal("1.5")
    #: A sub-agent's report: only the tickets this person opened, hours without money.
    requester: str | None = None
    #: The month's contract changes (printed only when there are any).
    contract_events: tuple[ContractEvent, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "adjustments", tuple(self.adjustments))
        if not _PERIOD.match(self.period):
            raise ValueError(f"period must look like YYYY-MM, got {self.period!r}")
        _require_aware("issued_at", self.issued_at)
        object.__setattr__(self, "daily_minutes", tuple(self.daily_minutes))
        object.__setattr__(self, "tickets", tuple(self.tickets))
        object.__setattr__(self, "time_entries", tuple(self.time_entries))
        object.__setattr__(self, "holidays", tuple(self.holidays))
        object.__setattr__(self, "contract_events", tuple(self.contract_events))
        for holiday in self.holidays:
            if (holiday.year, holiday.month) != (self.year, self.month):
                raise ValueError(f"holiday {holiday} lies outside {self.period}")
        if len(self.daily_minutes) != self.days_in_month:
            raise ValueError(
                f"daily_minutes has {len(self.daily_minutes)} days, "
                f"{self.period} has {self.days_in_month}"
            )

    @property
    def year(self) -> int:
        """Calendar year of the period."""
        return int(self.period[:4])

    @property
    def month(self) -> int:
        """Calendar month (1-12) of the period."""
        return int(self.period[5:])

    @property
    def days_in_month(self) -> int:
        """Number of days of the period's month."""
        return calendar.monthrange(self.year, self.month)[1]
