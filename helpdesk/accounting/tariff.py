"""The constants of the hour-accounting rules: the kinds of work and :class:`BillingRules`.

Nothing here touches Flask or the database; :func:`BillingRules.from_config` reads the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from types import MappingProxyType
from typing import Any, Protocol

__all__ = [
    "CONSULTING",
    "DEVELOPMENT",
    "EMAIL",
    "KINDS",
    "PHONE",
    "REMOTE",
    "VISIT",
    "BillingRules",
    "WorkingCalendar",
]

# -- kinds of work --------------------------------------------------------------------------

PHONE = "phone"
REMOTE = "remote"
EMAIL = "email"
CONSULTING = "consulting"
VISIT = "visit"
DEVELOPMENT = "development"
#: Every kind of time entry the rules know.
KINDS = frozenset({PHONE, REMOTE, EMAIL, CONSULTING, VISIT, DEVELOPMENT})


class WorkingCalendar(Protocol):
    """What the rules need from a business calendar (``helpdesk.calendar.business.BusinessCalendar``)."""

    def split_minutes(self, start: datetime, end: datetime) -> tuple[float, float]:
        """(minutes inside, minutes outside) business hours of ``start..end``."""
        ...


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, eq=False)
class BillingRules:
    """Every constant of the accounting rules; the defaults are the published price list."""

    #: Billable time is rounded up to whole increments of this many minutes.
    increment_minutes: int = 15
    #: Weight of out-of-hours phone and remote time.
    out_of_hours_multiplier: Decimal = Decimal("1.5")
    #: Hourly rate for every billable minute of a client without an active contract.
    no_contract_rate: Decimal = Decimal("50.00")
    #: Hourly rate of custom development, which never uses package hours.
    development_rate: Decimal = Decimal("60.00")
    #: Minutes included per calendar month, by package code.
    package_minutes: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"basic": 120, "standard": 300, "extended": 600})
    )
    #: Hourly rate of minutes beyond the included ones, by package code.
    overage_rates: Mapping[str, Decimal] = field(
        default_factory=lambda: _frozen(
            {"basic": Decimal("45.00"), "standard": Decimal("40.00"), "extended": Decimal("35.00")}
        )
    )
    #: On-site visits per contract year that do not use package hours, by package code.
    visits_per_year: Mapping[str, int] = field(
        default_factory=lambda: _frozen({"basic": 0, "standard": 1, "extended": 2})
    )
    #: Monthly fees of add-ons whose price is fixed (the on-call fee is set per price list).
    addon_fees: Mapping[str, Decimal] = field(
        default_factory=lambda: _frozen({"cloud_backup": Decimal("20.00")})
    )
    #: Kinds billed per session: at least one increment each.
    session_kinds: frozenset[str] = frozenset({PHONE, REMOTE})
    #: Kinds whose out-of-hours time is weighted by the multiplier.
    out_of_hours_kinds: frozenset[str] = frozenset({PHONE, REMOTE})
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not isinstance(self.increment_minutes, int) or self.increment_minutes <= 0:
            raise ValueError(f"increment_minutes must be a positive int: {self.increment_minutes}")
        if Decimal(self.out_of_hours_multiplier) < 1:
            raise ValueError("out_of_hours_multiplier must be at least 1")
        for name in ("no_contract_rate", "development_rate"):
            if Decimal(getattr(self, name)) < 0:
                raise ValueError(f"{name} must not be negative")

    @cached_property
    def multiplier_fraction(self) -> Fraction:
        """The out-of-hours multiplier as an exact fraction (3/2), for integer arithmetic."""
        return Fraction(Decimal(self.out_of_hours_multiplier))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BillingRules:
        """Rules from the application settings (``BILLING_INCREMENT_MINUTES`` etc.), else defaults."""
        kwargs: dict[str, Any] = {}
        if "BILLING_INCREMENT_MINUTES" in config:
            kwargs["increment_minutes"] = int(config["BILLING_INCREMENT_MINUTES"])
        for key, name in (
            ("OUT_OF_HOURS_MULTIPLIER", "out_of_hours_multiplier"),
            ("NO_CONTRACT_RATE", "no_contract_rate"),
            ("DEVELOPMENT_RATE", "development_rate"),
        ):
            if key in config:
                kwargs[name] = Decimal(str(config[key]))
        if "CURRENCY" in config:
            kwargs["currency"] = str(config["CURRENCY"])
        return cls(**kwargs)
