"""Three languages: every message of the code and templates is translated into Serbian (Latin) and
Turkish, the main pages render in each language, and the language is chosen per user, then per
client, then per browser."""

from __future__ import annotations

import html as html_lib
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select

from helpdesk import i18n
from helpdesk.extensions import babel, db
from helpdesk.models import PortalRole, Role, User, Visit
from helpdesk.tickets.services import add_article, create_ticket
from helpdesk.web.filters import LABELS

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("sr_Latn", "tr")
#: What scripts/update_translations.sh passes to `pybabel extract -k`.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}


def _extracted() -> dict[tuple[str | None, str], list[str]]:
    """Every message (context, msgid) in the code and templates babel.cfg names, and where."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    found: dict = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault((context, msgid), []).append(f"{filename}:{lineno}")
    return found


def _catalog(language: str) -> Catalog:
    path = i18n.TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=language)


@pytest.fixture(scope="module")
def extracted():
    messages = _extracted()
    assert len(messages) > 100, "extraction found (almost) nothing: is babel.cfg right?"
    return messages


@pytest.fixture
def compiled(app):
    """Catalogs compiled from the .po files, and Flask-Babel's cache emptied."""
    i18n.compile_catalogs()
    babel.domain_instance.cache.clear()
    yield


# -- the catalogs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(extracted, language):
    catalog = _catalog(language)
    problems = []
    for (context, msgid), where in sorted(extracted.items(), key=str):
        message = catalog.get(msgid, context=context)
        if message is None:
            problems.append(f"missing  {msgid!r}  ({where[0]})")
        elif message.fuzzy:
            problems.append(f"fuzzy    {msgid!r}  ({where[0]})")
        elif not all(message.string if isinstance(message.string, tuple)
                     else (message.string,)):
            problems.append(f"empty    {msgid!r}  ({where[0]})")
    assert not problems, (
        f"{len(problems)} untranslated in {language}: run scripts/update_translations.sh and "
        "translate them\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_the_placeholders(language):
    catalog = _catalog(language)
    errors = [f"{message.id!r}: {', '.join(map(str, errs))}"
              for message, errs in catalog.check() if errs]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_forms_match_the_language(language):
    catalog = _catalog(language)
    expected = {"sr_Latn": 3, "tr": 1}[language]
    assert catalog.num_plurals == expected
    for message in catalog:
        if message.pluralizable and message.id:
            assert len(message.string) == expected, message.id


def test_compile_writes_a_mo_per_language(tmp_path):
    for language in LANGUAGES:
        target = tmp_path / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        source = i18n.TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
        (target / "messages.po").write_bytes(source.read_bytes())
    written = i18n.compile_catalogs(tmp_path)
    assert sorted(p.parent.parent.name for p in written) == sorted(LANGUAGES)
    assert i18n.compile_catalogs(tmp_path) == []  # up to date: nothing to do


# -- the pages in three languages ------------------------------------------------------------


#: A phrase of the portal's navigation per language: proof the catalog was used.
NAV = {"en": "Our tickets", "sr_Latn": "Naši tiketi", "tr": "Taleplerimiz"}
CONSOLE = {"en": "Queue", "sr_Latn": "Red tiketa", "tr": "Kuyruk"}
HTML_LANG = {"en": "en", "sr_Latn": "sr-Latn", "tr": "tr"}


@pytest.fixture
def world(factory):
    """A client with a contract, users of every kind, a ticket with messages, a visit."""
    c = factory.client("Jugodrvo d.o.o.", language="en", timezone="Europe/Belgrade")
    contract = factory.contract(c, "standard", start=date.today() - timedelta(days=300),
                                end=date.today() + timedelta(days=65), addons=("cloud_backup",))
    contract.renewal_date = contract.end_date + timedelta(days=1)
    admin = factory.user(Role.CLIENT, client=c, portal_role=PortalRole.ADMIN,
                         email="dragan@jugodrvo.test", language=None)
    agent = factory.user(Role.AGENT, email="marko@vendor.test", language=None)
    staff_admin = factory.user(Role.ADMIN, email="ana@vendor.test", language=None)
    factory.contact(c, email="dragan@jugodrvo.test")
    t = create_ticket(subject="Štampač ne radi", client_id=c.id, opened_by=admin)
    add_article(t, direction="in", channel="portal", body_text="Ne štampa.", author=admin)
    add_article(t, direction="out", body_text="Gledamo.", author=agent)
    db.session.add(Visit(client_id=c.id, contract_id=contract.id,
                         contract_year_start=contract.start_date, sequence=1,
                         planned_date=date.today() + timedelta(days=9), status="confirmed"))
    db.session.commit()
    return {"client": c, "admin": admin, "agent": agent, "staff_admin": staff_admin,
            "ticket": t}


def _visible_text(page: str) -> str:
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    # Attribute text people read too (labels for screen readers, placeholders, titles).
    attrs = " ".join(re.findall(r'(?:aria-label|placeholder|title)="([^"]*)"', page))
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page) + " " + attrs)


