"""Template filters: times in the viewer's zone, minutes as hours, money and labels per locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_skeleton
from flask import Flask
from flask_babel import (
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    get_locale,
    get_timezone,
    gettext,
)
from flask_babel import lazy_gettext as _l

#: Words for the stored codes, so every page shows them in the reader's language.
LABELS = {
    "status": {
        "new": _l("New"),
        "open": _l("Open"),
        "pending": _l("Waiting for you"),
        "resolved": _l("Resolved"),
        "closed": _l("Closed"),
    },
    "priority": {
        "low": _l("Low"),
        "normal": _l("Normal"),
        "high": _l("High"),
        "urgent": _l("Urgent"),
    },
    "channel": {
        "email": _l("Email"),
        "phone": _l("Phone"),
        "remote": _l("Remote session"),
        "portal": _l("Portal"),
    },
    "portal_role": {
        "admin": _l("Company administrator"),
        "member": _l("User"),
        "subagent": _l("Sub-agent"),
    },
    "contract_status": {
        "trial": _l("Trial"),
        "active": _l("Active"),
        "expired": _l("Expired"),
        "cancelled": _l("Cancelled"),
    },
    "visit_status": {
        "proposed": _l("Proposed"),
        "confirmed": _l("Confirmed"),
        "done": _l("Done"),
        "cancelled": _l("Cancelled"),
    },
    "entry_kind": {
        "remote": _l("Remote session"),
        "phone": _l("Phone"),
        "email": _l("Email"),
        "visit": _l("On-site visit"),
        "consulting": _l("Consulting"),
        "development": _l("Development"),
    },
    "addon": {
        "cloud_backup": _l("Cloud backup"),
        "oncall": _l("On-call phone support out of hours"),
    },
    "auto_kind": {
        "bounce": _l("Bounce"),
        "feedback": _l("Abuse or complaint report"),
        "vacation": _l("Out of office"),
        "bulk": _l("List or bulk mail"),
        "auto": _l("Other automatic mail"),
    },
}


#: The one way a moment is written on every page: weekday, day, month, (year,) 24-hour time,
#: in the order and words of the reader's language ("Tue, Sep 1, 2026, 13:26",
#: "uto, 1. sep 2026. 13:26", "1 Eyl 2026 Sal 13:26").
MOMENT_SKELETONS = {"full": "yMMMEd", "brief": "MMMEd"}


def moment(value: datetime, kind: str = "full") -> str:
    """A moment in the viewer's zone and language (see MOMENT_SKELETONS)."""
    locale = Locale.parse(str(get_locale() or "en"))
    zone = get_timezone()
    day = format_skeleton(MOMENT_SKELETONS[kind], value, tzinfo=zone, locale=locale)
    clock = format_skeleton("Hm", value, tzinfo=zone, locale=locale)
    return locale.datetime_formats["medium"].replace("{1}", day).replace("{0}", clock)


def label(value: object, kind: str) -> str:
    """The reader's word for a stored code; the code itself when we have no word for it."""
    if value is None:
        return ""
    key = str(value)
    text = LABELS.get(kind, {}).get(key)
    return str(text) if text is not None else key


def init_app(app: Flask) -> None:
    """Register the filters on the app's Jinja environment."""

    @app.template_filter("dt")
    def _dt(value: datetime | None, fmt: str = "full") -> str:
        """A moment in the viewer's zone and language: "full" (with the year) or "brief" (see
        MOMENT_SKELETONS); any other value is a Babel format or pattern."""
        if not value:
            return ""
        if fmt in MOMENT_SKELETONS:
            return moment(value, fmt)
        return format_datetime(value, fmt)

    @app.template_filter("d")
    def _d(value: date | datetime | None, fmt: str = "medium") -> str:
        """A calendar day as the viewer's language writes it."""
        return format_date(value, fmt) if value else ""

    @app.template_filter("month")
    def _month(period: str | None) -> str:
        """A billing period "YYYY-MM" as the month's name and year ("mart 2026")."""
        if not period:
            return ""
        year, month = (int(part) for part in period.split("-", 1))
        return format_date(date(year, month, 1), "LLLL y")

    @app.template_filter("hm")
    def _hm(minutes: int | None) -> str:
        """Minutes as H:MM (negative for minutes taken back)."""
        if minutes is None:
            return ""
        sign = "-" if minutes < 0 else ""
        m = abs(int(minutes))
        return f"{sign}{m // 60}:{m % 60:02d}"

    @app.template_filter("num")
    def _num(value: int | Decimal | str | None, fmt: str | None = None) -> str:
        """A number with the language's separators."""
        if value is None:
            return ""
        return format_decimal(Decimal(value) if isinstance(value, str) else value, fmt)

    @app.template_filter("money")
    def _money(amount: Decimal | str | None, currency: str | None = None) -> str:
        """An amount with its currency, as the viewer's language writes money."""
        if amount is None:
            return ""
        return format_currency(Decimal(amount), currency or app.config["CURRENCY"])

    @app.template_filter("data_label")
    def _data_label(value: object) -> str:
        """A stored add-on name or code in the reader's language when we have words for it."""
        if not value:
            return ""
        known = LABELS["addon"].get(str(value))
        return str(known) if known is not None else gettext(str(value))

    @app.template_filter("label")
    def _label(value: object, kind: str) -> str:
        """``{{ t.status|label('status') }}``: see LABELS."""
        return label(value, kind)
