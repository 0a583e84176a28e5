"""Checks shared by the forms, the CLI and the API: email, phone, domain, country, zone, language."""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from ..models import LANGUAGES

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()/.\-]{6,30}$")


class EmailError(ValueError):
    pass


def clean_email(value: str) -> str:
    """The address in lower case, or :class:`EmailError` with a sentence saying what is wrong."""
    raw = (value or "").strip()
    if not raw:
        raise EmailError(str(_l("Please give an email address.")))
    try:
        info = validate_email(raw, check_deliverability=False,
                              test_environment=True)
    except EmailNotValidError:
        raise EmailError(str(_l("Not a valid email address: %(value)s", value=raw))) from None
    return info.normalized.lower()


def clean_phone(value: str, country_code: str = "381") -> tuple[str, str]:
    """(as written, international digits) or ValueError with a sentence."""
    from ..accounting.importers.cdr import normalize_phone

    raw = (value or "").strip()
    digits = normalize_phone(raw, country_code) if raw else ""
    if not _PHONE_CHARS.match(raw) or not (8 <= len(digits) <= 15):
        raise ValueError(str(_l("Not a valid phone number: %(value)s (e.g. +381 11 123 4567).",
                                value=raw)))
    return raw, digits


def clean_domain(value: str) -> str:
    raw = (value or "").strip().lower().lstrip("@")
    raw = raw.removeprefix("www.")
    if not _DOMAIN.match(raw):
        raise ValueError(str(_l("Not a mail domain: %(value)s (e.g. acme.example).",
                                value=value.strip())))
    return raw


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    from babel import Locale

    return frozenset(code for code in Locale("en").territories if len(code) == 2 and code.isalpha())


def check_country(code: str) -> str | None:
    """None if ``code`` is a two-letter country code, else the message."""
    if code not in _countries():
        return str(_l("Not a two-letter country code: %(value)s (e.g. RS, TR).", value=code))
    return None


def check_timezone(tz: str) -> str | None:
    if tz not in available_timezones():
        return str(_l("Not a time zone: %(tz)s (e.g. Europe/Belgrade).", tz=tz))
    return None


def check_language(lang: str) -> str | None:
    if lang not in LANGUAGES:
        return str(_l("Not a language of the helpdesk: %(value)s (en, sr_Latn or tr).", value=lang))
    return None


class FieldError(ValueError):
    """Bad input for one field: ``field`` names it (form field / CLI option), ``message`` says why.

    ``confirm`` is set when the operation is allowed after the person confirms it.
    """

    def __init__(self, field: str, message: str, *, confirm: bool = False):
        super().__init__(message)
        self.field = field
        self.message = message
        self.confirm = confirm
