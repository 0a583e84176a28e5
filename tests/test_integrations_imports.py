"""Imports through the integrations service: renamed columns, tickets named in notes, suggested
tickets, fixes, one import per file, undo; drop folders through the scheduler's job; CDR calls
matched to the agent by extension. All sample files are written here."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.ledger import entry_billing
from helpdesk.accounting.periods import period_of
from helpdesk.extensions import db, mail
from helpdesk.integrations import imports as service
from helpdesk.integrations.models import ImportBatch, TicketSuggestion
from helpdesk.models import EntryKind, Role, TimeEntry
from helpdesk.scheduler.runner import run_job_now
from helpdesk.tickets.services import create_ticket

BELGRADE = ZoneInfo("Europe/Belgrade")


def work_day() -> date:
    """A weekday of the current month on or before today (in hours: no weighting)."""
    today = datetime.now(BELGRADE).date()
    day = today - timedelta(days=1) if today.day > 1 else today
    while day.weekday() >= 5 and day.day > 1:
        day -= timedelta(days=1)
    return day


RENAMED = {"customer": ["Kunde"], "technician": "Techniker", "technician_name": "Tech",
           "start": "Beginn", "end": "Ende", "work_time": "Arbeitszeit", "session_id": "Sitzung",
           "notes": ["Notiz"], "ticket": ""}


def logmein_csv(day: date, rows: list[tuple[str, str, str, str, str, str]]) -> bytes:
    """rows: (session id, customer, technician email, start HH:MM, end HH:MM, note)."""
    lines = ["Sitzung,Beginn,Ende,Kunde,Techniker,Tech,Arbeitszeit,Notiz"]
    for sid, customer, tech, start, end, note in rows:
        s = datetime.combine(day, datetime.strptime(start, "%H:%M").time())
        e = datetime.combine(day, datetime.strptime(end, "%H:%M").time())
        secs = int((e - s).total_seconds())
        work = f"{secs // 3600}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
        lines.append(f'{sid},{s:%Y-%m-%d %H:%M:%S},{e:%Y-%m-%d %H:%M:%S},"{customer}",{tech},'
                     f'Tech,{work},"{note}"')
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.fixture
def world(factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, email="am@vendor.test")
    agent = factory.user(Role.AGENT, email="ana@vendor.test", logmein_email="ana.rescue@vendor.test")
    jugo = factory.client("Jugodrvo", domain="jugodrvo.rs", manager=manager)
    factory.contract(jugo, "standard")
    factory.contact(jugo, email="dragan@jugodrvo.rs")
    other = factory.client("Mlin Doo", manager=manager)
    factory.contract(other, "standard")
    day = work_day()
    opened = datetime.combine(day, datetime.min.time().replace(hour=8), BELGRADE).astimezone(UTC)
    named = create_ticket(subject="Printer", client_id=jugo.id, created_at=opened, actor="t")
    today_ticket = create_ticket(subject="Scanner", client_id=other.id, created_at=opened,
                                 actor="t")
    db.session.commit()
    return {"manager": manager, "agent": agent, "jugo": jugo, "other": other, "day": day,
            "named": named, "today": today_ticket}


def _mapping(world):
    m = service.save_mapping(None, source="logmein", name="Renamed", columns=dict(RENAMED),
                             is_default=True, user=world["manager"])
    db.session.commit()
    return m


def _sample(world) -> bytes:
    named = world["named"].number
    return logmein_csv(world["day"], [
        ("9001", "dragan@jugodrvo.rs", "ana.rescue@vendor.test", "10:00", "10:30",
         f"Printer driver [#{named}]"),
        ("9002", "Unknown Shop", "ana.rescue@vendor.test", "11:00", "11:20", "Scanner"),
        ("9003", "Mlin Doo", "ana.rescue@vendor.test", "12:00", "12:45", "Scanner again"),
    ])


def test_renamed_columns_preview_fix_import_and_reimport(world):
    mapping = _mapping(world)
    content = _sample(world)
    batch = service.new_batch(content, "sessions.csv", "logmein", user=world["manager"],
                              mapping=mapping)
    service.preview(batch, world["manager"])
    db.session.commit()
    states = {r["ref"]: (r["state"], r["line_no"]) for r in batch.report["rows"]}
    assert states == {"9001": ("imported", 2), "9002": ("unmatched", 3),
                      "9003": ("imported", 4)}
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0  # a preview keeps nothing

    service.set_fix(batch, 3, client_id=world["other"].id, ticket_id=None, user=world["manager"])
    db.session.commit()
    result = service.run_import(batch, world["manager"])
    db.session.commit()
    assert (result.created, len(result.unmatched)) == (3, 0)
    by_ref = {e.external_ref: e for e in db.session.scalars(select(TimeEntry))}
    assert by_ref["9001"].ticket_id == world["named"].id  # named in the notes
    assert by_ref["9001"].agent_id == world["agent"].id  # by the LogMeIn address
    assert by_ref["9002"].client_id == world["other"].id  # the fix
    # No ticket named: the client's open ticket of that day is suggested, not set.
    assert by_ref["9003"].ticket_id is None
    suggestion = db.session.scalar(select(TicketSuggestion).where(
        TicketSuggestion.entry_id == by_ref["9003"].id))
    assert suggestion.ticket_id == world["today"].id
    service.confirm_suggestion(suggestion, world["manager"])
    db.session.commit()
    assert db.session.get(TimeEntry, by_ref["9003"].id).ticket_id == world["today"].id

    with pytest.raises(service.ImportRefused):  # a second click on the same preview
        service.run_import(batch, world["manager"])
    db.session.rollback()
    again = service.new_batch(content, "sessions.csv", "logmein", user=world["manager"],
                              mapping=mapping)
    assert service.run_import(again, world["manager"]).created == 0  # idempotent by session id
    db.session.commit()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 3


def test_undo_removes_the_import_and_refuses_a_closed_month(world):
    mapping = _mapping(world)
    batch = service.new_batch(_sample(world), "s.csv", "logmein", user=world["manager"],
                              mapping=mapping, skip_bad=True)
    service.run_import(batch, world["manager"])
    db.session.commit()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 2
    assert service.undo(batch, world["manager"]) == 2
    db.session.commit()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0
    assert batch.status == "undone"

    redo = service.new_batch(_sample(world), "s.csv", "logmein", user=world["manager"],
                             mapping=mapping)
    service.run_import(redo, world["manager"])
    db.session.commit()
    close_month(period_of(datetime.combine(world["day"], datetime.min.time(), BELGRADE),
                          "Europe/Belgrade"), force=True)
    db.session.commit()
    with pytest.raises(service.ImportRefused, match="closed"):
        service.undo(redo, world["manager"])
    db.session.rollback()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 2


def test_drop_folder_imports_once_moves_and_reports(app, world, tmp_path):
    _mapping(world)
    drop = tmp_path / "logmein"
    drop.mkdir()
    app.config["IMPORT_DROP_LOGMEIN"] = str(drop)
    good = _sample(world)
    (drop / "monday.csv").write_bytes(good)
    bad = good.replace(b",10:00", b",10:00").replace(
        f"{world['day']:%Y-%m-%d} 11:00:00".encode(), b"yesterday")
    (drop / "broken.csv").write_bytes(bad)
    with mail.record_messages() as sent:
        runs = run_job_now("import_drop")
    assert runs[0].outcome == "ok", runs[0].error
    assert (drop / "done" / "monday.csv").exists() and not (drop / "monday.csv").exists()
    assert (drop / "failed" / "broken.csv").exists()
    failed = db.session.scalar(select(ImportBatch).where(ImportBatch.filename == "broken.csv"))
    assert failed.status == "failed"
    failure_mail = next(m for m in sent if "broken.csv" in m.subject)
    assert "line 3" in failure_mail.body and "is not a date" in failure_mail.body
    assert failure_mail.recipients == ["am@vendor.test"]
    assert any("monday.csv" in m.subject for m in sent)
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 2  # the unmatched one waits

    (drop / "monday-copy.csv").write_bytes(good)  # the same file again, by another name
    runs = run_job_now("import_drop", datetime.now(UTC) + timedelta(minutes=5))
    assert "imported before" in runs[0].summary
    assert (drop / "done" / "monday-copy.csv").exists()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 2


def cdr_line(uniqueid: str, src: str, dst: str, start: datetime, talk: int,
             channel: str, dstchannel: str) -> str:
    answer = start + timedelta(seconds=5)
    end = answer + timedelta(seconds=talk)
    f = "%Y-%m-%d %H:%M:%S"
    return (f'"","{src}","{dst}","from-internal","""Caller"" <{src}>","{channel}",'
            f'"{dstchannel}","Dial","","{start:{f}}","{answer:{f}}","{end:{f}}",'
            f'{talk + 5},{talk},"ANSWERED","DOCUMENTATION","{uniqueid}",""')