#: Names stored in the database (add-ons): data, which a page may show as it was entered.
DATA_NAMES = {str(name) for name in LABELS["addon"].values()}


def _untranslated(text: str, catalog: Catalog) -> list[str]:
    """Catalog messages left in English on the page (long enough not to be a shared word)."""
    left = []
    for message in catalog:
        if not message.id or message.pluralizable or "%(" in message.id:
            continue
        if message.id in DATA_NAMES:
            continue
        if len(message.id) < 12 or message.string == message.id:
            continue
        if message.id in text:
            left.append(message.id)
    return left


def _choose(client, auth, language: str) -> None:
    token = auth.csrf("/login")
    r = client.post("/language", data={"language": language, "next": "/",
                                       "csrf_token": token})
    assert r.status_code == 302


PORTAL_PAGES = ["/portal/", "/portal/?status=all", "/portal/tickets/new", "/portal/hours",
                "/portal/contract", "/portal/users", "{ticket}"]
CONSOLE_PAGES = ["/console/", "/console/clients", "/console/clients/{client_id}",
                 "/console/tickets/{number}"]


@pytest.mark.parametrize("language", ["en", "sr_Latn", "tr"])
def test_main_pages_render_in_each_language(client, auth, compiled, world, language):
    catalogs = {lang: _catalog(lang) for lang in LANGUAGES}
    t, c = world["ticket"], world["client"]

    def check(url: str, phrase: str) -> None:
        r = client.get(url)
        assert r.status_code == 200, url
        page = r.get_data(as_text=True)
        assert f'<html lang="{HTML_LANG[language]}"' in page, url
        assert phrase in page, (url, phrase)
        if language != "en":
            left = _untranslated(_visible_text(page), catalogs[language])
            assert not left, (url, left)

    _choose(client, auth, language)
    for url in ("/login", "/reset"):
        check(url, {"en": "Sign in", "sr_Latn": "Prijava", "tr": "Giriş yap"}[language]
              if url == "/login" else
              {"en": "Forgot your password?", "sr_Latn": "Zaboravili ste lozinku?",
               "tr": "Parolanızı mı unuttunuz?"}[language])
    auth.login(world["admin"].email)
    _choose(client, auth, language)
    for url in PORTAL_PAGES:
        check(url.format(ticket=f"/portal/tickets/{t.number}"), NAV[language])
    auth.logout()
    for who in ("agent", "staff_admin"):
        auth.login(world[who].email)
        _choose(client, auth, language)
        for url in CONSOLE_PAGES:
            check(url.format(client_id=c.id, number=t.number), CONSOLE[language])
        auth.logout()


def test_dates_numbers_and_money_follow_the_language(client, auth, compiled, world):
    c = world["client"]
    contract = c.contracts[0]
    contract.renewal_date = date(2027, 6, 1)
    contract.monthly_fee = None
    db.session.commit()
    auth.login(world["admin"].email)
    expected = {
        "en": ("Jun 1, 2027", "€120.00"),
        "sr_Latn": ("1. 6. 2027.", "120,00\xa0€"),
        "tr": ("1 Haz 2027", "€120,00"),
    }
    for language, (day, fee) in expected.items():
        _choose(client, auth, language)
        page = html_lib.unescape(client.get("/portal/contract").get_data(as_text=True))
        assert day in page, (language, day)
        assert fee in page, (language, fee)


def test_form_errors_are_translated_too(client, auth, compiled):
    _choose(client, auth, "sr_Latn")
    r = client.post("/login", data={"email": "", "password": "",
                                    "csrf_token": auth.csrf("/login")})
    page = r.get_data(as_text=True)
    assert "Ovo polje je obavezno." in page  # WTForms' own catalog, in Serbian
    _choose(client, auth, "tr")
    r = client.post("/login", data={"email": "x@y.test", "password": "nope",
                                    "csrf_token": auth.csrf("/login")})
    assert "E-posta veya parola yanlış." in r.get_data(as_text=True)


# -- choosing the language ------------------------------------------------------------------------


