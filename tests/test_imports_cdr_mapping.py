"""CDR column mappings: a call export with its own headers (a PBX that is not Asterisk's
Master.csv) is read through a mapping saved in the console, every field mappable; calls go to the
agent by extension, the client by the contact's number and the ticket named in a column."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from helpdesk.accounting.ledger import entry_billing
from helpdesk.extensions import db
from helpdesk.integrations import imports as service
from helpdesk.integrations.imports import worker
from helpdesk.integrations.models import ImportMapping
from helpdesk.models import EntryKind, Role, TimeEntry
from helpdesk.tickets.services import create_ticket
from tests.conftest import csrf_token_from
from tests.test_integrations_imports import BELGRADE, work_day

HEADER = "Anrufer;Ziel;Beginn;Ende;Gesprächszeit;Anruf-ID;Status;Notiz;Vorgang"
COLUMNS = {"src": "Anrufer", "dst": "Ziel", "start": "Beginn", "end": "Ende",
           "billsec": "Gesprächszeit", "uniqueid": "Anruf-ID", "disposition": "Status",
           "notes": "Notiz", "ticket": "Vorgang"}


def export(rows: list[tuple[str, str, datetime, int, str, str, str]]) -> bytes:
    """rows: (caller, called, start, talk seconds, call id, status, ticket column)."""
    lines = [HEADER]
    for src, dst, start, talk, ref, status, ticket in rows:
        end = start + timedelta(seconds=talk + 7)
        lines.append(f"{src};{dst};{start:%Y-%m-%d %H:%M:%S};{end:%Y-%m-%d %H:%M:%S};{talk};"
                     f"{ref};{status};Rückruf;{ticket}")
    return ("\n".join(lines) + "\n").encode()


def _world(factory):
    mira = factory.user(Role.AGENT, email="mira@vendor.test", extension="201")
    manager = factory.user(Role.ACCOUNT_MANAGER, email="am@vendor.test")
    client = factory.client("Telefonija", manager=manager)
    factory.contract(client, "standard")
    factory.contact(client, phone="+381 11 2345678", normalized="381112345678", name="Jovana")
    opened = datetime.combine(work_day(), datetime.min.time().replace(hour=8), BELGRADE)
    ticket = create_ticket(subject="Centrala", client_id=client.id, created_at=opened, actor="t")
    db.session.commit()
    return mira, manager, client, ticket


def test_a_mapped_export_logs_the_call_for_extension_201_on_the_named_ticket(factory):
    mira, manager, client, ticket = _world(factory)
    mapping = service.save_mapping(None, source="cdr", name="Andere PBX",
                                   columns={**COLUMNS, "timezone": "Europe/Belgrade"},
                                   is_default=True, user=manager)
    db.session.commit()
    start = datetime.combine(work_day(), datetime.min.time().replace(hour=10))
    content = export([
        ("0112345678", "201", start, 600, "call-1", "ANSWERED", f"#{ticket.number}"),
        ("201", "0112345678", start + timedelta(hours=1), 300, "call-2", "ANSWERED", ""),
        ("0112345678", "201", start + timedelta(hours=2), 0, "call-3", "NO ANSWER", ""),
        ("0119999999", "201", start + timedelta(hours=3), 60, "call-4", "ANSWERED", ""),
    ])
    batch = service.new_batch(content, "export.csv", "cdr", user=manager, mapping=mapping)
    db.session.commit()
    assert worker.process(batch.id) == "preview"
    states = {r["ref"]: r["state"] for r in batch.report["rows"]}
    assert states == {"call-1": "imported", "call-2": "imported", "call-4": "unmatched"}
    service.request_import(batch)
    db.session.commit()
    assert worker.process(batch.id) == "imported"
    entries = {e.external_ref: e for e in db.session.scalars(select(TimeEntry))}
    assert set(entries) == {"call-1", "call-2"}
    inbound, outbound = entries["call-1"], entries["call-2"]
    assert inbound.agent_id == outbound.agent_id == mira.id
    assert inbound.client_id == client.id and inbound.kind == EntryKind.PHONE
    assert inbound.ticket_id == ticket.id and outbound.ticket_id is None
    # The talk time (billsec) is billed, from the answer (end - talk time) to the end.
    assert inbound.minutes == 10
    assert inbound.started_at == (start + timedelta(seconds=7)).replace(
        tzinfo=BELGRADE).astimezone(inbound.started_at.tzinfo)
    assert inbound.billable_minutes == entry_billing(
        client, EntryKind.PHONE, inbound.started_at, inbound.ended_at).billable_minutes

    again = service.new_batch(content, "export.csv", "cdr", user=manager, mapping=mapping)
    assert service.run_import(again, manager).created == 0  # idempotent by the mapped call id


def test_a_mapped_column_missing_from_the_file_names_it(factory):
    _, manager, _, _ = _world(factory)
    mapping = service.save_mapping(None, source="cdr", name="Falsch",
                                   columns={**COLUMNS, "billsec": "Dauer"}, is_default=False,
                                   user=manager)
    batch = service.new_batch(export([]) + b"x;y;z\n", "e.csv", "cdr", user=manager,
                              mapping=mapping)
    result = service.preview(batch, manager)
    assert result.rejected
    assert result.bad[0].line_no == 1 and "'Dauer'" in result.bad[0].message
    assert result.bad[0].code == "cdr_header_missing"


def test_the_console_saves_and_edits_every_cdr_field(factory, client, auth):
    _, manager, _, _ = _world(factory)
    auth.login(manager.email)
    page = client.get("/integrations/imports/mappings/new").get_data(as_text=True)
    labels = ["Caller column (src)", "Called number column (dst)", "Call start column",
              "Answer time column", "Call end column", "Duration column (seconds)",
              "Talk time column (billsec, seconds)", "Call ID column (uniqueid)",
              "Disposition column (ANSWERED...)", "Notes column (userfield)",
              "Ticket number column (calls)"]
    for label in labels:
        assert label in page
    form = {"csrf_token": csrf_token_from(page), "name": "Andere PBX", "source": "cdr",
            "customer": "Name", "start": "Start Time", "work_time": "Work Time",
            "session_id": "Session ID", "extensions": "201"}
    # A mapping naming some columns needs the caller, called, start and talk time.
    answer = client.post("/integrations/imports/mappings/new",
                         data={**form, "cdr_src": "Anrufer"})
    assert answer.status_code == 200 and answer.get_data(as_text=True).count(
        "This column is needed.") == 3
    form.update({f"cdr_{k}": v for k, v in COLUMNS.items()})
    assert client.post("/integrations/imports/mappings/new", data=form).status_code == 302
    saved = db.session.scalar(select(ImportMapping).where(ImportMapping.name == "Andere PBX"))
    assert {k: saved.columns[k] for k in COLUMNS} == COLUMNS
    assert saved.columns["answer"] == "" and saved.columns["extensions"] == "201"
    # Editing shows the saved headers in the CDR fields.
    page = client.get(f"/integrations/imports/mappings/{saved.id}").get_data(as_text=True)
    assert 'name="cdr_billsec" type="text" value="Gesprächszeit"' in page
    form["cdr_ticket"] = "Ticket"
    form["csrf_token"] = csrf_token_from(page)
    assert client.post(f"/integrations/imports/mappings/{saved.id}", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(ImportMapping, saved.id).columns["ticket"] == "Ticket"