def test_a_call_to_extension_201_is_logged_for_the_agent_with_that_extension(factory):
    mira = factory.user(Role.AGENT, email="mira@vendor.test", extension="201")
    factory.user(Role.AGENT, email="other@vendor.test", extension="202")
    client = factory.client("Telefonija")
    factory.contract(client, "standard")
    factory.contact(client, phone="+381 11 2345678", normalized="381112345678",
                    name="Jovana")
    db.session.commit()
    start = datetime.combine(work_day(), datetime.min.time().replace(hour=10))
    late = start.replace(hour=21)
    content = (cdr_line("1733220000.11", "0112345678", "201", start, 600,
                        "SIP/trunk-0001", "SIP/201-0002") + "\n"
               + cdr_line("1733220000.12", "0112345678", "201", late, 900,
                          "SIP/trunk-0003", "SIP/201-0004") + "\n").encode()
    batch = service.new_batch(content, "Master.csv", "cdr", user=mira)
    result = service.run_import(batch, mira)
    db.session.commit()
    assert result.created == 2, batch.report
    entry, evening = db.session.scalars(select(TimeEntry).order_by(TimeEntry.started_at))
    assert entry.agent_id == mira.id and entry.kind == EntryKind.PHONE
    assert entry.client_id == client.id and "Jovana" in entry.note
    assert entry.minutes == 10
    expected = entry_billing(client, EntryKind.PHONE, entry.started_at, entry.ended_at)
    assert entry.billable_minutes == expected.billable_minutes and not entry.out_of_hours
    # A call at 21:00 is out of hours: weighted and flagged like any entry.
    assert evening.agent_id == mira.id and evening.out_of_hours
    weighted = entry_billing(client, EntryKind.PHONE, evening.started_at, evening.ended_at)
    assert evening.billable_minutes == weighted.billable_minutes > evening.minutes
    assert evening.needs_review == weighted.needs_review
    rows = {r["ref"]: r for r in batch.report["rows"]}
    assert rows["1733220000.12"]["message"] == "out of hours"


