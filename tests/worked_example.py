"""A month worked out by hand from the billing rules: March 2026 of a Serbian client.

Shared by the ledger/usage/API tests and the PDF report tests: ``build_worked_example(factory)``
writes the facts through the real services (the ledger, the package-change service) and returns
the JSON a person computes from the rules (the arithmetic is below), to the minute and the cent.

The client: Europe/Belgrade, country RS, business hours Mon-Fri 08:00-16:00 local, no public
holiday in March 2026 (DST starts on Sunday 29 March; nothing is logged that day). Contract since
1 June 2025 on Standard (300 min, 120.00/month, 40.00/h overage, 1 visit a year), cloud backup
(20.00/month), no on-call. Upgraded to Extended (600 min, 200.00/month, 35.00/h) on Sat 21 March.

Package proration (31 days; cumulative rounding, half up):
  Standard 1-20 March, 20 days: 300 * 20/31 = 193.548 -> 194 min; 120 * 20/31 = 77.419 -> 77.42
  Extended 21-31 March, 11 days: exact running totals 406.452 -> 406 min (406 - 194 = 212) and
  148.387 -> 148.39 (148.39 - 77.42 = 70.97).
  Included 406 min; fee 148.39; overage rate 35.00/h (the package at the month's end).

Entries (increment 15 min, at least one per phone/remote session; out of hours x 1.5):
   1 remote  Tue  3 Mar 09:00-09:52, 52 min in hours                 -> 60
   2 phone   Wed  4 Mar 10:00, 7 min                                  -> 15 (one increment)
   3 phone   Wed  4 Mar 15:50-16:10: 10 in + 10 out x 1.5 = 25        -> 30 (10 out of hours)
   4 email   Thu  5 Mar, 20 min                                       -> 30
   5 remote  Sat  7 Mar 10:00-10:40: 40 out x 1.5 = 60                -> 60 (40 out of hours)
   6 visit   Tue 10 Mar 09:00, 120 min: first of the contract year    -> 120, free
   7 development Wed 11 Mar, 90 min: never package time, 60.00/h     -> 90 = 90.00
   8 consulting Mon 23 Mar, 50 min                                    -> 60
   9 remote  Tue 24 Mar 14:00-15:35, 95 min                           -> 105
  10 remote  Thu 26 Mar 09:00-11:00, 120 min                          -> 120
  11 phone   Tue 31 Mar 23:50 - Wed 1 Apr 00:20: starts in March, all out of hours:
             30 x 1.5 = 45                                            -> 45 (30 out of hours)
  Entries 3, 5 and 11 are flagged for the account manager's review (no on-call); billed as is.

Used by kind: remote 60+60+105+120 = 345; phone 15+30+45 = 90; email 30; consulting 60;
visit 120; development 90.
Counted against the package: 345 + 90 + 30 + 60 = 525 (the visit is free, development apart).
Out of hours (real minutes): 10 + 40 + 30 = 80.
Overage: 525 - 406 = 119 min at 35.00/h = 69.4166... -> 69.42.
Total: fee 148.39 + cloud backup 20.00 + overage 69.42 + development 90.00 = 327.81.
Worked (logged) minutes: 52 + 7 + 20 + 20 + 40 + 120 + 90 + 50 + 95 + 120 + 30 = 644.
Out-of-hours surcharge (billed minus the in-hours equivalent, rounded the same way): entry 3
20 min -> 30 either way, 0; entry 5 40 min -> 45 in hours, 60 billed, 15; entry 11 30 -> 30,
45 billed, 15: 30 minutes of the 525 counted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from helpdesk.accounting.closing import unreviewed_entries
from helpdesk.accounting.ledger import log_entry, review_entry
from helpdesk.contracts.changes import upgrade
from helpdesk.extensions import db
from helpdesk.models import Client, EntrySource, Role
from helpdesk.tickets.services import create_ticket

PERIOD = "2026-03"
BELGRADE = ZoneInfo("Europe/Belgrade")


def local(*args: int) -> datetime:
    """A Belgrade wall-clock time."""
    return datetime(*args, tzinfo=BELGRADE)


def approve_flagged(period: str, manager: Any) -> None:
    """The account manager keeps the bill of every flagged out-of-hours entry (the month may
    then close); the figures stay as they were."""
    for entry in unreviewed_entries(period):
        review_entry(entry, user=manager, decision="approve")
    db.session.flush()


def build_worked_example(factory: Any) -> tuple[Client, str, dict[str, Any]]:
    """Write the month above through the services; (client, "2026-03", expected usage JSON)."""
    manager = factory.user(Role.ACCOUNT_MANAGER, name="Jelena Manager")
    agent = factory.user(Role.AGENT, name="Marko Agent")
    client = factory.client("Worked Example d.o.o.", manager=manager)
    contract = factory.contract(client, "standard", start=date(2025, 6, 1),
                                addons=("cloud_backup",))
    upgrade(contract, factory.package("extended"), on=date(2026, 3, 21), user=manager)
    ticket = create_ticket(subject="Printer at the front desk", client_id=client.id,
                           created_at=local(2026, 3, 2, 9, 0), actor="test")

    def entry(kind: str, start: datetime, *, end: datetime | None = None,
              minutes: int | None = None) -> None:
        log_entry(client=client, kind=kind, started_at=start, ended_at=end, minutes=minutes,
                  ticket=ticket, agent=agent, source=EntrySource.MANUAL, user=agent)

    entry("remote", local(2026, 3, 3, 9, 0), end=local(2026, 3, 3, 9, 52))
    entry("phone", local(2026, 3, 4, 10, 0), minutes=7)
    entry("phone", local(2026, 3, 4, 15, 50), end=local(2026, 3, 4, 16, 10))
    entry("email", local(2026, 3, 5, 11, 0), minutes=20)
    entry("remote", local(2026, 3, 7, 10, 0), end=local(2026, 3, 7, 10, 40))
    entry("visit", local(2026, 3, 10, 9, 0), minutes=120)
    entry("development", local(2026, 3, 11, 9, 0), minutes=90)
    entry("consulting", local(2026, 3, 23, 13, 0), minutes=50)
    entry("remote", local(2026, 3, 24, 14, 0), end=local(2026, 3, 24, 15, 35))
    entry("remote", local(2026, 3, 26, 9, 0), end=local(2026, 3, 26, 11, 0))
    entry("phone", local(2026, 3, 31, 23, 50), end=local(2026, 4, 1, 0, 20))
    db.session.commit()

    used = {"consulting": 60, "development": 90, "email": 30, "phone": 90, "remote": 345,
            "visit": 120}
    expected = {
        "client_id": client.id,
        "month": PERIOD,
        "status": "active",
        "currency": "EUR",
        "included_minutes": 406,
        "used_minutes_by_kind": used,
        "used_minutes": used,
        "billable_minutes": 525,
        "remaining_minutes": 0,
        "out_of_hours_minutes": 80,
        "overage_minutes": 119,
        "overage_amount": "69.42",
        "development_minutes": 90,
        "development_amount": "90.00",
        "no_contract_amount": "0.00",
        "fee": "148.39",
        "addons": [{"name": "cloud_backup", "amount": "20.00"}],
        "free_visit_minutes": 120,
        "visits_used": 1,
        "warranty_minutes": 0,
        "worked_minutes": 644,
        "out_of_hours_surcharge_minutes": 30,
        "adjustment_minutes": 0,
        "total": "327.81",
        "closed": False,
    }
    return client, PERIOD, expected
