"""The demo data are dated relative to the day they are loaded: a live current month."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from helpdesk.accounting.closing import unreviewed_count
from helpdesk.accounting.ledger import is_month_closed
from helpdesk.demo import load_demo
from helpdesk.extensions import db
from helpdesk.models import PortalRole, Ticket, TimeEntry, User


def test_demo_covers_three_months_and_a_live_one_and_loads_once(app):
    now = datetime(2027, 2, 17, 10, 30, tzinfo=UTC)
    summary = load_demo(now=now)
    db.session.commit()
    assert summary.created
    months = ["2026-11", "2026-12", "2027-01", "2027-02"]
    per_month = dict(db.session.execute(
        select(TimeEntry.period, func.count()).group_by(TimeEntry.period)).all())
    assert set(per_month) <= set(months) and all(per_month.get(m, 0) > 5 for m in months)
    assert db.session.scalar(select(func.max(Ticket.created_at))) <= now
    # The two oldest months closed after their review; last month waits for it; this one runs.
    assert is_month_closed("2026-11") and is_month_closed("2026-12")
    assert not is_month_closed("2027-01") and not is_month_closed("2027-02")
    assert unreviewed_count("2026-11") == 0
    # The sub-agent has requests of its own.
    partner = db.session.scalar(select(User).where(User.portal_role == PortalRole.SUBAGENT))
    assert db.session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.opened_by_id == partner.id)) > 0
    tickets = db.session.scalar(select(func.count()).select_from(Ticket))
    assert not load_demo(now=now).created
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == tickets