def test_anonymous_visitor_gets_the_browsers_language(client, compiled):
    for header, lang in [("sr-Latn-RS,sr;q=0.9,en;q=0.5", "sr-Latn"), ("sr", "sr-Latn"),
                         ("tr-TR,tr;q=0.9", "tr"), ("de-DE,de;q=0.9", "en"),
                         ("de,en-GB;q=0.7", "en")]:
        page = client.get("/login", headers={"Accept-Language": header}).get_data(as_text=True)
        assert f'<html lang="{lang}"' in page, header


def test_user_choice_then_client_language_then_browser(client, auth, compiled, factory):
    tr_client = factory.client("Anadolu A.Ş.", language="tr")
    user = factory.user(Role.CLIENT, client=tr_client, language=None, email="sukru@anadolu.test")
    db.session.commit()
    browser = {"Accept-Language": "sr-Latn-RS"}
    auth.login(user.email)
    # No choice of the user's own: the company's language wins over the browser's.
    page = client.get("/portal/", headers=browser).get_data(as_text=True)
    assert '<html lang="tr"' in page
    # The switcher stores the user's choice, on the user too.
    token = auth.csrf("/portal/")
    r = client.post("/language", data={"language": "en", "next": "/portal/?status=all",
                                       "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/portal/?status=all")
    assert db.session.get(User, user.id).language == "en"
    assert '<html lang="en"' in client.get("/portal/", headers=browser).get_data(as_text=True)
    auth.logout()
    # Signing out forgets the session's choice; signing in again brings the user's back.
    assert '<html lang="sr-Latn"' in client.get("/login", headers=browser).get_data(as_text=True)
    auth.login(user.email)
    assert '<html lang="en"' in client.get("/portal/", headers=browser).get_data(as_text=True)


def test_switcher_refuses_unknown_languages_and_foreign_redirects(client, auth, compiled):
    token = auth.csrf("/login")
    r = client.post("/language", data={"language": "xx", "next": "//evil.example/",
                                       "csrf_token": token})
    assert r.status_code == 302 and "evil.example" not in r.headers["Location"]
    page = client.get("/login", headers={"Accept-Language": "tr"}).get_data(as_text=True)
    assert '<html lang="tr"' in page  # nothing stored
    assert client.post("/language", data={"language": "tr"}).status_code == 400  # no CSRF


def test_mail_is_written_in_the_recipients_language(app, compiled, factory):
    from helpdesk.auth import accounts as portal_accounts

    tr_client = factory.client("Anadolu A.Ş.", language="tr")
    user = factory.user(Role.CLIENT, client=tr_client, language=None, name="Şükrü",
                        email="sukru@anadolu.test")
    sr_user = factory.user(Role.AGENT, language="sr_Latn", name="Marko", email="m@v.test")
    db.session.commit()
    with app.test_request_context(headers={"Accept-Language": "en"}):
        tr_mail = portal_accounts.reset_message(user)
        sr_mail = portal_accounts.reset_message(sr_user)
    assert tr_mail.body.startswith("Merhaba Şükrü,")
    assert "parola" in tr_mail.subject.lower()
    assert sr_mail.body.startswith("Dobar dan, Marko,")
    assert "lozink" in sr_mail.subject


def test_month_names_follow_the_language(app, compiled):
    env = app.jinja_env
    with app.test_request_context():
        from flask import session

        for language, text in [("en", "March 2026"), ("sr_Latn", "mart 2026"),
                               ("tr", "Mart 2026")]:
            session["language"] = language
            from flask_babel import refresh

            refresh()
            assert env.from_string("{{ '2026-03'|month }}").render() == text


def test_demo_users_see_their_own_language(app, client, auth, compiled):
    from helpdesk.demo import DEMO_PASSWORD

    app.test_cli_runner().invoke(args=["demo"])
    for email, lang in [("dragan@jugodrvo.rs", "sr-Latn"),
                        ("sukru@anadolutekstil.com.tr", "tr"),
                        ("admin@helpdesk.example", "en")]:
        auth.login(email, DEMO_PASSWORD)
        user = db.session.scalar(select(User).where(User.email == email))
        home = "/portal/" if user.is_client_user else "/console/"
        page = client.get(home).get_data(as_text=True)
        assert f'<html lang="{lang}"' in page, email
        auth.logout()


def test_visible_text_helper_finds_english_left_behind():
    catalog = Catalog(locale="sr_Latn")
    catalog.add("Skip to content", "Pređi na sadržaj")
    page = '<a aria-label="Skip to content">x</a><p>Dobar dan</p>'
    assert _untranslated(_visible_text(page), catalog) == ["Skip to content"]
    assert _untranslated(_visible_text("<p>Pređi na sadržaj</p>"), catalog) == []
