"""API v1 for integrators: time entries, visits, reports, audit; scopes, client-scoped tokens,
the open-month rule (409), cursor pages, updated_since, ETags and rate limits; tokens made and
revoked in the console. Every answer is checked against the OpenAPI description."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.ledger import log_entry
from helpdesk.extensions import db
from helpdesk.models import ApiToken, AuditLog, Role, TimeEntry, Visit
from helpdesk.tickets.services import create_ticket
from tests.conftest import csrf_token_from
from tests.test_api import Api, check, spec  # noqa: F401  (spec is a fixture)

BELGRADE = ZoneInfo("Europe/Belgrade")


def _last_month_day() -> datetime:
    """10:00 on a working day of last month (in hours: nothing waits for review at the close)."""
    first = datetime.now(BELGRADE).replace(day=1, hour=10, minute=0, second=0, microsecond=0)
    day = first - timedelta(days=3)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day.astimezone(UTC)


def _this_month_moment() -> datetime:
    now = datetime.now(BELGRADE)
    return now.replace(day=1, hour=10, minute=0, second=0, microsecond=0).astimezone(UTC)


@pytest.fixture
def world(factory):
    admin = factory.user(Role.ADMIN, email="admin@vendor.test")
    agent = factory.user(Role.AGENT, email="agent@vendor.test")
    jugo = factory.client("Jugodrvo")
    factory.contract(jugo, "standard", start=date(2025, 1, 1))
    other = factory.client("Other Co")
    factory.contract(other, "standard", start=date(2025, 1, 1))
    t_jugo = create_ticket(subject="Printer", client_id=jugo.id, actor="t")
    t_other = create_ticket(subject="Secret", client_id=other.id, actor="t")
    old = log_entry(client=jugo, kind="remote", started_at=_last_month_day(), minutes=30,
                    agent=agent, user=admin)
    other_entry = log_entry(client=other, kind="phone", started_at=_this_month_moment(),
                            minutes=15, agent=agent, user=admin)
    visit = Visit(client_id=other.id, contract_year_start=date(2025, 1, 1),
                  planned_date=date.today(), status="proposed")
    db.session.add(visit)
    db.session.commit()
    close_month(old.period)
    db.session.commit()
    return {"admin": admin, "agent": agent, "jugo": jugo, "other": other, "old": old,
            "other_entry": other_entry, "t_jugo": t_jugo, "t_other": t_other, "visit": visit}


def scoped_api(client, spec, user, *, client_id=None, scopes="read,write"):  # noqa: F811
    api = Api(client, spec, user)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash ==
                                                     ApiToken.hash(api.plain)))
    token.client_id, token.scopes = client_id, scopes
    db.session.commit()
    return api


def test_time_entries_create_list_get_update_delete(client, spec, world):  # noqa: F811
    api = Api(client, spec, world["admin"])
    started = _this_month_moment().isoformat()
    created = api.call("POST", "/api/v1/time-entries", json={
        "client_id": world["jugo"].id, "kind": "remote", "started_at": started, "minutes": 45,
        "ticket_number": world["t_jugo"].number, "note": "Remote fix",
        "agent_id": world["agent"].id}, expect=201).get_json()
    assert created["ticket_number"] == world["t_jugo"].number
    assert created["minutes"] == 45 and created["source"] == "api"
    entry_id = created["id"]

    got = api.call("GET", f"/api/v1/time-entries/{entry_id}").get_json()
    assert got == created
    listed = api.call("GET", f"/api/v1/time-entries?client_id={world['jugo'].id}").get_json()
    assert {e["id"] for e in listed["items"]} == {entry_id, world["old"].id}
    by_ticket = api.call("GET", f"/api/v1/time-entries?ticket_number={world['t_jugo'].number}")
    assert [e["id"] for e in by_ticket.get_json()["items"]] == [entry_id]

    changed = api.call("PATCH", f"/api/v1/time-entries/{entry_id}",
                       json={"minutes": 60, "note": "Longer"}).get_json()
    assert changed["minutes"] == 60 and changed["note"] == "Longer"
    assert db.session.get(TimeEntry, entry_id).minutes == 60

    r = client.delete(f"/api/v1/time-entries/{entry_id}",
                      headers={"Authorization": f"Bearer {api.plain}"})
    assert r.status_code == 204
    db.session.expire_all()
    assert db.session.get(TimeEntry, entry_id) is None
    api.call("GET", f"/api/v1/time-entries/{entry_id}", expect=404)
    api.call("POST", "/api/v1/time-entries", json={"client_id": world["jugo"].id,
                                                   "kind": "nap", "started_at": started,
                                                   "minutes": 5}, expect=422)


def test_a_closed_months_entry_cannot_be_changed_409_with_the_reason(client, spec, world):  # noqa: F811
    api = Api(client, spec, world["admin"])
    old = world["old"]
    r = api.call("PATCH", f"/api/v1/time-entries/{old.id}", json={"minutes": 99}, expect=409)
    assert r.get_json()["error"] == "month_closed"
    assert f"{old.period} is closed" in r.get_json()["message"]
    r = api.call("DELETE", f"/api/v1/time-entries/{old.id}", expect=409)
    assert "adjustment" in r.get_json()["message"]
    r = api.call("POST", "/api/v1/time-entries", json={
        "client_id": world["jugo"].id, "kind": "phone",
        "started_at": _last_month_day().isoformat(), "minutes": 10}, expect=409)
    assert "closed" in r.get_json()["message"]
    db.session.expire_all()
    assert db.session.get(TimeEntry, old.id).minutes == 30


def test_a_client_scoped_token_cannot_read_another_client(client, spec, world):  # noqa: F811
    api = scoped_api(client, spec, world["admin"], client_id=world["jugo"].id)
    other = world["other"]
    api.call("GET", f"/api/v1/time-entries/{world['other_entry'].id}", expect=404)
    api.call("GET", f"/api/v1/clients/{other.id}/usage", expect=404)
    api.call("GET", f"/api/v1/clients/{other.id}/reports/{world['old'].period}", expect=404)
    api.call("GET", f"/api/v1/tickets/{world['t_other'].number}", expect=404)
    api.call("GET", f"/api/v1/visits/{world['visit'].id}", expect=404)
    api.call("GET", f"/api/v1/time-entries?client_id={other.id}", expect=404)
    api.call("POST", "/api/v1/time-entries", json={
        "client_id": other.id, "kind": "phone", "started_at": _this_month_moment().isoformat(),
        "minutes": 5}, expect=404)
    # Its own client is fine, and lists hold nothing of the other client.
    items = api.call("GET", "/api/v1/time-entries").get_json()["items"]
    assert {e["client_id"] for e in items} == {world["jugo"].id}
    tickets = api.call("GET", "/api/v1/tickets").get_json()["items"]
    assert {t["number"] for t in tickets} == {world["t_jugo"].number}
    assert api.call("GET", "/api/v1/visits").get_json()["items"] == []
    api.call("GET", f"/api/v1/clients/{world['jugo'].id}/usage")


def test_read_scope_cannot_write(client, spec, world):  # noqa: F811
    api = scoped_api(client, spec, world["admin"], scopes="read")
    r = api.call("PATCH", f"/api/v1/time-entries/{world['other_entry'].id}",
                 json={"minutes": 1}, expect=403)
    assert r.get_json()["error"] == "insufficient_scope"
    api.call("GET", "/api/v1/time-entries")


def test_cursor_pages_updated_since_and_etags(client, spec, world):  # noqa: F811
    api = Api(client, spec, world["admin"])
    for minutes in (5, 10, 15):
        log_entry(client=world["jugo"], kind="email", started_at=_this_month_moment(),
                  minutes=minutes, user=world["admin"])
    db.session.commit()
    seen, cursor = [], None
    while True:
        url = "/api/v1/time-entries?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", url).get_json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(db.session.scalars(select(TimeEntry.id)))
    assert len(seen) == len(set(seen)) == 5
    later = quote((datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert api.call("GET", f"/api/v1/time-entries?updated_since={later}").get_json()[
        "items"] == []
    api.call("GET", "/api/v1/time-entries?cursor=garbage", expect=422)

    headers = {"Authorization": f"Bearer {api.plain}"}
    first = client.get("/api/v1/time-entries", headers=headers)
    etag = first.headers["ETag"]
    again = client.get("/api/v1/time-entries", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    tickets = client.get("/api/v1/tickets", headers=headers)
    assert client.get("/api/v1/tickets", headers={
        **headers, "If-None-Match": tickets.headers["ETag"]}).status_code == 304
    log_entry(client=world["jugo"], kind="email", started_at=_this_month_moment(), minutes=1,
              user=world["admin"])
    db.session.commit()
    assert client.get("/api/v1/time-entries",
                      headers={**headers, "If-None-Match": etag}).status_code == 200


@pytest.mark.parametrize("backend", ["db", "memory"])
def test_rate_limit_per_token(app, client, spec, world, backend):  # noqa: F811
    app.config.update(API_RATE_LIMIT=3, API_RATE_BACKEND=backend)
    api = Api(client, spec, world["admin"])
    other = Api(client, spec, world["agent"])
    for left in (2, 1, 0):
        r = api.call("GET", "/api/v1/me")
        assert r.headers["X-RateLimit-Remaining"] == str(left)
    r = api.call("GET", "/api/v1/me", expect=429)
    assert int(r.headers["Retry-After"]) >= 0 and r.get_json()["error"] == "rate_limited"
    other.call("GET", "/api/v1/me")  # per token


def test_visits_reports_and_audit(client, spec, world):  # noqa: F811
    admin = Api(client, spec, world["admin"])
    visits = admin.call("GET", "/api/v1/visits").get_json()["items"]
    assert [v["id"] for v in visits] == [world["visit"].id]
    admin.call("GET", f"/api/v1/visits/{world['visit'].id}")
    admin.call("GET", "/api/v1/visits?status=nonsense", expect=422)
    period = world["old"].period
    figures = admin.call("GET", f"/api/v1/clients/{world['jugo'].id}/reports/{period}").get_json()
    assert figures["closed"] is True and figures["billable_minutes"] >= 30
    pdf = client.get(f"/api/v1/clients/{world['jugo'].id}/reports/{period}/pdf",
                     headers={"Authorization": f"Bearer {admin.plain}"})
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    admin.call("GET", f"/api/v1/clients/{world['jugo'].id}/reports/2026-13", expect=404)

    audit = admin.call("GET", "/api/v1/audit?entity_type=time_entries").get_json()["items"]
    assert {a["entity_id"] for a in audit} >= {world["old"].id, world["other_entry"].id}
    assert len(audit) == db.session.scalar(
        select(db.func.count(AuditLog.id)).where(AuditLog.entity_type == "time_entries"))
    Api(client, spec, world["agent"]).call("GET", "/api/v1/audit", expect=403)


def test_tokens_are_made_and_revoked_in_the_console(client, auth, world):
    auth.login("agent@vendor.test")
    page = client.get("/integrations/tokens")
    assert page.status_code == 200
    r = client.post("/integrations/tokens", data={
        "name": "CRM sync", "write": "", "client_id": str(world["jugo"].id),
        "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    html = r.get_data(as_text=True)
    plain = html.split('<code id="new-token">', 1)[1].split("</code>", 1)[0]
    assert plain.startswith("hd_")
    assert plain not in client.get("/integrations/tokens").get_data(as_text=True)  # once
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "CRM sync"))
    assert (token.scopes, token.client_id) == ("read", world["jugo"].id)
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    page = client.get("/integrations/tokens").get_data(as_text=True)
    client.post(f"/integrations/tokens/{token.id}/revoke",
                data={"csrf_token": csrf_token_from(page)})
    assert client.get("/api/v1/me", headers=headers).status_code == 401
