"""Benchmark of the weekly capacity plan; the last line printed is one JSON object:
``{"plan_week_1000_clients_s": ..., "plan_rule_only_s": ..., "reservations": ...}``.

* ``plan_week_1000_clients_s``: :func:`helpdesk.capacity.planner.plan_week` for 1,000 contract
  clients (a third on each package, some with a dedicated agent, 3,000 open tickets) and 50 agents
  (some with their own hours, days off and visits), reading and writing the database (median of 3
  runs after one warm-up; target: < 2 s).
* ``plan_rule_only_s``: the rule on plain values alone (:func:`helpdesk.capacity.rules.plan`).

The data is written with bulk inserts into a fresh SQLite database (or ``--db URL``).
Usage: python bench/capacity.py [--db postgresql+psycopg://postgres@127.0.0.1:5432/bench]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from helpdesk import create_app
from helpdesk.capacity.models import DayOff, WorkingHours
from helpdesk.capacity.planner import compute_plan, plan_week
from helpdesk.capacity.rules import AgentWeek, plan
from helpdesk.extensions import db
from helpdesk.models import (
    Client,
    Contract,
    ContractChange,
    Package,
    Ticket,
    User,
    Visit,
)
from helpdesk.pricelist.catalogue import ensure_catalogue

MONDAY = date(2026, 11, 16)
CLIENTS, AGENTS, TICKETS = 1000, 50, 3000


def populate(rng: random.Random) -> None:
    ensure_catalogue()
    packages = {p.code: p.id for p in db.session.scalars(select(Package))}
    codes = ["basic", "standard", "extended"]
    db.session.execute(insert(User), [
        {"email": f"agent{i}@bench.test", "name": f"Agent {i}", "role": "agent", "active": True}
        for i in range(AGENTS)
    ])
    agent_ids = list(db.session.scalars(select(User.id).order_by(User.id)))
    db.session.execute(insert(Client), [
        {"name": f"Client {i}", "country": "RS", "timezone": "Europe/Belgrade",
         "language": "sr_Latn",
         "dedicated_agent_id": agent_ids[i % AGENTS] if i % 4 == 0 else None}
        for i in range(CLIENTS)
    ])
    client_ids = list(db.session.scalars(select(Client.id).order_by(Client.id)))
    db.session.execute(insert(Contract), [
        {"client_id": cid, "package_id": packages[codes[i % 3]], "status": "active",
         "start_date": date(2026, 1, 1), "auto_renew": True}
        for i, cid in enumerate(client_ids)
    ])
    contracts = db.session.execute(select(Contract.id, Contract.package_id)).all()
    db.session.execute(insert(ContractChange), [
        {"contract_id": cid, "effective_date": date(2026, 1, 1), "kind": "start",
         "package_id": pid} for cid, pid in contracts
    ])
    week_from = datetime(2026, 11, 16, 8, tzinfo=UTC)
    db.session.execute(insert(Ticket), [
        {"number": 1000 + i, "subject": f"Ticket {i}", "status": "open", "priority": "normal",
         "priority_rank": 2, "channel": "email", "queue": "support",
         "client_id": rng.choice(client_ids), "reserved": True,
         "resolution_due": week_from + timedelta(hours=rng.randrange(0, 200)),
         "created_at": week_from, "updated_at": week_from, "last_activity_at": week_from}
        for i in range(TICKETS)
    ])
    db.session.execute(insert(WorkingHours), [
        {"agent_id": a, "weekday": wd, "starts": clock(7), "ends": clock(15)}
        for a in agent_ids[:10] for wd in range(5)
    ])
    db.session.execute(insert(DayOff), [
        {"agent_id": a, "first_day": MONDAY + timedelta(days=rng.randrange(5)),
         "last_day": MONDAY + timedelta(days=4), "reason": "leave"}
        for a in agent_ids[10:15]
    ])
    db.session.execute(insert(Visit), [
        {"client_id": client_ids[i], "contract_year_start": date(2026, 1, 1), "sequence": 1,
         "planned_date": MONDAY + timedelta(days=i % 5), "status": "confirmed",
         "agent_id": agent_ids[i % AGENTS], "duration_minutes": 240}
        for i in range(40)
    ])
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "bench",
                      "SERVER_NAME": "bench.test"})
    with app.app_context():
        db.drop_all()
        db.create_all()
        populate(random.Random(7))
        runs = []
        for i in range(4):
            t0 = time.perf_counter()
            result = plan_week(MONDAY)
            db.session.commit()
            if i:
                runs.append(time.perf_counter() - t0)
        _plan, demands, days = compute_plan(MONDAY)
        weeks = [AgentWeek(a, sum(d.available_minutes for d in rows)) for a, rows in days.items()]
        rule_runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            plan(weeks, demands)
            rule_runs.append(time.perf_counter() - t0)
        figures = {
            "plan_week_1000_clients_s": round(statistics.median(runs), 3),
            "plan_rule_only_s": round(statistics.median(rule_runs), 3),
            "clients": len(result.owed),
            "agents": len(result.available),
            "reservations": len(result.reserved),
            "reserved_minutes": sum(result.reserved.values()),
            "free_minutes": result.total_free,
            "database": db.engine.dialect.name,
            "target_s": 2,
        }
        if args.db:
            db.drop_all()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
