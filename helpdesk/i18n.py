"""Languages: English, Serbian (Latin) and Turkish, chosen per user, else per client, else browser.

Order of choice: the language picked with the switcher in this session, else the one stored on the
user, else the client company's, else the browser's Accept-Language, else English. The switcher
(``POST /language``) stores the choice in the session and, for a signed-in user, on the user.
"""

from __future__ import annotations

import logging
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, has_request_context, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext, refresh
from flask_login import current_user, user_logged_out

from .extensions import babel, db, login_manager

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
LANGUAGE_NAMES = {"en": "English", "sr_Latn": "Srpski", "tr": "Türkçe"}
SESSION_KEY = "language"

bp = Blueprint("i18n", __name__)


def N_(message: str) -> str:
    """Mark a message for extraction where it must stay untranslated until used."""
    return message


def _supported(code: str | None) -> str | None:
    return code if code in LANGUAGE_NAMES else None


def browser_language() -> str | None:
    """The browser's preferred language among ours ("sr", "sr-Latn-RS" → sr_Latn)."""
    best = request.accept_languages.best_match(["en", "sr", "sr-Latn", "tr"])
    if best is None:
        return None
    return "sr_Latn" if best.startswith("sr") else best


def select_locale() -> str:
    """Flask-Babel's locale selector (see the module docstring for the order)."""
    if not has_request_context():
        # Jobs and CLI commands: mail code chooses with force_locale; otherwise the default.
        from flask import current_app

        return current_app.config.get("DEFAULT_LANGUAGE", "en")
    chosen = _supported(session.get(SESSION_KEY))
    if chosen:
        return chosen
    user = current_user
    if getattr(user, "is_authenticated", False):
        if _supported(user.language):
            return user.language
        client = getattr(user, "client", None)
        if client is not None and _supported(client.language):
            return client.language
    return browser_language() or "en"


def select_timezone() -> str | None:
    """The user's zone, else the client company's; None falls back to BABEL_DEFAULT_TIMEZONE."""
    if not has_request_context():
        return None
    user = current_user
    if getattr(user, "is_authenticated", False):
        if user.timezone:
            return user.timezone
        client = getattr(user, "client", None)
        if client is not None:
            return client.timezone
    return None


def language_for(user) -> str:
    """The language to write to ``user`` in (mail sent outside their request)."""
    if user is not None:
        if _supported(getattr(user, "language", None)):
            return user.language
        client = getattr(user, "client", None)
        if client is not None and _supported(client.language):
            return client.language
    return "en"


def _safe_local_path(target: str | None) -> str | None:
    """Only a path on this site: never redirect elsewhere after switching."""
    from .hardening.redirects import safe_next

    return safe_next(target)


@bp.post("/language")
def set_language() -> ResponseReturnValue:
    """The language switcher: remember the choice in the session and on the signed-in user."""
    code = _supported(request.form.get("language"))
    if code:
        session[SESSION_KEY] = code
        if current_user.is_authenticated and current_user.language != code:
            current_user.language = code
            db.session.commit()
    return redirect(_safe_local_path(request.form.get("next")) or url_for("index"))


@user_logged_out.connect
def _forget_choice(_sender, **_extra) -> None:
    """The next person on this browser starts from their own preference, not ours."""
    session.pop(SESSION_KEY, None)


def compile_catalogs(directory: Path = TRANSLATIONS_DIR, domain: str = DOMAIN) -> list[Path]:
    """Compile each ``.po`` whose ``.mo`` is missing or older (what `pybabel compile` does)."""
    written = []
    for po_path in sorted(directory.glob(f"*/LC_MESSAGES/{domain}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name)
        tmp = mo_path.with_suffix(".mo.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo_path)
        written.append(mo_path)
    return written


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our selectors, the switcher route and template globals."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.register_blueprint(bp)
    # Flask-Babel keeps the chosen locale in ``g``; a request that shares an app context with
    # earlier ones (the test client inside a test's context) must choose again.
    app.before_request(refresh)

    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    # Flask-Login flashes this when a page needs a login; translate it at flash time.
    login_manager.login_message = N_("Please sign in to see this page.")
    login_manager.localize_callback = gettext

    if not any((TRANSLATIONS_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.mo").exists()
               for code in LANGUAGE_NAMES if code != "en"):
        log.warning("no compiled catalogs in %s: run `make translations`", TRANSLATIONS_DIR)
