"""Report language: gettext catalogs and Babel formatting of minutes, money, dates and percents."""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_percent, get_currency_symbol
from babel.support import Translations

#: Where the .po sources live and `pybabel compile -d ... -D reports` writes the .mo files.
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "reports"

#: Babel locale used for formatting per client language (English follows British usage).
LOCALES = {"en": "en_GB", "sr": "sr_Latn_RS", "tr": "tr_TR"}

#: Catalog directory per client language; English is the source language and needs none.
CATALOGS: dict[str, str | None] = {"en": None, "sr": "sr_Latn", "tr": "tr"}

_NBSP = "\u00a0"


class CatalogMissingError(RuntimeError):
    """A language's compiled catalog is absent: printing English instead would go unnoticed."""


@cache
def load_translations(language: str) -> gettext.NullTranslations:
    """Compiled catalog for a client language, loaded once per process."""
    if language not in CATALOGS:
        raise ValueError(f"unsupported report language {language!r}")
    catalog = CATALOGS[language]
    if catalog is None:
        return gettext.NullTranslations()
    mo_path = TRANSLATIONS_DIR / catalog / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not mo_path.is_file():
        raise CatalogMissingError(
            f"{mo_path} is missing; run `pybabel compile -d {TRANSLATIONS_DIR} -D {DOMAIN}`"
        )
    translations = Translations.load(TRANSLATIONS_DIR, locales=[catalog], domain=DOMAIN)
    if not isinstance(translations, Translations):
        raise CatalogMissingError(f"{mo_path} could not be loaded")
    return translations


@dataclass(frozen=True)
class ReportFormatter:
    """Translates and formats everything a report prints, for one language."""

    language: str
    locale: Locale
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        """The message in the report's language."""
        return self.translations.gettext(message)

    def minutes(self, minutes: int) -> str:
        """A duration as hours and minutes, e.g. 754 -> "12:34", -90 -> "-1:30"."""
        sign = self.locale.number_symbols["latn"]["minusSign"] if minutes < 0 else ""
        hours, rest = divmod(abs(minutes), 60)
        return f"{sign}{hours}:{rest:02d}"

    def money(self, amount: Decimal, currency: str) -> str:
        """An amount with its currency, two decimals, as the language writes money."""
        text = format_currency(amount, currency, locale=self.locale, currency_digits=False)
        return _space_alphabetic_symbol(text, get_currency_symbol(currency, locale=self.locale))

    def percent(self, pct: Decimal) -> str:
        """A percentage given as 0-100, to one decimal place when it has one ("%92,5" in Turkish)."""
        rounded = pct.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if rounded == rounded.to_integral_value():
            rounded = rounded.quantize(Decimal(1))
        return format_percent(rounded / 100, locale=self.locale, decimal_quantization=False)

    def month(self, year: int, month: int) -> str:
        """The month's name and year, e.g. "novembar 2026", "Kasım 2026"."""
        return format_date(date(year, month, 1), "LLLL y", locale=self.locale)

    def date(self, value: date) -> str:
        """A short date as the language writes it."""
        return format_date(value, "short", locale=self.locale)

    def long_date(self, value: date) -> str:
        """A date with the month abbreviated, for headings."""
        return format_date(value, "medium", locale=self.locale)

    def time(self, value: datetime) -> str:
        """A wall-clock time (hours and minutes) of an already localised datetime."""
        return format_time(value, "HH:mm", locale=self.locale)


def _space_alphabetic_symbol(text: str, symbol: str) -> str:
    """Keep a letter symbol like "RSD" from touching the digits (CLDR currency spacing)."""
    if not symbol.isalpha():
        return text
    start = text.find(symbol)
    if start < 0:
        return text
    end = start + len(symbol)
    if end < len(text) and text[end].isdigit():
        text = text[:end] + _NBSP + text[end:]
    if start > 0 and text[start - 1].isdigit():
        text = text[:start] + _NBSP + text[start:]
    return text


@cache
def formatter(language: str) -> ReportFormatter:
    """The formatter for a client language ("en", "sr" or "tr")."""
    if language not in LOCALES:
        raise ValueError(f"unsupported report language {language!r}")
    return ReportFormatter(
        language=language,
        locale=Locale.parse(LOCALES[language]),
        translations=load_translations(language),
    )
