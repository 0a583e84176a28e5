"""The bell's panel, its feed and full page, texts written in the reader's language (the SLA items
too, on the page and in mail), and the @mention list: staff only, active staff only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import Direction, Role
from helpdesk.notifications import events
from helpdesk.notifications.mailer import compose
from helpdesk.notifications.mentions import candidates
from helpdesk.notifications.models import StaffNotification
from helpdesk.sla.sweep import sweep
from helpdesk.tickets.services import add_article, create_ticket
from tests.conftest import csrf_token_from

#: Each language's words for the SLA warning and breach of the first response, and "ago".
SLA_WORDS = {
    "en": ("SLA warning", "first response target was missed", "ago"),
    "sr_Latn": ("SLA upozorenje", "rok za prvi odgovor je propušten", "pre"),
    "tr": ("SLA uyarısı", "ilk yanıt hedefi kaçırıldı", "önce"),
}


@pytest.fixture
def world(factory):
    people = {lang: factory.user(email=f"{lang.lower()}@vendor.example", name=f"Agent {lang}",
                                 language=lang) for lang in SLA_WORDS}
    acme = factory.client("Acme d.o.o.", domain="acme.rs")
    factory.contract(acme, "standard")
    db.session.commit()
    return {"people": people, "acme": acme}


def _sla_ticket(world, assignee):
    start = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Belgrade
    t = create_ticket(subject="Server down", client_id=world["acme"].id, created_at=start,
                      assignee_id=assignee.id)
    db.session.commit()
    sweep(t.first_response_due + timedelta(minutes=1))  # the warning and the breach
    db.session.commit()
    return t


@pytest.mark.parametrize("lang", sorted(SLA_WORDS))
def test_sla_items_read_in_the_readers_language_in_the_feed_and_page(client, auth, world, lang):
    user = world["people"][lang]
    t = _sla_ticket(world, user)
    items = db.session.scalars(select(StaffNotification).where(
        StaffNotification.user_id == user.id)).all()
    assert {(i.kind, i.params["event"]) for i in items} == {("sla", "breach")}
    assert items[0].params["target"] == "first_response"  # parameters, not an English sentence
    auth.login(user.email)
    feed = client.get("/console/notifications.json").get_json()
    assert feed["unread"] == 1
    (row,) = feed["items"]
    _warning, breach, ago = SLA_WORDS[lang]
    assert breach in row["text"] and row["ticket"] == t.number and row["unread"] is True
    assert ago in row["ago"]
    page = client.get("/console/notifications").get_data(as_text=True)
    assert breach in page and f"#{t.number}" in page
    if lang != "en":
        assert "missed" not in page and "SLA breached" not in row["text"]


@pytest.mark.parametrize("lang", sorted(SLA_WORDS))
def test_sla_warning_text_in_mail_is_in_the_readers_language(world, lang):
    user = world["people"][lang]
    t = create_ticket(subject="Slow", client_id=world["acme"].id, assignee_id=user.id)
    db.session.flush()
    events.sla_event(t, user, f"{t.id}:first_response:warning", target="first_response",
                     event="warning", fraction=0.8)
    item = db.session.scalar(select(StaffNotification).where(StaffNotification.ticket_id == t.id))
    subject, body = compose(user, t, [item])
    warning, _breach, _ago = SLA_WORDS[lang]
    assert warning in subject and warning in body and "80" in body
    if lang != "en":
        assert "SLA warning" not in body


def test_the_same_item_reads_differently_for_each_reader(world):
    """The text is not stored: one event, two readers, two languages."""
    tr, sr = world["people"]["tr"], world["people"]["sr_Latn"]
    t = create_ticket(subject="Mail", client_id=world["acme"].id)
    article = add_article(t, direction=Direction.OUT, body_text="x", author=tr,
                          to_addrs="a@acme.rs")
    article.send_error = "ConnectionRefusedError: [Errno 111] Connection refused"
    events.send_failed(article)
    item = db.session.scalar(select(StaffNotification))
    assert item.params == {"error": article.send_error}
    _, turkish = compose(tr, t, [item])
    _, serbian = compose(sr, t, [item])
    assert "gönderilemedi" in turkish and "Errno" not in turkish
    assert "poslat" in serbian and "Errno" not in serbian


def test_feed_lists_the_latest_ten_newest_first_and_the_page_pages(client, auth, world):
    user = world["people"]["en"]
    tickets = []
    for n in range(30):
        t = create_ticket(subject=f"Ticket {n}", client_id=world["acme"].id)
        events.notify(user, events.ASSIGNED, t, event=f"t{t.id}", params={"by": "Mila"})
        tickets.append(t)
    db.session.commit()
    auth.login(user.email)
    feed = client.get("/console/notifications.json").get_json()
    assert feed["unread"] == 30
    assert [r["ticket"] for r in feed["items"]] == [t.number for t in tickets[::-1][:10]]
    assert feed["items"][0]["who"] == "Mila" and "Mila assigned" in feed["items"][0]["text"]
    first = client.get("/console/notifications").get_data(as_text=True)
    assert first.count('<li class="unread">') == 25 and "Page 1 of 2" in first
    assert 'href="/console/notifications?page=2"' in first
    second = client.get("/console/notifications?page=2").get_data(as_text=True)
    assert second.count('<li class="unread">') == 5 and f"#{tickets[0].number} " in second
    assert "Page 2 of 2" in client.get("/console/notifications?page=99").get_data(as_text=True)


def test_opening_an_items_ticket_marks_it_read_and_mark_all_works_without_js(client, auth,
                                                                             world):
    user = world["people"]["en"]
    a = create_ticket(subject="A", client_id=world["acme"].id)
    b = create_ticket(subject="B", client_id=world["acme"].id)
    for t in (a, b):
        events.notify(user, events.ASSIGNED, t, event=f"t{t.id}")
    db.session.commit()
    auth.login(user.email)
    assert client.get(f"/console/tickets/{a.number}").status_code == 200
    assert client.get("/console/notifications.json").get_json()["unread"] == 1
    page = client.get("/console/notifications").get_data(as_text=True)
    r = client.post("/console/notifications/read", data={"csrf_token": csrf_token_from(page)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/notifications")
    assert events.unread_count(user) == 0


def test_a_colleagues_item_cannot_be_marked_read(client, auth, world):
    tr, en = world["people"]["tr"], world["people"]["en"]
    t = create_ticket(subject="A", client_id=world["acme"].id)
    theirs = events.notify(tr, events.ASSIGNED, t, event="x")
    db.session.commit()
    auth.login(en.email)
    token = csrf_token_from(client.get("/console/notifications").get_data(as_text=True))
    r = client.post("/console/notifications/read", data={"csrf_token": token, "id": theirs.id},
                    headers={"Accept": "application/json"})
    assert r.get_json() == {"unread": 0}
    db.session.refresh(theirs)
    assert theirs.read_at is None
    feed = client.get("/console/notifications.json").get_json()
    assert feed["items"] == []  # nobody else's items


# -- @mentions -------------------------------------------------------------------------------


@pytest.fixture
def staff(factory):
    marko = factory.user(email="marko@vendor.example", name="Marko Petrović")
    factory.user(email="mara@vendor.example", name="Mara Jović", role=Role.ACCOUNT_MANAGER)
    factory.user(email="marija@vendor.example", name="Marija Bivša", active=False)
    # Another Marko: first name "marko" would also match marko@..., so his handle is the address.
    other = factory.user(email="m.nikolic@vendor.example", name="Marko Nikolić")
    acme = factory.client("Acme d.o.o.", domain="acme.rs")
    client_user = factory.user(Role.CLIENT, email="marketing@acme.rs", client=acme,
                               name="Marketing Acme")
    db.session.commit()
    return {"marko": marko, "other": other, "client_user": client_user}


def test_mention_candidates_are_active_staff_with_a_handle_the_parser_reads(staff):
    found = candidates("mar")
    emails = [c.email for c in found]
    assert "marija@vendor.example" not in emails  # inactive
    assert "marketing@acme.rs" not in emails  # a client's user
    assert set(emails) == {"marko@vendor.example", "mara@vendor.example",
                           "m.nikolic@vendor.example"}
    handles = {c.email: c.handle for c in found}
    assert handles["mara@vendor.example"] == "mara"
    for c in found:  # each inserted handle names exactly that person
        assert [u.email for u in events.mentioned_users(f"see @{c.handle} please")] == [c.email]
    assert [c.email for c in candidates("nikol")] == ["m.nikolic@vendor.example"]


def test_mention_feed_for_staff_and_refused_to_a_client_session(client, auth, staff):
    auth.login(staff["marko"].email)
    people = client.get("/console/staff/mentions.json?q=Mar").get_json()["people"]
    assert {p["email"] for p in people} >= {"marko@vendor.example", "mara@vendor.example"}
    assert all(p["email"].endswith("@vendor.example") for p in people)
    auth.logout()
    auth.login(staff["client_user"].email)
    r = client.get("/console/staff/mentions.json?q=mar")
    assert r.status_code in (403, 404) and b"vendor.example" not in r.data


def test_mention_api_refuses_a_client_token_and_lists_for_staff(client, staff):
    from helpdesk.auth.tokens import ApiToken

    def get(user, path):
        token, plain = ApiToken.issue(user, "test")
        db.session.add(token)
        db.session.commit()
        return client.get(path, headers={"Authorization": f"Bearer {plain}"})

    refused = get(staff["client_user"], "/api/v1/staff/mentionable?q=mar")
    assert refused.status_code == 404 and b"vendor.example" not in refused.data
    console = get(staff["client_user"], "/console/staff/mentions.json?q=mar")
    assert console.status_code in (302, 401, 403, 404) and b"vendor.example" not in console.data
    listed = get(staff["marko"], "/api/v1/staff/mentionable?q=mar").get_json()["people"]
    assert "marija@vendor.example" not in {p["email"] for p in listed}
    assert {p["email"] for p in listed} == {"marko@vendor.example", "mara@vendor.example",
                                            "m.nikolic@vendor.example"}


# -- the migration that turned the English detail into parameters ----------------------------

#: This issue's migration (the lead may renumber it when chaining; keep the two in step).
REVISION = "0014"


def test_migration_turns_old_details_into_parameters_and_back(tmp_path):
    import json

    from sqlalchemy import create_engine, text

    from tests.test_foundation import _flask

    url = f"sqlite:///{tmp_path / 'n.db'}"
    revisions = [p.name for p in (__import__("helpdesk").ROOT / "migrations" / "versions").glob(
        f"{REVISION}*.py")]
    assert revisions, "the migration was renamed: update REVISION"
    down = next(line.split("=")[1].strip().strip("'\"") for line in (
        __import__("helpdesk").ROOT / "migrations" / "versions" / revisions[0]
    ).read_text().splitlines() if line.startswith("down_revision"))
    assert _flask(["db", "upgrade", down], url, tmp_path).returncode == 0
    engine = create_engine(url)
    rows = [("sla", "first response warning"), ("sla", "resolution breach"),
            ("client_reply", "ana@acme.rs"), ("mention", "Ayşe Yılmaz"),
            ("send_failed", "ConnectionRefusedError: [Errno 111]"), ("assigned", None)]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO users (id, email, name, role, password_hash, active, created_at)"
            " VALUES (1, 'a@vendor.example', 'A', 'agent', 'x', 1, '2026-11-17 08:00:00')"))
        for n, (kind, detail) in enumerate(rows):
            conn.execute(text(
                "INSERT INTO staff_notifications (event_key, user_id, kind, detail, mail_wanted,"
                " bell_wanted, created_at) VALUES (:k, 1, :kind, :detail, 0, 1, :at)"),
                {"k": f"e{n}", "kind": kind, "detail": detail, "at": "2026-11-17 08:00:00"})
    assert _flask(["db", "upgrade", REVISION], url, tmp_path).returncode == 0
    with engine.connect() as conn:
        params = [json.loads(p) if p else None for (p,) in conn.execute(text(
            "SELECT params FROM staff_notifications ORDER BY id"))]
    assert params == [{"target": "first_response", "event": "warning"},
                      {"target": "resolution", "event": "breach"},
                      {"from": "ana@acme.rs"}, {"by": "Ayşe Yılmaz"},
                      {"error": "ConnectionRefusedError: [Errno 111]"}, {}]
    assert _flask(["db", "downgrade", down], url, tmp_path).returncode == 0
    with engine.connect() as conn:
        details = [d for (d,) in conn.execute(text(
            "SELECT detail FROM staff_notifications ORDER BY id"))]
    engine.dispose()
    assert details == [d for _, d in rows]
