"""Languages: English, Serbian (Latin) and Turkish, chosen per user, else per client, else browser."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_login import current_user

from .extensions import babel

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
LANGUAGE_NAMES = {"en": "English", "sr_Latn": "Srpski", "tr": "Türkçe"}


def select_locale() -> str:
    supported = list(LANGUAGE_NAMES)
    chosen = session.get("language")
    if chosen in supported:
        return chosen
    user = current_user
    if getattr(user, "is_authenticated", False):
        if user.language in supported:
            return user.language
        client = getattr(user, "client", None)
        if client is not None and client.language in supported:
            return client.language
    # Browsers say "sr" or "sr-Latn-RS"; map them onto our catalog names.
    best = request.accept_languages.best_match(["en", "sr", "sr-Latn", "tr"])
    if best and best.startswith("sr"):
        return "sr_Latn"
    return best or "en"


def select_timezone() -> str | None:
    user = current_user
    if getattr(user, "is_authenticated", False):
        if user.timezone:
            return user.timezone
        client = getattr(user, "client", None)
        if client is not None:
            return client.timezone
    return None


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)

    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
