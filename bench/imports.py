"""Benchmark of a console import of a LogMeIn report on SQLite; the last line printed is one JSON
object: ``{"rows": ..., "preview_s": ..., "import_s": ..., "reimport_s": ..., "rows_per_s": ...}``.

A report of ``--rows`` sessions (default 5,000) for 200 clients (matched by contact email, by
domain and by name; a tenth unmatched), with renamed columns, a ticket named in a tenth of the
notes and one webhook subscription listening to ``time.logged`` (so every entry also queues an
event), goes through the same functions as the console's background worker: the preview (every row
matched and billed, nothing written), the import (committed batch by batch with its progress),
and the same file again (every row a duplicate, imported in one transaction). Fresh SQLite database in a temporary
directory. Usage: python bench/imports.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.integrations import imports as service
from helpdesk.integrations import webhooks
from helpdesk.integrations.models import ImportBatch
from helpdesk.models import Client, ClientDomain, Contact, ContactEmail, Role, User
from helpdesk.pricelist.catalogue import ensure_catalogue
from helpdesk.tickets.services import create_ticket

COLUMNS = {"customer": ["Kunde"], "technician": "Techniker", "technician_name": "Tech",
           "start": "Beginn", "end": "Ende", "work_time": "Arbeitszeit", "session_id": "Sitzung",
           "notes": ["Notiz"], "ticket": "", "timezone": "Europe/Belgrade"}


def report(rows: int, numbers: list[int], rng: random.Random) -> bytes:
    day = date.today().replace(day=1)
    lines = ["Sitzung,Beginn,Ende,Kunde,Techniker,Tech,Arbeitszeit,Notiz"]
    for i in range(rows):
        n = rng.randrange(200)
        customer = (f"it@client{n}.example", f"someone@client{n}.example", f"Client {n}",
                    "Nobody Ltd")[0 if i % 10 == 0 else rng.randrange(3) if i % 10 else 3]
        if i % 10 == 9:
            customer = "Nobody Ltd"
        start = datetime.combine(day + timedelta(days=rng.randrange(2)),
                                 datetime.min.time()) + timedelta(minutes=rng.randrange(600, 900))
        secs = rng.randrange(60, 3600)
        end = start + timedelta(seconds=secs + 30)
        note = f"see [#{rng.choice(numbers)}]" if i % 10 == 1 else "remote help"
        lines.append(f"{100000 + i},{start:%Y-%m-%d %H:%M:%S},{end:%Y-%m-%d %H:%M:%S},"
                     f"{customer},tech@vendor.example,Tech,"
                     f"{secs // 3600}:{secs % 3600 // 60:02d}:{secs % 60:02d},{note}")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-imports-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'b.db'}",
                      "IMPORT_DIR": str(tmp / "imports"), "SECRET_KEY": "bench",
                      "MAIL_SUPPRESS_SEND": True})
    rng = random.Random(19)
    with app.app_context():
        db.create_all()
        ensure_catalogue()
        admin = User(email="admin@vendor.example", name="Admin", role=Role.ADMIN)
        db.session.add(admin)
        numbers = []
        for n in range(200):
            client = Client(name=f"Client {n}", country="RS", timezone="Europe/Belgrade",
                            language="sr_Latn")
            db.session.add(client)
            db.session.flush()
            db.session.add(ClientDomain(client_id=client.id, domain=f"client{n}.example"))
            contact = Contact(client_id=client.id, name=f"IT {n}", is_primary=True)
            contact.emails.append(ContactEmail(email=f"it@client{n}.example"))
            db.session.add(contact)
            if n % 20 == 0:
                numbers.append(create_ticket(subject="t", client_id=client.id,
                                             actor="bench").number)
        webhooks.create_subscription(admin, "http://127.0.0.1:9/hook", ["time.logged"])
        mapping = service.save_mapping(None, source="logmein", name="bench", columns=COLUMNS,
                                       is_default=True, user=admin)
        db.session.commit()
        content = report(args.rows, numbers, rng)

        batch = service.new_batch(content, "bench.csv", "logmein", user=admin, mapping=mapping,
                                  skip_bad=True)
        db.session.commit()
        batch_id = batch.id
        # The console's path: the worker's function, committing its progress every batch.
        t0 = time.perf_counter()
        service.process(batch_id)
        preview_s = time.perf_counter() - t0
        service.request_import(db.session.get(ImportBatch, batch_id))
        db.session.commit()
        t0 = time.perf_counter()
        service.process(batch_id)
        import_s = time.perf_counter() - t0
        done = db.session.get(ImportBatch, batch_id)
        assert done.status == "imported", (done.status, done.error)
        result = SimpleNamespace(created=done.created, summary=lambda: done.report["summary"])
        again = service.new_batch(content, "bench.csv", "logmein", user=admin, mapping=mapping)
        t0 = time.perf_counter()
        second = service.run_import(again, admin)
        db.session.commit()
        reimport_s = time.perf_counter() - t0
        assert second.created == 0 and result.created > 0
        print(result.summary())
    print(json.dumps({"rows": args.rows, "created": result.created,
                      "preview_s": round(preview_s, 2), "import_s": round(import_s, 2),
                      "reimport_s": round(reimport_s, 2),
                      "rows_per_s": round(args.rows / import_s)}))


if __name__ == "__main__":
    main()
