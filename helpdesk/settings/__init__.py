"""Vendor settings stored in the database, read by the app; ``HELPDESK_*`` environment variables win.

The first visit to a helpdesk without an admin (or ``flask setup``) asks for these and the first
admin account; admins edit them later in /admin/settings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, available_timezones

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..config import ENV_PREFIX
from ..extensions import db
from .models import ClosingDay, Setting

__all__ = [
    "EDITABLE",
    "ClosingDay",
    "Setting",
    "SettingsError",
    "apply_settings",
    "locked_keys",
    "save_settings",
    "setting_value",
    "setup_needed",
    "validate_setting",
]


class SettingsError(ValueError):
    """A setting value is not acceptable; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SettingDef:
    key: str
    label: object


#: The settings an admin edits in the browser (config keys without the HELPDESK_ prefix).
EDITABLE: tuple[SettingDef, ...] = (
    SettingDef("VENDOR_NAME", _l("Vendor name")),
    SettingDef("VENDOR_EMAIL", _l("Support address")),
    SettingDef("TIMEZONE", _l("Time zone")),
    SettingDef("CURRENCY", _l("Currency")),
    SettingDef("HOLIDAY_COUNTRY", _l("Holiday country")),
    SettingDef("WORKDAY_START", _l("Working day starts")),
    SettingDef("WORKDAY_END", _l("Working day ends")),
    SettingDef("VENDOR_LOGO", _l("Logo")),
)
KEYS = tuple(d.key for d in EDITABLE)
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def locked_keys() -> set[str]:
    """Settings given as environment variables: shown read-only, never overridden."""
    return {k for k in KEYS if f"{ENV_PREFIX}_{k}" in os.environ}


def validate_setting(key: str, value: str | None) -> str | None:
    """The cleaned value, or raise :class:`SettingsError`."""
    from ..clients.validate import EmailError, clean_email

    value = (value or "").strip()
    field = key.lower()
    if key == "VENDOR_LOGO":
        return value or None
    if not value:
        raise SettingsError(field, str(_l("Please fill this in.")))
    if key == "VENDOR_NAME" and len(value) > 200:
        raise SettingsError(field, str(_l("At most 200 characters.")))
    if key == "VENDOR_EMAIL":
        try:
            return clean_email(value)
        except EmailError as exc:
            raise SettingsError(field, str(exc)) from None
    if key == "TIMEZONE" and value not in available_timezones():
        raise SettingsError(field, str(_l("Not a time zone: %(tz)s (e.g. Europe/Belgrade).",
                                          tz=value)))
    if key == "CURRENCY":
        value = value.upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise SettingsError(field, str(_l("A three-letter currency code, e.g. EUR.")))
    if key == "HOLIDAY_COUNTRY":
        value = value.upper()
        from ..clients.validate import check_country

        msg = check_country(value)
        if msg:
            raise SettingsError(field, msg)
    if key in ("WORKDAY_START", "WORKDAY_END") and not _HHMM.match(value):
        raise SettingsError(field, str(_l("A time as HH:MM, e.g. 08:00.")))
    return value


def _check_hours(values: dict[str, str | None]) -> None:
    start, end = values.get("WORKDAY_START"), values.get("WORKDAY_END")
    if start and end and time.fromisoformat(start) >= time.fromisoformat(end):
        raise SettingsError("workday_end", str(_l("The working day must end after it starts.")))


def stored() -> dict[str, str | None]:
    return {s.key: s.value for s in db.session.scalars(select(Setting))}


def setting_value(key: str) -> str | None:
    return current_app.config.get(key)


def save_settings(values: dict[str, str | None], *, user=None) -> dict[str, str | None]:
    """Validate all values, then store them (flush, no commit); audit each change."""
    cleaned = {}
    for key, raw in values.items():
        if key not in KEYS or key in locked_keys():
            continue
        cleaned[key] = validate_setting(key, raw)
    merged = {k: current_app.config.get(k) for k in ("WORKDAY_START", "WORKDAY_END")}
    merged.update({k: v for k, v in cleaned.items() if v is not None})
    _check_hours(merged)
    for key, value in cleaned.items():
        row = db.session.get(Setting, key)
        before = row.value if row else None
        if row is None:
            row = Setting(key=key)
            db.session.add(row)
        if before == value and row.updated_at is not None:
            continue
        row.value = value
        row.updated_by_id = getattr(user, "id", None)
        db.session.flush()
        _audit_setting(row, before, value, user)
    apply_settings(current_app, reload=True)
    return cleaned


def _audit_setting(row: Setting, before, after, user) -> None:
    from ..models import AuditLog

    db.session.add(AuditLog(user_id=getattr(user, "id", None), actor="user" if user else "system",
                            entity_type="settings", entity_id=0, action="update",
                            before={row.key: before}, after={row.key: after}))


def apply_settings(app: Flask, *, reload: bool = False) -> None:
    """Copy stored settings into ``app.config`` unless the environment sets them."""
    locked = locked_keys()
    try:
        values = stored()
    except Exception:  # noqa: BLE001 - no table yet (before `flask db upgrade`): keep defaults
        db.session.rollback()
        return
    defaults = app.extensions.setdefault("helpdesk_setting_defaults",
                                         {k: app.config.get(k) for k in KEYS})
    for key in KEYS:
        if key in locked:
            continue
        if key in values and values[key] is not None:
            app.config[key] = values[key]
        else:
            app.config[key] = defaults.get(key)
    if "TIMEZONE" in values and "TIMEZONE" not in locked and values["TIMEZONE"]:
        app.config["BABEL_DEFAULT_TIMEZONE"] = values["TIMEZONE"]


def setup_needed() -> bool:
    """True while the helpdesk has no active admin (the first run)."""
    from ..models import Role, User

    try:
        return db.session.scalar(
            select(User.id).where(User.role == Role.ADMIN, User.active.is_(True)).limit(1)
        ) is None
    except Exception:  # noqa: BLE001 - no schema yet
        db.session.rollback()
        return False


def closing_days(country: str | None) -> frozenset:
    """Extra closing days for a holiday country (and those for every country)."""
    rows = db.session.scalars(
        select(ClosingDay.day).where((ClosingDay.country.is_(None)) | (ClosingDay.country == country))
    )
    return frozenset(rows)


def zone_ok(tz: str) -> bool:
    try:
        ZoneInfo(tz)
    except Exception:  # noqa: BLE001
        return False
    return True


def now_local() -> datetime:
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"]))
