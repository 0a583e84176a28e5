"""Every string translated and every date in the reader's locale on existing pages: contract and
visit statuses, the job list, merge and package-change errors, ticket page dates, form messages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale

from helpdesk.contracts.changes import ContractChangeError, change_package
from helpdesk.extensions import db
from helpdesk.models import JobRun, Role, Visit
from helpdesk.tickets.merge import MergeError, check_mergeable
from helpdesk.tickets.services import add_article, create_ticket
from helpdesk.web.admin.schedule_words import schedule_words
from tests.conftest import csrf_token_from


def _language(client, code: str, page: str = "/login") -> None:
    token = csrf_token_from(client.get(page, follow_redirects=True).get_data(as_text=True))
    client.post("/language", data={"language": code, "csrf_token": token})


@pytest.fixture
def agent(factory, auth):
    user = factory.user(Role.AGENT, name="Ana Agent")
    db.session.commit()
    auth.login(user.email)
    return user


@pytest.fixture
def shop(factory):
    c = factory.client("Dunav d.o.o.")
    contract = factory.contract(c, "standard", start=date(2026, 1, 1))
    db.session.add(Visit(client_id=c.id, contract_id=contract.id,
                         contract_year_start=date(2026, 1, 1), planned_date=date(2026, 12, 3),
                         status="confirmed"))
    db.session.commit()
    return c


# -- statuses as words ----------------------------------------------------------------------------


@pytest.mark.parametrize("language,contract_word,visit_word,day", [
    ("en", "Active", "Confirmed", "Dec 3, 2026"),
    ("sr_Latn", "Aktivan", "Potvrđena", "3. 12. 2026."),
    ("tr", "Etkin", "Onaylandı", "3 Ara 2026"),
])
def test_console_client_page_shows_status_words_and_local_dates(
    client, agent, shop, language, contract_word, visit_word, day
):
    _language(client, language, "/console/")
    html = client.get(f"/console/clients/{shop.id}").get_data(as_text=True)
    contract = html.split('id="contract"', 1)[1].split("</section>", 1)[0]
    assert f">{contract_word}</span>" in contract and ">active<" not in contract
    assert f">{visit_word}<" in html and ">confirmed<" not in html
    assert day in html and "2026-12-03" not in html


@pytest.mark.parametrize("language,visit_word", [("sr_Latn", "Potvrđena"), ("tr", "Onaylandı")])
def test_visit_lists_show_status_words(client, agent, shop, language, visit_word):
    _language(client, language, "/console/")
    visit = db.session.query(Visit).filter_by(client_id=shop.id).one()
    for path in ("/console/visits", f"/console/clients/{shop.id}/visits",
                 f"/console/visits/{visit.id}"):
        html = client.get(path).get_data(as_text=True)
        assert visit_word in html and ">confirmed<" not in html, path


# -- the job list -----------------------------------------------------------------------------------


@pytest.mark.parametrize("language,text,expected", [
    ("en", "every 1 minutes", "every minute"),
    ("en", "every 15 minutes", "every 15 minutes"),
    ("en", "every 2 hours", "every 2 hours"),
    ("en", "daily 02:00", "every day at 02:00"),
    ("en", "monthly 1 06:00", "every month on day 1 at 06:00"),
    ("sr_Latn", "every 1 minutes", "na 1 minut"),
    ("sr_Latn", "every 3 minutes", "na 3 minuta"),
    ("sr_Latn", "every 5 minutes", "na 5 minuta"),
    ("sr_Latn", "every 21 minutes", "na 21 minut"),
    ("sr_Latn", "every 2 hours", "na 2 sata"),
    ("sr_Latn", "daily 02:00", "svakog dana u 02:00"),
    ("tr", "every 1 minutes", "1 dakikada bir"),
    ("tr", "every 10 minutes", "10 dakikada bir"),
    ("tr", "monthly 1 06:00", "her ayın 1. günü 06:00"),
    ("tr", "after month_close", "month_close işinden sonra"),
])
def test_schedule_words_are_plural_correct(app, language, text, expected):
    with app.test_request_context(), force_locale(language):
        assert schedule_words(text) == expected


@pytest.mark.parametrize("language,phrase,outcome,date_re", [
    ("sr_Latn", "na 1 minut", "u redu", r"\w{3}, \d{1,2}\. \w{3} 20\d\d\. \d\d:\d\d"),
    ("tr", "1 dakikada bir", "tamam", r"\d{1,2} \w{3} 20\d\d \w{3} \d\d:\d\d"),
])
def test_job_list_in_serbian_and_turkish(client, factory, auth, language, phrase, outcome, date_re):
    admin = factory.user(Role.ADMIN)
    now = datetime.now(UTC).replace(microsecond=0)
    db.session.add(JobRun(job="mail_ingest", scheduled_for=now - timedelta(minutes=1),
                          started_at=now - timedelta(minutes=1), finished_at=now,
                          outcome="ok", summary="fetched 0"))
    db.session.commit()
    auth.login(admin.email)
    _language(client, language, "/admin/")
    html = client.get("/admin/jobs").get_data(as_text=True)
    row = html.split('data-job="mail_ingest"', 1)[1].split("</tr>", 1)[0]
    assert f'class="schedule">{phrase}</td>' in row
    assert "every 1 minutes" not in html and "Fetch new mail" not in html
    assert re.search(rf"<time[^>]*>{date_re}</time>", row), row
    assert not re.search(r"\d{1,2}/\d{1,2}/\d\d, \d{1,2}:\d\d [AP]M", html)
    assert f">{outcome}</span>" in html


# -- merge and package-change errors ----------------------------------------------------------


def test_merge_error_in_turkish_on_the_ticket_page(client, agent, shop, factory):
    other = factory.client("Other")
    mine = create_ticket(subject="Mine", client_id=shop.id)
    theirs = create_ticket(subject="Theirs", client_id=other.id)
    db.session.commit()
    _language(client, "tr", "/console/")
    url = f"/console/tickets/{mine.number}"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    resp = client.post(f"{url}/merge", data={"merge-target": theirs.number,
                                             "merge-csrf_token": token, "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "Talepler farklı müşterilere ait." in html
    with force_locale("en"), pytest.raises(MergeError, match="different clients"):
        check_mergeable(mine, theirs)


def test_package_change_errors_follow_the_language(app, factory, shop):
    contract = shop.contracts[0] if hasattr(shop, "contracts") else None
    from helpdesk.models import Contract

    contract = contract or db.session.query(Contract).filter_by(client_id=shop.id).one()
    with app.test_request_context():
        with force_locale("sr_Latn"), pytest.raises(ContractChangeError) as caught:
            change_package(contract, factory.package("basic"), upgrade=True,
                           requested_on=date(2026, 2, 10))
        with force_locale("sr_Latn"):
            assert str(caught.value) == "Basic nije veći od Standard: to je smanjenje paketa."
        with force_locale("tr"):
            assert str(caught.value) == ("Basic, Standard paketinden büyük değil: "
                                         "bu bir paket düşürme.")
        contract.end_date = date(2026, 3, 31)
        with force_locale("tr"), pytest.raises(ContractChangeError) as caught:
            change_package(contract, factory.package("extended"), upgrade=True,
                           requested_on=date(2026, 4, 10))
        with force_locale("tr"):
            assert str(caught.value) == ("Sözleşme 10 Nis 2026 tarihinden önce, 31 Mar 2026 "
                                         "tarihinde bitiyor.")


# -- dates on the ticket page -----------------------------------------------------------------------


@pytest.mark.parametrize("language,pattern", [
    ("en", r"\w{3}, \w{3} \d{1,2}, 20\d\d, \d\d:\d\d"),
    ("sr_Latn", r"\w{3}, \d{1,2}\. \w{3} 20\d\d\. \d\d:\d\d"),
    ("tr", r"\d{1,2} \w{3} 20\d\d \w{3} \d\d:\d\d"),
])
def test_ticket_page_writes_every_moment_the_same_way(client, agent, shop, language, pattern):
    t = create_ticket(subject="Dates", client_id=shop.id,
                      created_at=datetime(2026, 9, 1, 11, 26, tzinfo=UTC))
    add_article(t, direction="in", body_text="hello", created_at=datetime(2026, 9, 1, 11, 26,
                                                                           tzinfo=UTC))
    db.session.commit()
    _language(client, language, "/console/")
    html = client.get(f"/console/tickets/{t.number}").get_data(as_text=True)
    shown = re.findall(r'<time[^>]*datetime="20[^"]*"[^>]*>([^<]+)</time>', html)
    assert len(shown) >= 3
    for text in shown:
        assert re.fullmatch(pattern, text) or re.fullmatch(r"\w{3},? \S+ \S+ \d\d:\d\d", text) \
            or re.fullmatch(r"\d{1,2} \w{3} \w{3} \d\d:\d\d", text), text
    assert not re.search(r"\d{1,2}/\d{1,2}/\d\d, \d{1,2}:\d\d [AP]M", html)


def test_turkish_date_format_of_the_opened_time(client, agent, shop):
    t = create_ticket(subject="Dates", client_id=shop.id,
                      created_at=datetime(2026, 9, 1, 11, 26, tzinfo=UTC))
    db.session.commit()
    _language(client, "tr", "/console/")
    html = client.get(f"/console/tickets/{t.number}").get_data(as_text=True)
    # 11:26 UTC is 13:26 in Belgrade; Turkish writes day, month, year, weekday.
    assert ">1 Eyl 2026 Sal 13:26</time>" in html


# -- form messages say what is wrong ----------------------------------------------------------------


def _ticket_post(client, ticket, path: str, data: dict):
    url = f"/console/tickets/{ticket.number}"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(f"{url}{path}", data={**data, "csrf_token": token, **{
        k.split("-")[0] + "-csrf_token": token for k in data if "-" in k}})


@pytest.mark.parametrize("language,zero,empty", [
    ("en", "From 1 to 480 minutes.", "Enter the minutes."),
    ("sr_Latn", "Od 1 do 480 minuta.", "Upišite minute."),
    ("tr", "1 ile 480 dakika arası.", "Dakikayı girin."),
])
def test_zero_minutes_says_the_minutes_must_be_at_least_one(client, agent, shop, language, zero,
                                                            empty):
    t = create_ticket(subject="Call", client_id=shop.id)
    db.session.commit()
    _language(client, language, "/console/")
    resp = _ticket_post(client, t, "/time/call", {
        "call-started_at": "2026-03-03T10:00", "call-minutes": "0"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(rf'id="call-minutes-error"[^>]*>{re.escape(zero)}<', html), html[-3000:]
    assert "This field is required" not in html
    resp = _ticket_post(client, t, "/time/call", {
        "call-started_at": "2026-03-03T10:00", "call-minutes": ""})
    assert re.search(rf'id="call-minutes-error"[^>]*>{re.escape(empty)}<',
                     resp.get_data(as_text=True))


def test_merge_into_ticket_zero_names_the_rule(client, agent, shop):
    t = create_ticket(subject="Merge", client_id=shop.id)
    db.session.commit()
    html = _ticket_post(client, t, "/merge", {"merge-target": "0"}).get_data(as_text=True)
    assert "A ticket number is 1 or more." in html


def test_portal_empty_ticket_form_says_what_is_missing(client, auth, factory, shop):
    user = factory.user(Role.CLIENT, client=shop, portal_role="member")
    db.session.commit()
    auth.login(user.email)
    _language(client, "sr_Latn", "/portal/")
    token = csrf_token_from(client.get("/portal/tickets/new").get_data(as_text=True))
    html = client.post("/portal/tickets/new", data={"subject": "", "body": "", "csrf_token": token}) \
        .get_data(as_text=True)
    assert "Upišite naslov." in html and "Opišite šta se desilo." in html
