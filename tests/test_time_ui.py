"""Time in the console: the ticket's timer, phone calls and time by hand, editing rights, the
review page, corrections, package changes and the client's usage panel."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.usage import usage_json
from helpdesk.extensions import db
from helpdesk.models import ApiToken, Role, RunningTimer, TimeEntry
from helpdesk.tickets.services import create_ticket
from tests.conftest import csrf_token_from
from tests.worked_example import build_worked_example, local

BELGRADE = ZoneInfo("Europe/Belgrade")


@pytest.fixture
def setup(factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, name="Jelena")
    agent = factory.user(Role.AGENT, name="Marko")
    other_agent = factory.user(Role.AGENT, name="Ayse")
    admin = factory.user(Role.ADMIN, name="Ana")
    customer = factory.client("Acme d.o.o.", manager=manager)
    factory.contract(customer, "standard", start=date(2025, 1, 1))
    factory.contact(customer, email="ana@acme.rs", phone="064 123 4567",
                    normalized="381641234567")
    stranger = factory.client("Other Ltd")
    factory.contact(stranger, email="x@other.rs", phone="011 999 8888", normalized="381119998888")
    ticket = create_ticket(subject="VPN down", client_id=customer.id, actor="test")
    db.session.commit()
    return {"manager": manager, "agent": agent, "other_agent": other_agent, "admin": admin,
            "client": customer, "ticket": ticket}


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _post(client, path: str, data: dict, token_from: str):
    token = csrf_token_from(_page(client, token_from))
    return client.post(path, data={**data, "csrf_token": token,
                                   **{k.split("-")[0] + "-csrf_token": token
                                      for k in data if "-" in k}})


def _ticket_url(ticket) -> str:
    return f"/console/tickets/{ticket.number}"


def _entries() -> list[TimeEntry]:
    return list(db.session.scalars(select(TimeEntry).order_by(TimeEntry.id)))


def _local_input(moment: datetime) -> str:
    return moment.astimezone(BELGRADE).strftime("%Y-%m-%dT%H:%M")


# -- the timer -----------------------------------------------------------------------------------


def test_timer_survives_reload_and_logout_then_stops_into_an_entry(client, auth, setup):
    agent, ticket = setup["agent"], setup["ticket"]
    url = _ticket_url(ticket)
    auth.login(agent.email)
    page = _page(client, url)
    assert 'id="time"' in page and "Start remote session" in page
    response = _post(client, f"{url}/timer/start", {"timer-session_code": "654321"}, url)
    assert response.status_code == 302
    timer = db.session.scalar(select(RunningTimer))
    timer.started_at = datetime.now(UTC) - timedelta(minutes=47, seconds=5)
    db.session.commit()
    page = _page(client, url)
    assert "Remote session running" in page and "0:47:0" in page
    assert 'data-started="' in page and "654321" in page

    auth.logout()
    auth.login(agent.email)
    page = _page(client, url)
    assert "Remote session running" in page  # still there after a new login

    response = _post(client, f"{url}/timer/stop", {"stop-note": "Reinstalled the client"}, url)
    assert response.status_code == 302
    (entry,) = _entries()
    assert (entry.kind, entry.source, entry.external_ref) == ("remote", "timer", "654321")
    assert entry.minutes == 48 and entry.billable_minutes in (60, 75)  # 47-48 min, maybe ooh
    assert entry.agent_id == agent.id and entry.ticket_id == ticket.id
    assert db.session.scalar(select(RunningTimer)) is None
    page = _page(client, url)
    assert "Start remote session" in page and f'id="entry-{entry.id}"' in page


def test_timer_can_be_cancelled_without_time(client, auth, setup):
    url = _ticket_url(setup["ticket"])
    auth.login(setup["agent"].email)
    _post(client, f"{url}/timer/start", {"timer-note": "x"}, url)
    assert db.session.scalar(select(RunningTimer)) is not None
    _post(client, f"{url}/timer/cancel", {"cancel-submit": ""}, url)
    assert db.session.scalar(select(RunningTimer)) is None
    assert _entries() == []


# -- phone calls and time by hand ----------------------------------------------------------------


def test_phone_call_is_matched_to_the_contact_by_number(client, auth, setup):
    url = _ticket_url(setup["ticket"])
    auth.login(setup["agent"].email)
    start = local(2026, 3, 3, 10, 0)
    response = _post(client, f"{url}/time/call", {
        "call-caller": "+381 64 123-4567", "call-started_at": _local_input(start),
        "call-minutes": "7", "call-note": "password reset"}, url)
    assert response.status_code == 302
    (entry,) = _entries()
    assert (entry.kind, entry.minutes, entry.billable_minutes) == ("phone", 7, 15)
    assert entry.started_at == start
    assert "Contact Person (+381 64 123-4567)" in entry.note and "password reset" in entry.note


def test_phone_number_of_another_client_is_an_error_next_to_the_field(client, auth, setup):
    url = _ticket_url(setup["ticket"])
    auth.login(setup["agent"].email)
    response = _post(client, f"{url}/time/call", {
        "call-caller": "011/999-8888", "call-started_at": _local_input(local(2026, 3, 3, 10, 0)),
        "call-minutes": "5"}, url)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(r'id="call-caller-error"[^>]*>[^<]*another client', html)
    assert _entries() == []


def test_time_by_hand_with_errors_next_to_the_fields(client, auth, setup):
    url = _ticket_url(setup["ticket"])
    auth.login(setup["agent"].email)
    response = _post(client, f"{url}/time", {"time-kind": "email", "time-started_at": "",
                                             "time-minutes": "0"}, url)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="time-started_at-error"' in html and 'id="time-minutes-error"' in html
    assert "<details open>" in html  # the failed form is shown open
    response = _post(client, f"{url}/time", {
        "time-kind": "consulting", "time-started_at": _local_input(local(2026, 3, 4, 9, 0)),
        "time-minutes": "50", "time-note": "licence planning"}, url)
    assert response.status_code == 302
    (entry,) = _entries()
    assert (entry.kind, entry.billable_minutes, entry.note) == ("consulting", 60,
                                                              "licence planning")


def test_time_in_a_closed_month_is_refused_with_a_message(client, auth, setup):
    close_month("2026-02")
    db.session.commit()
    url = _ticket_url(setup["ticket"])
    auth.login(setup["agent"].email)
    response = _post(client, f"{url}/time", {
        "time-kind": "email", "time-started_at": _local_input(local(2026, 2, 20, 9, 0)),
        "time-minutes": "10"}, url)
    assert response.status_code == 409
    assert "2026-02 is closed" in response.get_data(as_text=True)


# -- who edits what ------------------------------------------------------------------------------


def _entry_for(setup, agent, start=None) -> TimeEntry:
    entry = log_entry(client=setup["client"], kind="remote",
                      started_at=start or local(2026, 3, 3, 9, 0), minutes=20,
                      ticket=setup["ticket"], agent=agent, user=agent)
    db.session.commit()
    return entry


def test_agents_edit_their_own_open_month_entries_admins_any(client, auth, setup):
    own = _entry_for(setup, setup["agent"])
    theirs = _entry_for(setup, setup["other_agent"])
    auth.login(setup["agent"].email)
    assert client.get(f"/console/time/{theirs.id}/edit").status_code == 403
    edit_url = f"/console/time/{own.id}/edit"
    response = _post(client, edit_url, {
        "edit-kind": "remote", "edit-started_at": _local_input(own.started_at),
        "edit-minutes": "50", "edit-note": "longer than logged",
        "edit-ticket_number": str(setup["ticket"].number)}, edit_url)
    assert response.status_code == 302
    db.session.refresh(own)
    assert (own.minutes, own.billable_minutes, own.note) == (50, 60, "longer than logged")
    page = _page(client, _ticket_url(setup["ticket"]))
    assert f"/console/time/{own.id}/edit" in page
    assert f"/console/time/{theirs.id}/edit" not in page

    auth.logout()
    auth.login(setup["admin"].email)
    assert client.get(f"/console/time/{theirs.id}/edit").status_code == 200
    close_month("2026-03", force=True)
    db.session.commit()
    assert client.get(f"/console/time/{theirs.id}/edit").status_code == 403


def test_delete_an_entry(client, auth, setup):
    own = _entry_for(setup, setup["agent"])
    auth.login(setup["agent"].email)
    edit_url = f"/console/time/{own.id}/edit"
    response = _post(client, f"/console/time/{own.id}/delete", {"delete-x": ""}, edit_url)
    assert response.status_code == 302
    assert _entries() == []


# -- review, corrections, package changes --------------------------------------------------------


def test_review_page_lists_the_managers_clients_and_records_decisions(client, auth, setup,
                                                                       factory):
    other_manager = factory.user(Role.ACCOUNT_MANAGER)
    elsewhere = factory.client(manager=other_manager)
    saturday = local(2026, 3, 7, 10, 0)
    mine = log_entry(client=setup["client"], kind="phone", started_at=saturday, minutes=20)
    log_entry(client=elsewhere, kind="phone", started_at=saturday, minutes=20)
    db.session.commit()
    auth.login(setup["manager"].email)
    page = _page(client, "/console/time/review")
    assert page.count('id="entry-') == 1 and f'id="entry-{mine.id}"' in page
    response = _post(client, f"/console/time/{mine.id}/review", {"decision": "waive"},
                     "/console/time/review")
    assert response.status_code == 302
    db.session.refresh(mine)
    assert mine.billable_minutes == 0 and mine.reviewed_by_id == setup["manager"].id
    assert 'id="entry-' not in _page(client, "/console/time/review")
    auth.logout()
    auth.login(setup["agent"].email)
    assert client.get("/console/time/review").status_code == 403


def test_correcting_an_entry_of_a_closed_month(client, auth, setup):
    entry = _entry_for(setup, setup["agent"], start=local(2026, 2, 10, 9, 0))
    close_month("2026-02")
    db.session.commit()
    auth.login(setup["manager"].email)
    url = f"/console/time/{entry.id}/adjust"
    response = _post(client, url, {"adjust-minutes_delta": "", "adjust-reason": ""}, url)
    assert response.status_code == 400
    assert 'id="adjust-reason-error"' in response.get_data(as_text=True)
    response = _post(client, url, {"adjust-minutes_delta": "-20",
                                   "adjust-reason": "the customer cancelled"}, url)
    assert response.status_code == 302
    adjustment = db.session.scalar(select(TimeEntry).where(TimeEntry.is_adjustment.is_(True)))
    assert (adjustment.minutes, adjustment.billable_minutes) == (-20, -30)
    auth.logout()
    auth.login(setup["agent"].email)
    assert client.get(url).status_code == 403


def test_package_change_form(client, auth, setup):
    auth.login(setup["manager"].email)
    url = f"/console/clients/{setup['client'].id}/contract/change"
    response = _post(client, url, {"change-package": "basic", "change-direction": "upgrade",
                                   "change-on": "2026-03-10"}, url)
    assert response.status_code == 409
    assert "downgrade" in response.get_data(as_text=True)
    response = _post(client, url, {"change-package": "extended", "change-direction": "upgrade",
                                   "change-on": "2026-03-21"}, url)
    assert response.status_code == 302
    assert usage_json(setup["client"], "2026-03")["included_minutes"] == 406


# -- the client page ---------------------------------------------------------------------------


def test_client_page_shows_the_usage_api_figures(client, auth, factory):
    customer, period, expected = build_worked_example(factory)
    admin = factory.user(Role.ADMIN)
    token, plain = ApiToken.issue(admin)
    db.session.add(token)
    db.session.commit()
    api = client.get(f"/api/v1/clients/{customer.id}/usage?month={period}",
                     headers={"Authorization": f"Bearer {plain}"}).get_json()
    assert api == expected
    auth.login(admin.email)
    html = _page(client, f"/console/clients/{customer.id}/time?month={period}")
    assert f'data-included="{api["included_minutes"]}"' in html
    assert f'data-billable="{api["billable_minutes"]}"' in html
    assert "6:46" in html and "8:45" in html  # 406 and 525 minutes as H:MM
    assert "327.81" in html  # the total, for an admin
    assert html.count('id="entry-') == 11
    # The client page includes the same panel for this month.
    page = _page(client, f"/console/clients/{customer.id}")
    assert 'id="usage"' in page


def test_agents_see_hours_but_not_money_on_the_usage_panel(client, auth, factory):
    customer, period, _ = build_worked_example(factory)
    agent = factory.user(Role.AGENT)
    db.session.commit()
    auth.login(agent.email)
    html = _page(client, f"/console/clients/{customer.id}/time?month={period}")
    assert 'data-billable="525"' in html
    assert "327.81" not in html


def test_call_on_a_ticket_without_client_is_billed_to_the_callers_company(client, auth, setup):
    unknown = create_ticket(subject="Who is this", client_id=None, actor="test")
    db.session.commit()
    url = _ticket_url(unknown)
    auth.login(setup["agent"].email)
    page = _page(client, url)
    assert "Start remote session" not in page  # nothing to bill a timer to
    response = _post(client, f"{url}/time/call", {
        "call-caller": "0641234567", "call-started_at": _local_input(local(2026, 3, 3, 10, 0)),
        "call-minutes": "4"}, url)
    assert response.status_code == 302
    (entry,) = _entries()
    assert entry.client_id == setup["client"].id and entry.ticket_id == unknown.id
    response = _post(client, f"{url}/time/call", {
        "call-caller": "", "call-started_at": _local_input(local(2026, 3, 3, 11, 0)),
        "call-minutes": "4"}, url)
    assert response.status_code == 400
    assert 'id="call-caller-error"' in response.get_data(as_text=True)
