"""Exports of a month (CSV, XLSX): the same figures as the usage API, streamed, scoped by role."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from helpdesk.accounting.ledger import log_entry
from helpdesk.extensions import db
from helpdesk.models import ApiToken, EntrySource, Role
from reports.export import TIME_ENTRY_COLUMNS, ExportScope, csv_chunks, export, write
from tests.worked_example import BELGRADE, build_worked_example


def _api(http, user, client_id: int, period: str) -> dict:
    token, plain = ApiToken.issue(user)
    db.session.add(token)
    db.session.commit()
    response = http.get(f"/api/v1/clients/{client_id}/usage?month={period}",
                        headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200
    return response.get_json()


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _xlsx(content: bytes) -> list[dict]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.fixture
def worked(app, factory):
    client, period, expected = build_worked_example(factory)
    other = factory.client("Other Company d.o.o.")
    factory.contract(other, "basic", start=date(2025, 1, 1))
    log_entry(client=other, kind="email", started_at=datetime(2026, 3, 9, 10, tzinfo=BELGRADE),
              minutes=50, source=EntrySource.MANUAL)
    db.session.commit()
    return client, other, period, expected


def test_time_entry_csv_and_xlsx_add_up_to_the_usage_api(app, client, factory, worked, tmp_path):
    company, _other, period, _ = worked
    api = _api(client, factory.user(Role.ADMIN), company.id, period)
    data = export("time-entries", period, ExportScope(client_id=company.id))
    rows = _csv("".join(csv_chunks(data)))
    assert set(TIME_ENTRY_COLUMNS) >= {"client_id", "ticket_number", "started_at", "kind",
                                        "worked_minutes", "billable_minutes"}
    by_kind: dict[str, int] = defaultdict(int)
    for row in rows:
        assert row["client_id"] == str(company.id) and row["ticket_number"]
        by_kind[row["kind"]] += int(row["billable_minutes"])
    assert dict(by_kind) == api["used_minutes_by_kind"]
    assert sum(int(r["worked_minutes"]) for r in rows) == api["worked_minutes"]
    assert rows[0]["started_at"].endswith("+00:00")

    path = tmp_path / "entries.xlsx"
    assert write(export("time-entries", period, ExportScope(client_id=company.id)), "xlsx",
                 path) == len(rows)
    sheet = _xlsx(path.read_bytes())
    assert sum(r["billable_minutes"] for r in sheet) == sum(api["used_minutes_by_kind"].values())
    assert isinstance(sheet[0]["started_at"], datetime)


def test_usage_export_is_the_api_to_the_minute_and_cent(app, client, factory, worked, tmp_path):
    company, other, period, _ = worked
    admin = factory.user(Role.ADMIN)
    for fmt in ("csv", "xlsx"):
        path = tmp_path / f"usage.{fmt}"
        write(export("usage", period), fmt, path)
        rows = _csv(path.read_text()) if fmt == "csv" else _xlsx(path.read_bytes())
        assert {int(r["client_id"]) for r in rows} == {company.id, other.id}
        for row in rows:
            api = _api(client, admin, int(row["client_id"]), period)
            for key in ("included_minutes", "billable_minutes", "worked_minutes",
                        "overage_minutes", "out_of_hours_surcharge_minutes",
                        "free_visit_minutes", "development_minutes"):
                assert int(row[key]) == api[key], (fmt, key)
            for key in ("overage_amount", "development_amount", "fee", "total"):
                assert Decimal(str(row[key])) == Decimal(api[key]), (fmt, key)
            assert Decimal(str(row["addons_amount"])) == sum(
                (Decimal(a["amount"]) for a in api["addons"]), Decimal(0))


def test_tickets_export_lists_the_months_tickets(app, worked):
    company, _other, period, _ = worked
    rows = _csv("".join(csv_chunks(export("tickets", period))))
    assert [r["subject"] for r in rows] == ["Printer at the front desk"]
    assert rows[0]["client_id"] == str(company.id)


def test_export_command_writes_the_file_and_rejects_bad_input(app, worked, tmp_path):
    company, _other, period, expected = worked
    runner = app.test_cli_runner()
    out = tmp_path / "usage.xlsx"
    result = runner.invoke(args=["report", "export", "usage", "--month", period, "--format",
                                 "xlsx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 row(s)" in result.output
    total = {r["client_id"]: r["total"] for r in _xlsx(out.read_bytes())}
    assert Decimal(str(total[company.id])) == Decimal(expected["total"])
    bad = runner.invoke(args=["report", "export", "usage", "--month", "2026-13", "--out",
                              str(out)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert not (tmp_path / "usage.xlsx.part").exists()


def test_console_downloads_are_streamed_and_scoped(app, client, auth, factory, worked):
    company, other, period, _ = worked
    manager = db.session.get(type(factory.user()), company.account_manager_id)
    manager.set_password("secret-pass-1")
    db.session.commit()
    auth.login(manager.email)
    response = client.get(f"/console/exports/time-entries.csv?month={period}")
    assert response.status_code == 200 and response.is_streamed
    rows = _csv(response.get_data(as_text=True))
    assert rows and {r["client_id"] for r in rows} == {str(company.id)}  # own clients only
    # Another manager's (or nobody's) client is not there to be guessed.
    assert client.get(f"/console/exports/usage.csv?month={period}&client={other.id}"
                      ).status_code == 404
    xlsx = client.get(f"/console/exports/usage.xlsx?month={period}")
    content = xlsx.get_data()
    xlsx.close()  # send_file keeps the spooled file open until the response closes
    assert xlsx.status_code == 200
    assert [r["client_id"] for r in _xlsx(content)] == [company.id]
    assert client.get("/console/exports/usage.csv?month=2026-3").status_code == 400
    assert client.get("/console/exports/secrets.csv").status_code == 404
    page = client.get(f"/console/clients/{company.id}/time?month={period}")
    assert b"/console/exports/time-entries.csv" in page.data

    auth.logout()
    agent = factory.user(Role.AGENT)
    db.session.commit()
    auth.login(agent.email)
    assert client.get(f"/console/exports/usage.csv?month={period}").status_code == 404
    assert client.get(f"/console/exports/tickets.csv?month={period}").status_code == 200


def test_api_serves_the_same_export_with_the_same_rules(app, client, factory, worked):
    company, other, period, expected = worked
    manager = db.session.get(type(factory.user()), company.account_manager_id)
    token, plain = ApiToken.issue(manager)
    db.session.add(token)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    response = client.get(f"/api/v1/exports/usage?month={period}&format=csv", headers=headers)
    assert response.status_code == 200 and response.is_streamed
    (row,) = _csv(response.get_data(as_text=True))  # the manager's one client
    assert row["total"] == expected["total"] and int(row["client_id"]) == company.id
    assert client.get(f"/api/v1/exports/usage?month={period}&client={other.id}",
                      headers=headers).status_code == 404
    assert client.get(f"/api/v1/exports/usage?month={period}&format=pdf",
                      headers=headers).status_code == 400
    assert client.get(f"/api/v1/exports/usage?month={period}").status_code == 401
