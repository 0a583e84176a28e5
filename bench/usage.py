"""Benchmark of the usage computation on SQLite; the last line printed is one JSON object:
``{"usage_10k_entries_ms": ..., "usage_1000_clients_s": ...}``.

* ``usage_10k_entries_ms``: :func:`usage_for` of one client with 10,000 entries in the month
  (median of 7 runs after one warm-up; targets: < 50 ms).
* ``usage_1000_clients_s``: :func:`usage_many` of 1,000 clients (20 entries each, contracts with
  add-ons and an upgrade for some) for one month (median of 3 runs; target: < 5 s).

Entries are spread over the month at any hour (a fifth out of hours), mostly remote sessions and
calls, with one visit per client (visits are the rare kind that is summed entry by entry).

The data is written with bulk inserts (this measures the reading, not the logging) into a fresh
SQLite database in a temporary directory. Usage: python bench/usage.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from helpdesk import create_app
from helpdesk.accounting.usage import usage_for, usage_many
from helpdesk.extensions import db
from helpdesk.models import (
    Addon,
    Client,
    Contract,
    ContractAddon,
    ContractChange,
    Package,
    TimeEntry,
)
from helpdesk.pricelist.catalogue import ensure_catalogue

PERIOD = "2026-03"
#: The mix of work: mostly calls and remote sessions; visits are rare (one or two a year).
KINDS = ("remote", "remote", "phone", "phone", "phone", "email", "consulting", "development")
BELGRADE = ZoneInfo("Europe/Belgrade")


def entry_rows(client_id: int, n: int, rng: random.Random) -> list[dict]:
    """``n`` entries spread over March 2026 as the ledger would have written them."""
    rows = []
    for i in range(n):
        start = datetime(2026, 3, rng.randrange(1, 32), rng.randrange(0, 24), rng.randrange(60),
                         tzinfo=BELGRADE).astimezone(UTC)
        minutes = rng.randrange(1, 120)
        ooh = rng.random() < 0.2
        rows.append({
            "client_id": client_id, "kind": "visit" if i == 0 else rng.choice(KINDS),
            "source": "demo",
            "started_at": start, "ended_at": start + timedelta(minutes=minutes),
            "minutes": minutes, "billable_minutes": -(-minutes // 15) * 15,
            "out_of_hours_minutes": minutes if ooh else 0, "out_of_hours": ooh,
            "needs_review": ooh, "period": PERIOD, "is_adjustment": False,
        })
    return rows


def populate(rng: random.Random) -> tuple[Client, list[Client]]:
    """One client with 10,000 entries and 1,000 clients with 20 each."""
    ensure_catalogue()
    packages = {p.code: p for p in db.session.scalars(select(Package))}
    addons = {a.code: a for a in db.session.scalars(select(Addon))}
    db.session.execute(insert(Client), [
        {"name": f"Bench client {i:04d}", "country": "RS" if i % 4 else "TR",
         "timezone": "Europe/Belgrade" if i % 4 else "Europe/Istanbul",
         "language": "sr_Latn" if i % 4 else "tr"}
        for i in range(1001)
    ])
    clients = list(db.session.scalars(select(Client).order_by(Client.id)))
    codes = ("basic", "standard", "extended")
    for i, client in enumerate(clients):
        code = codes[i % 3]
        contract = Contract(client_id=client.id, package_id=packages[code].id, status="active",
                            start_date=date(2025, 1 + i % 12, 1))
        contract.changes.append(ContractChange(effective_date=contract.start_date, kind="start",
                                               package_id=packages[code].id))
        if i % 10 == 0 and code != "extended":
            bigger = codes[i % 3 + 1]
            contract.package_id = packages[bigger].id
            contract.changes.append(ContractChange(
                effective_date=date(2026, 3, 1 + i % 28), kind="upgrade",
                from_package_id=packages[code].id, package_id=packages[bigger].id))
        if i % 2:
            contract.addons.append(ContractAddon(addon_id=addons["cloud_backup"].id,
                                                 start_date=contract.start_date))
        db.session.add(contract)
    db.session.flush()
    big, rest = clients[0], clients[1:]
    db.session.execute(insert(TimeEntry), entry_rows(big.id, 10_000, rng))
    rows = []
    for client in rest:
        rows += entry_rows(client.id, 20, rng)
    db.session.execute(insert(TimeEntry), rows)
    db.session.commit()
    return big, rest


def main() -> None:
    """Build the data, time both cases, print the figures and the JSON line."""
    rng = random.Random(2026)
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                          "SECRET_KEY": "bench", "INSTANCE_PATH": tmp})
        with app.app_context():
            db.create_all()
            big, rest = populate(rng)
            usage_for(big, PERIOD)  # warm-up: holiday tables, compiled statements
            one, one_cpu = [], []
            for _ in range(7):
                began, began_cpu = time.perf_counter(), time.process_time()
                usage = usage_for(big, PERIOD)
                one.append((time.perf_counter() - began) * 1000)
                one_cpu.append((time.process_time() - began_cpu) * 1000)
            many = []
            for _ in range(3):
                db.session.expire_all()
                clients = list(db.session.scalars(select(Client).where(
                    Client.id.in_([c.id for c in rest]))))
                began = time.perf_counter()
                result = usage_many(clients, PERIOD)
                many.append(time.perf_counter() - began)
            db.session.remove()
            db.engine.dispose()
    assert len(result) == 1000
    print(f"one client, 10,000 entries: {statistics.median(one):.1f} ms median "
          f"(min {min(one):.1f}, max {max(one):.1f}; CPU {statistics.median(one_cpu):.1f} ms); "
          f"billable {usage.billable_minutes} min")
    print(f"1,000 clients x 20 entries: {statistics.median(many):.3f} s median "
          f"(min {min(many):.3f}, max {max(many):.3f})")
    print(json.dumps({"usage_10k_entries_ms": round(statistics.median(one), 1),
                      "usage_1000_clients_s": round(statistics.median(many), 3)}))


if __name__ == "__main__":
    main()
