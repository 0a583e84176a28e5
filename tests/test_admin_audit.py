"""The audit log viewer: filters by object, person and date (in the viewer's zone), keyset pages,
labels and dates in the viewer's language."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from helpdesk.audit_log.query import AuditFilter, BadFilter, audit_page, day_bounds
from helpdesk.extensions import db
from helpdesk.models import AuditLog, Role
from tests.conftest import csrf_token_from


@pytest.fixture
def admin(factory, auth):
    user = factory.user(Role.ADMIN, name="Ada Admin", timezone="Europe/Belgrade")
    db.session.commit()
    auth.login(user.email)
    return user


def entry(at: datetime, *, entity_type="tickets", entity_id=1, user=None, action="update",
          before=None, after=None, actor="user") -> AuditLog:
    row = AuditLog(at=at, user_id=user.id if user else None, actor=actor if user is None else "user",
                   entity_type=entity_type, entity_id=entity_id, action=action,
                   before=before, after=after)
    db.session.add(row)
    db.session.flush()
    return row


def ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-entry="(\d+)"', html)]


def test_filters_by_object_person_and_local_dates(client, admin, factory):
    other = factory.user(Role.AGENT, name="Bora Agent")
    # 23:30 in Belgrade on 31 Oct (22:30 UTC): belongs to 31 Oct there, not to 1 Nov.
    late = entry(datetime(2026, 10, 31, 22, 30, tzinfo=UTC), entity_id=7, user=admin)
    nov = entry(datetime(2026, 11, 1, 9, 0, tzinfo=UTC), entity_id=7, user=other,
                before={"priority": "normal"}, after={"priority": "high"})
    client_row = entry(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), entity_type="clients",
                       entity_id=7, action="create", after={"name": "Acme"})
    robot = entry(datetime(2026, 11, 3, 9, 0, tzinfo=UTC), entity_id=8, actor="ingest",
                  action="create", after={"subject": "x"})
    db.session.commit()
    everything = client.get("/admin/audit").get_data(as_text=True)
    assert ids(everything) == [robot.id, client_row.id, nov.id, late.id]
    assert "mail ingest" in everything
    assert ids(client.get("/admin/audit?type=tickets&id=7").get_data(as_text=True)) == \
        [nov.id, late.id]
    assert ids(client.get(f"/admin/audit?person={other.id}").get_data(as_text=True)) == [nov.id]
    nov_only = client.get("/admin/audit?date_from=2026-11-01&date_to=2026-11-01")
    assert ids(nov_only.get_data(as_text=True)) == [nov.id]
    october = client.get("/admin/audit?date_to=2026-10-31").get_data(as_text=True)
    assert ids(october) == [late.id]
    html = client.get(f"/admin/audit?person={other.id}").get_data(as_text=True)
    assert "<del>normal</del> → high" in html
    assert 'href="/console/clients/7"' in everything


def test_keyset_pages_never_repeat_or_skip(app, admin):
    rows = [entry(datetime(2026, 11, 1, 9, i, tzinfo=UTC), entity_id=i) for i in range(7)]
    db.session.commit()
    seen, before = [], None
    zone = ZoneInfo("Europe/Belgrade")
    while True:
        page = audit_page(AuditFilter(), zone, before=before, limit=3)
        seen += [r.id for r in page.rows]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == sorted((r.id for r in rows), reverse=True)


def test_pager_link_keeps_the_filters(client, admin, monkeypatch):
    from helpdesk.audit_log import query

    monkeypatch.setattr(query, "PAGE_SIZE", 2)
    for i in range(3):
        entry(datetime(2026, 11, 1, 9, i, tzinfo=UTC), entity_id=5)
    entry(datetime(2026, 11, 1, 10, 0, tzinfo=UTC), entity_id=6)
    db.session.commit()
    first = client.get("/admin/audit?type=tickets&id=5").get_data(as_text=True)
    link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "id=5" in link and "type=tickets" in link
    second = client.get(link).get_data(as_text=True)
    assert len(ids(first)) == 2 and len(ids(second)) == 1
    assert not set(ids(first)) & set(ids(second))


def test_bad_filters_are_named_next_to_the_field(client, admin):
    resp = client.get("/admin/audit?date_from=2026-11-05&date_to=2026-11-01")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'id="date_to-error"' in html and "The end date is before the start date." in html
    resp = client.get("/admin/audit?id=5")
    assert resp.status_code == 400 and 'id="type-error"' in resp.get_data(as_text=True)
    resp = client.get("/admin/audit?id=-3&type=tickets")
    assert resp.status_code == 400 and 'id="id-error"' in resp.get_data(as_text=True)
    resp = client.get("/admin/audit?date_from=yesterday")
    assert resp.status_code == 400 and 'id="date_from-error"' in resp.get_data(as_text=True)
    with pytest.raises(BadFilter):
        audit_page(AuditFilter(date_from=date(2026, 2, 2), date_to=date(2026, 2, 1)),
                   ZoneInfo("UTC"))


def test_day_bounds_follow_dst_in_istanbul_and_belgrade():
    start, end = day_bounds(date(2026, 10, 25), ZoneInfo("Europe/Belgrade"))
    assert (end - start).total_seconds() == 25 * 3600  # clocks go back that night
    start, end = day_bounds(date(2026, 10, 25), ZoneInfo("Europe/Istanbul"))
    assert (end - start).total_seconds() == 24 * 3600  # Turkey keeps UTC+3


@pytest.mark.parametrize("language,label,when", [
    ("sr_Latn", "Tiket", "uto, 3. nov 2026. 10:00"), ("tr", "Talep", "3 Kas 2026 Sal 10:00")])
def test_labels_and_dates_in_the_viewers_language(client, admin, language, label, when):
    entry(datetime(2026, 11, 3, 9, 0, tzinfo=UTC), entity_id=3, user=admin)
    db.session.commit()
    client.post("/language", data={"language": language, "csrf_token": csrf_token_from(
        client.get("/admin/").get_data(as_text=True))})
    html = client.get("/admin/audit").get_data(as_text=True)
    row = html.split('data-entry="', 1)[1]
    # 09:00 UTC is 10:00 in Belgrade, written the way the language writes dates.
    assert f"{label} 3" in row and f">{when}</time>" in row


def test_only_admins_read_the_audit_log(client, auth, factory):
    for role in (Role.AGENT, Role.ACCOUNT_MANAGER):
        user = factory.user(role)
        db.session.commit()
        auth.login(user.email)
        assert client.get("/admin/audit").status_code == 403
        auth.logout()
    assert client.get("/admin/audit").status_code == 302


def test_ticket_entries_link_to_the_ticket_page(client, admin):
    from helpdesk.tickets.services import create_ticket

    t = create_ticket(subject="Linked", client_id=None, user=admin)
    db.session.commit()
    html = client.get(f"/admin/audit?type=tickets&id={t.id}").get_data(as_text=True)
    assert f'href="/console/tickets/{t.number}"' in html
