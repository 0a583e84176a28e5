"""Benchmark of the streamed exports; the last line printed is one JSON object:
``{"export_csv_rows_per_s": ..., "export_xlsx_rows_per_s": ..., "export_csv_peak_rss_mb": ...,
"export_xlsx_peak_rss_mb": ..., "export_rss_growth_10k_to_100k_mb": ...}``.

The time entries of a month are exported with ``flask report export``'s code path
(:func:`reports.export.write`) in a fresh child process each time, once for a month of 10,000
entries and once for a month of 100,000 (200 clients): the child's peak RSS is read from
``getrusage``. Flat memory means the peak barely moves between the two (the rows stream from
the database cursor to the file; openpyxl's write-only workbook spools them to disk).

Runs on SQLite in a temporary directory, or on the database of ``HELPDESK_BENCH_DATABASE_URL``
(an empty PostgreSQL database: its tables are created and dropped). Usage: python bench/export.py
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BELGRADE = ZoneInfo("Europe/Belgrade")
KINDS = ("remote", "remote", "phone", "phone", "email", "consulting", "development", "visit")
MONTHS = {"2026-02": 10_000, "2026-03": 100_000}
CLIENTS = 200


def _app(url: str, tmp: str):
    from helpdesk import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "INSTANCE_PATH": tmp})


def populate(url: str, tmp: str) -> None:
    from sqlalchemy import insert, select

    from helpdesk.extensions import db
    from helpdesk.models import Client, Contract, ContractChange, Package, TimeEntry, User
    from helpdesk.pricelist.catalogue import ensure_catalogue

    rng = random.Random(18)
    app = _app(url, tmp)
    with app.app_context():
        db.create_all()
        ensure_catalogue()
        standard = db.session.scalar(select(Package).where(Package.code == "standard"))
        db.session.execute(insert(Client), [
            {"name": f"Export client {i:03d}", "country": "RS", "timezone": "Europe/Belgrade",
             "language": "sr_Latn"} for i in range(CLIENTS)])
        agent = User(email="bench-agent@example.test", name="Bench Agent", role="agent")
        db.session.add(agent)
        ids = list(db.session.scalars(select(Client.id)))
        for client_id in ids:
            contract = Contract(client_id=client_id, package_id=standard.id, status="active",
                                start_date=date(2025, 1, 1))
            contract.changes.append(ContractChange(effective_date=date(2025, 1, 1),
                                                   kind="start", package_id=standard.id))
            db.session.add(contract)
        db.session.flush()
        for period, count in MONTHS.items():
            year, month = map(int, period.split("-"))
            batch = []
            for i in range(count):
                start = datetime(year, month, rng.randrange(1, 29), rng.randrange(7, 20),
                                 rng.randrange(60), tzinfo=BELGRADE).astimezone(UTC)
                minutes = rng.randrange(1, 120)
                batch.append({
                    "client_id": ids[i % CLIENTS], "agent_id": agent.id,
                    "kind": rng.choice(KINDS), "source": "manual", "started_at": start,
                    "ended_at": start + timedelta(minutes=minutes), "minutes": minutes,
                    "billable_minutes": -(-minutes // 15) * 15, "out_of_hours_minutes": 0,
                    "out_of_hours": False, "needs_review": False, "period": period,
                    "is_adjustment": False, "note": "bench entry with a short note",
                })
                if len(batch) == 10_000:
                    db.session.execute(insert(TimeEntry), batch)
                    batch = []
            if batch:
                db.session.execute(insert(TimeEntry), batch)
        db.session.commit()


def child(url: str, tmp: str, period: str, fmt: str) -> None:
    """Export one month in this (fresh) process; print rows, seconds and peak RSS."""
    from reports.export import export, write

    app = _app(url, tmp)
    with app.app_context():
        out = Path(tmp) / f"out-{period}.{fmt}"
        began = time.perf_counter()
        rows = write(export("time-entries", period), fmt, out)
        seconds = time.perf_counter() - began
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak_kb / 1024,
                      "bytes": out.stat().st_size}))


def run_child(url: str, tmp: str, period: str, fmt: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, tmp, period, fmt],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("HELPDESK_BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        began = time.perf_counter()
        populate(url, tmp)
        print(f"{sum(MONTHS.values()):,} entries written in {time.perf_counter() - began:.1f} s "
              f"({url.split(':')[0]})")
        figures: dict[str, dict[str, dict]] = {}
        for fmt in ("csv", "xlsx"):
            for period, count in MONTHS.items():
                result = run_child(url, tmp, period, fmt)
                assert result["rows"] == count, result
                figures.setdefault(fmt, {})[period] = result
                print(f"{fmt}: {count:,} rows in {result['seconds']:.2f} s "
                      f"({count / result['seconds']:,.0f} rows/s), peak RSS "
                      f"{result['peak_rss_mb']:.1f} MB, file {result['bytes'] / 1e6:.1f} MB")
        if url.startswith("postgresql"):
            from helpdesk.extensions import db

            with _app(url, tmp).app_context():
                db.drop_all()
    big, small = "2026-03", "2026-02"
    growth = max(figures[fmt][big]["peak_rss_mb"] - figures[fmt][small]["peak_rss_mb"]
                 for fmt in figures)
    print(json.dumps({
        "export_csv_rows_per_s": round(MONTHS[big] / figures["csv"][big]["seconds"]),
        "export_xlsx_rows_per_s": round(MONTHS[big] / figures["xlsx"][big]["seconds"]),
        "export_csv_peak_rss_mb": round(figures["csv"][big]["peak_rss_mb"], 1),
        "export_xlsx_peak_rss_mb": round(figures["xlsx"][big]["peak_rss_mb"], 1),
        "export_rss_growth_10k_to_100k_mb": round(growth, 1),
    }))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()