def test_the_command_uses_a_saved_mapping_and_shows_in_the_history(app, world, tmp_path):
    _mapping(world)
    path = tmp_path / "rescue.csv"
    path.write_bytes(_sample(world))
    result = app.test_cli_runner().invoke(args=[
        "import", "logmein", str(path), "--mapping", "Renamed", "--user", "am@vendor.test"])
    assert result.exit_code == 0, result.output
    assert "2 entries created" in result.output and "1 unmatched" in result.output
    batch = db.session.scalar(select(ImportBatch))
    assert (batch.origin, batch.status, batch.created) == ("cli", "imported", 2)
    assert service.undo(batch, world["manager"]) == 2  # undone from the console like any import
    db.session.commit()
    missing = app.test_cli_runner().invoke(args=["import", "logmein", str(path), "--mapping",
                                                 "Nope"])
    assert missing.exit_code != 0 and "no saved logmein mapping 'Nope'" in missing.output


def test_the_api_previews_and_imports_a_file(client, world):
    from tests.test_api import Api

    _mapping(world)
    spec = client.get("/api/v1/openapi.json").get_json()
    api = Api(client, spec, world["manager"])
    encoded = base64.b64encode(_sample(world)).decode()
    dry = api.call("POST", "/api/v1/imports", json={
        "source": "logmein", "filename": "s.csv", "content_base64": encoded, "dry_run": True},
        expect=201).get_json()
    assert [o["state"] for o in dry["outcomes"]] == ["imported", "unmatched", "imported"]
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0
    done = api.call("POST", "/api/v1/imports", json={
        "source": "logmein", "content_base64": encoded, "skip_bad": True}, expect=201).get_json()
    assert (done["status"], done["created"]) == ("imported", 2)
    assert api.call("GET", f"/api/v1/imports/{done['id']}").get_json()["created"] == 2
    assert len(api.call("GET", "/api/v1/imports").get_json()["items"]) == 2
    api.call("POST", "/api/v1/imports", json={"source": "fax", "content_base64": ""},
             expect=422)
    api.call("POST", "/api/v1/imports", json={"source": "cdr", "content_base64": "!!"},
             expect=422)
    agent = Api(client, spec, world["agent"])
    agent.call("GET", "/api/v1/imports", expect=403)
