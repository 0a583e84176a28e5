"""LogMeIn and Asterisk imports into the ledger: matching, idempotency, all-or-nothing, the CLI."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from helpdesk.accounting import cli as accounting_cli
from helpdesk.accounting.closing import close_month
from helpdesk.accounting.imports import import_cdr, import_logmein
from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.usage import usage_for
from helpdesk.extensions import db
from helpdesk.models import AuditLog, Role, TimeEntry
from tests.worked_example import local

HEADER = [
    "Start Time", "End Time", "Last Action Time", "Technician Name", "Technician ID",
    "Session ID", "Session Type", "Status", "Name", "Custom field 1", "Custom field 2",
    "Custom field 3", "Custom field 4", "Custom field 5", "Tracking ID", "Customer IP",
    "Device ID", "Incident Tools Used", "Resolved Unresolved", "Channel ID", "Channel Name",
    "Calling Card", "Connecting Time", "Waiting Time", "Total Time", "Active Time", "Work Time",
    "Hold Time", "Time in Transfer", "Rebooting Time", "Reconnecting Time", "Platform",
    "Technician Email", "Browser Type",
]


def session(sid: str, customer: str, start: str = "2026-03-03 09:00:00",
            end: str = "2026-03-03 09:40:00", work: str = "00:25:00",
            tech: str = "ana@vendor.example", **extra: str) -> dict[str, str]:
    row = {"Session ID": sid, "Name": customer, "Start Time": start, "End Time": end,
           "Work Time": work, "Total Time": "00:40:00", "Waiting Time": "00:10:00",
           "Technician Name": "Ana", "Technician ID": "1001", "Technician Email": tech}
    row.update(extra)
    return row


def text_report(rows: list[dict[str, str]]) -> bytes:
    lines = ["OK", "|".join(HEADER)]
    lines += ["|".join(r.get(name, "") for name in HEADER) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def csv_report(rows: list[dict[str, str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.get(name, "") for name in header])
    return out.getvalue().encode()


def entries() -> list[TimeEntry]:
    return list(db.session.scalars(select(TimeEntry).order_by(TimeEntry.id)))


@pytest.fixture
def people(factory):
    """Three clients found three ways, and the technician as an agent."""
    acme = factory.client("Acme d.o.o.")
    factory.contact(acme, email="ana@acme.rs", phone="+381 64 123 4567",
                    normalized="381641234567")
    beta = factory.client("Beta Soft", domain="beta.rs")
    factory.contact(beta, email="office@beta.rs", phone="011 222 3333", normalized="381112223333")
    gamma = factory.client("Gamma Soft d.o.o.")
    agent = factory.user(Role.AGENT, email="ana@vendor.example", phone="201")
    db.session.commit()
    return {"acme": acme, "beta": beta, "gamma": gamma, "agent": agent}


# -- LogMeIn -------------------------------------------------------------------------------------


def test_logmein_sessions_are_matched_by_email_domain_then_company(app, people):
    report = text_report([
        session("1001", "ANA@acme.rs"),
        session("1002", "Boss <boss@beta.rs>", work="00:50:00"),
        session("1003", "  gamma SOFT d.o.o. "),
        session("1004", "Unknown Ltd"),
    ])
    result = import_logmein(report, tz="Europe/Belgrade")
    assert (result.rows, result.created, result.duplicates) == (4, 3, 0)
    assert [(row.line_no, row.ref) for row in result.unmatched] == [(6, "1004")]
    by_ref = {e.external_ref: e for e in entries()}
    assert by_ref["1001"].client_id == people["acme"].id
    assert by_ref["1002"].client_id == people["beta"].id
    assert by_ref["1003"].client_id == people["gamma"].id
    acme = by_ref["1001"]
    # The work time is billed (25 minutes -> 30), not the 40 minutes with the waiting.
    assert (acme.kind, acme.source, acme.minutes, acme.billable_minutes) == (
        "remote", "logmein", 25, 30
    )
    assert acme.started_at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 09:00 Belgrade
    assert acme.agent_id == people["agent"].id
    assert "LogMeIn session 1001" in acme.note
    assert result.created_minutes == 30 + 60 + 30
    actions = db.session.scalars(select(AuditLog.actor).where(
        AuditLog.entity_type == "time_entries")).all()
    assert actions == ["import"] * 3


def test_reimporting_the_same_logmein_file_adds_nothing(app, people):
    report = text_report([session("2001", "ana@acme.rs"), session("2002", "office@beta.rs")])
    first = import_logmein(report, tz="Europe/Belgrade")
    db.session.commit()
    before = usage_for(people["acme"], "2026-03")
    second = import_logmein(report, tz="Europe/Belgrade")
    db.session.commit()
    assert (first.created, second.created, second.duplicates) == (2, 0, 2)
    assert len(entries()) == 2
    assert usage_for(people["acme"], "2026-03") == before


def test_logmein_file_with_a_bad_row_imports_nothing_and_names_the_line(app, people):
    report = text_report([
        session("3001", "ana@acme.rs"),
        session("3002", "ana@acme.rs", work="25 minutes"),
        session("3003", "ana@acme.rs"),
    ])
    result = import_logmein(report, tz="Europe/Belgrade")
    assert result.rejected
    assert [e.line_no for e in result.bad] == [4]
    assert "Work Time" in result.bad[0].message
    assert entries() == []
    # With --skip-bad the good rows go in and the bad one is listed.
    result = import_logmein(report, tz="Europe/Belgrade", skip_bad=True)
    assert not result.rejected
    assert result.created == 2 and [e.line_no for e in result.bad] == [4]
    assert sorted(e.external_ref for e in entries()) == ["3001", "3003"]


def test_logmein_csv_with_the_customer_in_renamed_columns(app, people):
    header = [("Customer email" if h == "Custom field 1" else "Company" if h == "Name" else h)
              for h in HEADER]
    rows = [
        {"Session ID": "4001", "Company": "Somebody", "Customer email": "ana@acme.rs",
         "Start Time": "3/3/2026 9:00 AM", "End Time": "3/3/2026 9:20 AM", "Work Time": "00:14:10",
         "Technician Email": "nobody@vendor.example"},
        {"Session ID": "4002", "Company": "Gamma Soft d.o.o.", "Customer email": "",
         "Start Time": "3/3/2026 1:00 PM", "End Time": "3/3/2026 1:20 PM", "Work Time": "00:20:00"},
    ]
    result = import_logmein(csv_report(rows, header), tz="Europe/Belgrade", fmt="csv",
                            customer_columns=("Customer email", "Company"))
    assert result.created == 2, result
    by_ref = {e.external_ref: e for e in entries()}
    assert by_ref["4001"].client_id == people["acme"].id
    assert by_ref["4001"].billable_minutes == 15
    assert by_ref["4001"].agent_id is None
    assert "nobody@vendor.example is not a user" in result.warnings[0].message
    assert by_ref["4002"].client_id == people["gamma"].id
    # A column that is not there is a header error, whatever the mode.
    missing = import_logmein(csv_report(rows, header), tz="Europe/Belgrade", skip_bad=True,
                             customer_columns=("Customer email", "Firma"))
    assert missing.rejected and "Firma" in missing.bad[0].message


def test_open_zero_and_closed_month_sessions_are_listed_not_imported(app, people):
    close_month("2026-02")
    report = text_report([
        session("5001", "ana@acme.rs", end="", work="00:10:00"),
        session("5002", "ana@acme.rs", work="00:00:00"),
        session("5003", "ana@acme.rs", start="2026-02-27 10:00:00",
                end="2026-02-27 10:30:00"),
        session("5004", "ana@acme.rs"),
    ])
    result = import_logmein(report, tz="Europe/Belgrade")
    assert result.created == 1
    reasons = {row.ref: row.message for row in result.skipped}
    assert set(reasons) == {"5001", "5002", "5003"}
    assert "open" in reasons["5001"] and "closed" in reasons["5003"]


def test_a_session_timed_in_the_console_is_not_billed_again(app, people):
    log_entry(client=people["acme"], kind="remote", started_at=local(2026, 3, 3, 9, 0),
              minutes=25, source="timer", external_ref="6001")
    result = import_logmein(text_report([session("6001", "ana@acme.rs")]), tz="Europe/Belgrade")
    assert (result.created, result.duplicates) == (0, 1)
    assert "timer" in result.warnings[0].message
    assert len(entries()) == 1


# -- Asterisk CDR --------------------------------------------------------------------------------


def cdr_row(uid: str, src: str, dst: str, answer: str | None = "2026-03-03 09:15:08",
            billsec: int = 742, disposition: str = "ANSWERED",
            dstchannel: str = "PJSIP/201-00000002", channel: str = "PJSIP/trunk-00000001",
            start: str = "2026-03-03 09:15:00", end: str = "2026-03-03 09:27:30") -> str:
    quoted = [f'"{v}"' for v in ("", src, dst, "from-internal", f'""X"" <{src}>', channel,
                                  dstchannel, "Dial", "PJSIP/201,30", start)]
    answer_field = f'"{answer}"' if answer else ""
    return ",".join(quoted + [answer_field, f'"{end}"', str(billsec + 8), str(billsec),
                              f'"{disposition}"', '"DOCUMENTATION"', f'"{uid}"', '""'])


def master_csv(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def test_cdr_answered_support_calls_become_phone_entries(app, people):
    data = master_csv([
        cdr_row("1.1", "0641234567", "201"),  # Acme's contact calls agent 201
        cdr_row("1.2", "200", "0112223333", channel="PJSIP/200-01",
                dstchannel="PJSIP/trunk-02", billsec=60),  # we call Beta
        cdr_row("1.3", "0641234567", "201", answer=None, billsec=0,
                disposition="NO ANSWER"),  # missed
        cdr_row("1.4", "201", "202", dstchannel="PJSIP/202-03", channel="PJSIP/201-04"),
        cdr_row("1.5", "0609999999", "201"),  # nobody we know
    ])
    result = import_cdr(data, tz="Europe/Belgrade", extensions=["200", "201", "202"])
    assert result.created == 2
    assert result.ignored == 2  # the missed and the internal call
    assert [(r.line_no, r.ref) for r in result.unmatched] == [(5, "1.5")]
    by_ref = {e.external_ref: e for e in entries()}
    call = by_ref["1.1"]
    assert (call.client_id, call.kind, call.source) == (people["acme"].id, "phone", "cdr")
    # Talk time from the answer: 742 s -> 13 min -> 15 billable; 09:15:08 Belgrade.
    assert (call.minutes, call.billable_minutes) == (13, 15)
    assert call.started_at == datetime(2026, 3, 3, 8, 15, 8, tzinfo=UTC)
    assert call.agent_id == people["agent"].id  # the agent whose phone is extension 201
    assert by_ref["1.2"].client_id == people["beta"].id


def test_reimporting_the_same_cdr_file_adds_nothing(app, people):
    data = master_csv([cdr_row("2.1", "0641234567", "201"),
                       cdr_row("2.2", "0641234567", "201", start="2026-03-04 10:00:00",
                               answer="2026-03-04 10:00:05", end="2026-03-04 10:20:00")])
    assert import_cdr(data, tz="Europe/Belgrade").created == 2
    db.session.commit()
    again = import_cdr(data, tz="Europe/Belgrade")
    db.session.commit()
    assert (again.created, again.duplicates) == (0, 2)
    assert len(entries()) == 2


def test_cdr_file_with_a_bad_row_imports_nothing(app, people):
    good = cdr_row("3.1", "0641234567", "201")
    bad = cdr_row("3.2", "0641234567", "201").replace('"2026-03-03 09:15:00"', '"03/03/2026"')
    result = import_cdr(master_csv([good, bad, good.replace("3.1", "3.3")]),
                        tz="Europe/Belgrade")
    assert result.rejected and [e.line_no for e in result.bad] == [2]
    assert entries() == []


# -- the command line ----------------------------------------------------------------------------


def test_cli_import_logmein_dry_run_then_real_then_again(app, people, tmp_path: Path):
    path = tmp_path / "sessions.txt"
    path.write_bytes(text_report([session("7001", "ana@acme.rs"),
                                  session("7002", "Nobody GmbH")]))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["import", "logmein", str(path), "--tz", "Europe/Belgrade",
                              "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "unmatched: line 4 (7002)" in dry.output
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 0
    real = runner.invoke(args=["import", "logmein", str(path), "--tz", "Europe/Belgrade"])
    assert real.exit_code == 0 and "1 entries created" in real.output
    again = runner.invoke(args=["import", "logmein", str(path), "--tz", "Europe/Belgrade"])
    assert "0 entries created" in again.output and "1 already imported" in again.output
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 1


def test_cli_import_names_the_bad_line_and_exits_non_zero(app, people, tmp_path: Path):
    path = tmp_path / "sessions.txt"
    path.write_bytes(text_report([session("8001", "ana@acme.rs"),
                                  session("8002", "ana@acme.rs", start="yesterday")]))
    result = app.test_cli_runner().invoke(args=["import", "logmein", str(path)])
    assert result.exit_code == 1
    assert "line 4" in result.output
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 0
    skipped = app.test_cli_runner().invoke(args=["import", "logmein", str(path), "--skip-bad"])
    assert skipped.exit_code == 0 and "1 entries created" in skipped.output


def test_cli_import_cdr_with_a_progress_bar(app, people, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(accounting_cli, "PROGRESS_MIN_LINES", 1)
    path = tmp_path / "Master.csv"
    path.write_bytes(master_csv([cdr_row(f"9.{i}", "0641234567", "201") for i in range(3)]))
    result = app.test_cli_runner().invoke(args=["import", "cdr", str(path), "--extensions",
                                                "201"])
    assert result.exit_code == 0, result.output
    assert "3 entries created" in result.output


def test_cli_close_month_adjust_and_usage(app, people):
    entry = log_entry(client=people["acme"], kind="email", started_at=local(2026, 2, 3, 9, 0),
                      minutes=40)
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["billing", "close-month", "2026-02"])
    assert out.exit_code == 0 and "2026-02 closed." in out.output
    out = runner.invoke(args=["billing", "close-month", "2026-02"])
    assert "already" in out.output
    refused = runner.invoke(args=["billing", "close-month", "2999-01"])
    assert refused.exit_code == 1 and "not over" in refused.output
    out = runner.invoke(args=["billing", "adjust", str(entry.id), "--minutes", "-25",
                              "--reason", "logged twice"])
    assert out.exit_code == 0, out.output
    assert "-30 billable" in out.output  # 40 -> 15 minutes: 45 -> 15
    out = runner.invoke(args=["billing", "usage", str(people["acme"].id), "2026-02"])
    assert '"billable_minutes": 45' in out.output and '"closed": true' in out.output


def test_cli_contract_upgrade_and_downgrade(app, factory):
    c = factory.client()
    factory.contract(c, "standard", start=date(2025, 1, 1))
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["contract", "upgrade", str(c.id), "extended", "--date",
                              "2026-03-21"])
    assert out.exit_code == 0, out.output
    assert "upgraded to Extended from 2026-03-21" in out.output
    assert usage_for(c, "2026-03").included_minutes == 406  # as in the worked example
    out = runner.invoke(args=["contract", "downgrade", str(c.id), "basic", "--date",
                              "2026-04-10"])
    assert "from 2026-05-01" in out.output
    out = runner.invoke(args=["contract", "upgrade", str(c.id), "platinum"])
    assert out.exit_code == 2 and "basic, standard, extended" in out.output
