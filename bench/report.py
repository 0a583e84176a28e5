"""Benchmark of the monthly usage report renderer on synthetic months.

Measures (a) one report with 1,000 time entries (target < 0.75 s) and (b) 200 clients' reports
with 100 entries each through `render_many` on all cores (target < 20 s on 2 cores).
With --through-db it also seeds a scratch SQLite database with the same months and times the
product's path: `reports.data.report_input` + rendering of the 1,000-entry month, and
`reports.batch.monthly` (figures from the accounting services, rendering, storing) of all clients.
The last line printed is a JSON object with the timings in seconds.

    .venv/bin/python bench/report.py [--clients 200] [--entries 100] [--out bench/out] [--through-db]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reports.model import (
    AccountManager,
    Addon,
    Channel,
    ChannelMinutes,
    Client,
    ReportInput,
    SlaCompliance,
    SlaOutcome,
    Summary,
    TicketLine,
    TimeEntryLine,
    Vendor,
    Visits,
)
from reports.pdf import render_many, render_report

AGENTS = ("Đorđe Petrović", "Ayşe Yılmaz", "Milica Šarić", "İlker Öztürk", "Nikola Živković")
SUBJECTS = (
    "Štampač ne radi nakon ažuriranja",
    "Fatura çıktısında Türkçe karakter sorunu",
    "VPN connection drops every hour",
    "Izveštaj o zalihama se sporo učitava",
    "Yedekleme görevi başarısız oldu",
)
LANGUAGES = ("en", "sr", "tr")


def synthetic_input(index: int, entries: int, period: str = "2026-10") -> ReportInput:
    """A plausible month for client number `index`, with `entries` time entries."""
    rng = random.Random(index * 7919 + entries)
    zone = ZoneInfo("Europe/Belgrade")
    year, month = int(period[:4]), int(period[5:])
    first = datetime(year, month, 1, tzinfo=zone)
    last = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    days = (last.date() - first.date()).days
    daily = [0] * days
    by_channel = dict.fromkeys(Channel, 0)
    tickets = [f"HD-{10_000 + index * 50 + n}" for n in range(max(1, entries // 8))]
    time_entries = []
    for _ in range(entries):
        day = rng.randrange(days)
        local = datetime(year, month, day + 1, rng.randrange(7, 21), rng.randrange(0, 60, 5))
        start = local.replace(tzinfo=zone).astimezone(UTC)
        duration = rng.choice((15, 30, 45, 60, 90, 120))
        kind = rng.choice(list(Channel))
        out_of_hours = local.hour >= 17 or local.weekday() >= 5
        daily[day] += duration
        by_channel[kind] += duration
        time_entries.append(
            TimeEntryLine(
                start=start,
                agent=rng.choice(AGENTS),
                kind=kind,
                duration_minutes=duration,
                billable_minutes=duration if kind is not Channel.DEVELOPMENT else 0,
                out_of_hours=out_of_hours,
                ticket_number=rng.choice(tickets),
            )
        )
    time_entries.sort(key=lambda entry: entry.start)
    used = sum(daily)
    billable = sum(entry.billable_minutes for entry in time_entries)
    included = 20 * 60
    overage = max(0, billable - included)
    overage_amount = (Decimal(overage) * Decimal("45.00") / 60).quantize(Decimal("0.01"))
    fee = Decimal("900.00")
    addons = (Addon("Dežurstvo vikendom", Decimal("120.00")),)
    development = Decimal(by_channel[Channel.DEVELOPMENT]) * Decimal("60.00") / 60
    development = development.quantize(Decimal("0.01"))
    total = fee + overage_amount + sum(a.amount for a in addons) + development
    return ReportInput(
        vendor=Vendor("Softverska kuća Čačak d.o.o."),
        client=Client(f"Klijent {index:03d} Žitište", LANGUAGES[index % 3], "Europe/Belgrade"),
        period=period,
        account_manager=AccountManager("Jelena Đurić", "jelena.djuric@example.com"),
        package_name="Zlatni paket 20 h",
        preliminary=index % 2 == 0,
        issued_at=last.astimezone(UTC),
        summary=Summary(
            included_minutes=included,
            used_minutes=used,
            billable_minutes=billable,
            balance_minutes=included - billable,
            overage_minutes=overage,
            overage_amount=overage_amount,
            fee=fee,
            development_amount=development,
            no_contract_amount=Decimal("0.00"),
            total=total,
            currency="EUR",
            addons=addons,
        ),
        channel_minutes=ChannelMinutes(**{c.value: m for c, m in by_channel.items()}),
        daily_minutes=tuple(daily),
        tickets=tuple(
            TicketLine(
                number=number,
                subject=rng.choice(SUBJECTS),
                status=rng.choice(("open", "pending", "resolved", "closed")),
                minutes_spent=rng.randrange(15, 600, 15),
                first_response=rng.choice(list(SlaOutcome)),
                resolution=rng.choice(list(SlaOutcome)),
            )
            for number in tickets
        ),
        time_entries=tuple(time_entries),
        sla=SlaCompliance(Decimal("93.3"), Decimal("87.5")),
        visits=Visits(used=2, left=10),
    )


def _compile_catalogs() -> None:
    """Compile the report catalogs as the build does, when a fresh checkout has no .mo yet."""
    translations = Path(__file__).resolve().parent.parent / "reports" / "translations"
    if all(po.with_suffix(".mo").exists() for po in translations.glob("*/LC_MESSAGES/*.po")):
        return
    command = [sys.executable, "-m", "babel.messages.frontend", "compile"]
    subprocess.run([*command, "-d", str(translations), "-D", "reports"], check=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _progress_bar(done: int, total: int) -> None:
    width = 40
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _seed(clients: int, entries: int, period: str) -> list[int]:
    """Clients on Standard with ``entries`` entries each in ``period``; ids, the first of a client
    with 1,000 entries the month before (its contract ends then, so the batch leaves it out)."""
    from datetime import date, timedelta

    from helpdesk.accounting.periods import month_bounds
    from helpdesk.extensions import db
    from helpdesk.models import Client as ClientRow
    from helpdesk.models import (
        ClosedMonth,
        Contract,
        ContractChange,
        Package,
        Role,
        Ticket,
        TimeEntry,
        User,
    )
    from helpdesk.pricelist.catalogue import ensure_catalogue

    ensure_catalogue()
    standard = db.session.query(Package).filter_by(code="standard").one()
    agents = [User(email=f"agent{n}@bench.test", name=name, role=Role.AGENT)
              for n, name in enumerate(AGENTS)]  # fmt: skip
    db.session.add_all(agents)
    db.session.flush()
    ids, rows, number = [], [], 10_000
    first, _, _ = month_bounds(period)
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    for index in range(clients + 1):
        data = synthetic_input(index, 1000, previous) if index == 0 else synthetic_input(
            index, entries, period)
        client = ClientRow(name=data.client.name, language={"sr": "sr_Latn"}.get(
            data.client.language, data.client.language), timezone="Europe/Belgrade")
        db.session.add(client)
        db.session.flush()
        contract = Contract(client_id=client.id, package_id=standard.id, status="active",
                            start_date=date(2025, 1, 1),
                            end_date=first - timedelta(days=1) if index == 0 else None)
        contract.changes.append(ContractChange(effective_date=date(2025, 1, 1), kind="start",
                                               package_id=standard.id))  # fmt: skip
        db.session.add(contract)
        tickets = {}
        for line in data.tickets:
            number += 1
            ticket = Ticket(number=number, subject=line.subject, status=line.status,
                            client_id=client.id, created_at=data.time_entries[0].start)  # fmt: skip
            db.session.add(ticket)
            tickets[line.number] = ticket
        db.session.flush()
        for entry in data.time_entries:
            rows.append({
                "client_id": client.id, "ticket_id": tickets[entry.ticket_number].id,
                "agent_id": agents[AGENTS.index(entry.agent)].id, "kind": entry.kind.value,
                "source": "manual", "started_at": entry.start, "minutes": entry.duration_minutes,
                "billable_minutes": entry.billable_minutes, "out_of_hours": entry.out_of_hours,
                "period": data.period,
            })  # fmt: skip
        ids.append(client.id)
    db.session.execute(TimeEntry.__table__.insert(), rows)
    db.session.add_all([ClosedMonth(period=previous), ClosedMonth(period=period)])
    db.session.commit()
    return ids


def through_database(clients: int, entries: int, out_dir: Path) -> tuple[float, float]:
    """(one 1,000-entry report from the database, the monthly batch of all clients) in seconds."""
    from helpdesk import create_app
    from helpdesk.extensions import db
    from helpdesk.models import Client as ClientRow
    from reports.batch import monthly
    from reports.data import report_input

    period = "2026-10"
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({
            "TESTING": True, "SECRET_KEY": "bench", "MAIL_SUPPRESS_SEND": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch}/bench.db",
        })  # fmt: skip
        with app.app_context():
            db.create_all()
            ids = _seed(clients, entries, period)
            big = db.session.get(ClientRow, ids[0])
            started = time.perf_counter()
            render_report(report_input(big, "2026-09"))
            single = time.perf_counter() - started
            started = time.perf_counter()
            result = monthly(period, out_dir=out_dir, progress=_progress_bar)
            many = time.perf_counter() - started
            db.session.remove()
            db.engine.dispose()
    print(f"through the database: 1,000 entries {single:.3f} s; {result} in {many:.2f} s")
    return single, many


def main() -> None:
    """Run both measurements and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="keep the PDFs here")
    parser.add_argument("--through-db", action="store_true", help="also time the product's path")
    args = parser.parse_args()
    _compile_catalogs()

    big = synthetic_input(0, 1000)
    started = time.perf_counter()
    render_report(big)
    cold = time.perf_counter() - started
    warm, cpu = [], []
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        render_report(big)
        warm.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    single = statistics.median(warm)
    print(
        f"1,000 entries: first {cold:.3f} s (fonts, catalogs), then median {single:.3f} s "
        f"(CPU {statistics.median(cpu):.3f} s; wall time suffers when other work shares the cores)"
    )

    inputs = [synthetic_input(index, args.entries) for index in range(1, args.clients + 1)]
    with tempfile.TemporaryDirectory() as scratch:
        out_dir = args.out or Path(scratch)
        children_cpu = _children_cpu()
        started = time.perf_counter()
        paths = render_many(inputs, out_dir, progress=_progress_bar)
        many = time.perf_counter() - started
        children_cpu = _children_cpu() - children_cpu
        size = sum(path.stat().st_size for path in paths)
    print(
        f"{len(paths)} reports with {args.entries} entries: {many:.2f} s, {size / 1e6:.1f} MB "
        f"(worker CPU {children_cpu:.1f} s on {os.cpu_count()} cores)"
    )
    figures = {"report_1000_entries_s": round(single, 3), "reports_200_clients_s": round(many, 2)}
    if args.through_db:
        with tempfile.TemporaryDirectory() as scratch:
            db_single, db_many = through_database(args.clients, args.entries, Path(scratch))
        figures["db_report_1000_entries_s"] = round(db_single, 3)
        figures["db_reports_200_clients_s"] = round(db_many, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
