"""Auto-assignment: the on-call operator out of hours, a client's dedicated agent, else
round-robin among the agents on duty.

On duty = an active agent, not marked away, not on a day off, inside their own working hours (the
capacity page), or with none entered inside the vendor's calendar (``WORKDAY_START``-
``WORKDAY_END`` in their own time zone, ``HOLIDAY_COUNTRY`` holidays). The round-robin picks
whoever was given a ticket longest ago. An urgent ticket of a client with the on-call add-on that
arrives out of hours goes to the agent whose on-call shift covers the moment
(:mod:`helpdesk.assignment.oncall`). Only flushes.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from ..audit_log.record import record
from ..capacity.availability import agents_at_work, at_work
from ..extensions import db
from ..models import Client, Role, Ticket, TicketStatus, User, utcnow


def on_duty(user: User, now: datetime | None = None) -> bool:
    """Whether ``user`` is at work now: an active agent, not away, by their own availability."""
    if not user.active or user.away or user.role != Role.AGENT:
        return False
    return at_work(user, now or utcnow())


def next_agent(now: datetime | None = None, *, exclude: set[int] = frozenset()) -> User | None:
    """The agent on duty whose last assigned ticket is the oldest (never assigned: first)."""
    last = (
        select(Ticket.assignee_id, func.max(Ticket.created_at).label("last"))
        .where(Ticket.assignee_id.is_not(None)).group_by(Ticket.assignee_id).subquery()
    )
    rows = db.session.execute(
        select(User, last.c.last).outerjoin(last, last.c.assignee_id == User.id)
        .where(User.role == Role.AGENT, User.active.is_(True), User.away.is_(False))
        .order_by(last.c.last.is_not(None), last.c.last, User.id)
    ).all()
    candidates = [user for user, _last in rows if user.id not in exclude]
    working = agents_at_work(candidates, now or utcnow())
    return next((user for user in candidates if user.id in working), None)


def choose_assignee(ticket: Ticket, now: datetime | None = None,
                    *, exclude: set[int] = frozenset()) -> User | None:
    from .oncall import on_call_agent_for

    operator = on_call_agent_for(ticket, now or utcnow())
    if operator is not None and operator.id not in exclude:
        return operator
    client = db.session.get(Client, ticket.client_id) if ticket.client_id else None
    if client is not None and client.dedicated_agent_id and client.dedicated_agent_id not in exclude:
        agent = db.session.get(User, client.dedicated_agent_id)
        if agent is not None and agent.active and not agent.away:
            return agent
    if not current_app.config.get("AUTO_ASSIGN", True):
        return None
    return next_agent(now, exclude=exclude)


def auto_assign(ticket: Ticket, now: datetime | None = None) -> User | None:
    """Give a new, unassigned ticket to someone (audited as the system); None: nobody on duty."""
    if ticket.assignee_id is not None:
        return None
    agent = choose_assignee(ticket, now)
    if agent is None:
        return None
    from ..tickets.services import update_fields

    update_fields(ticket, actor="auto-assign", assignee_id=agent.id)
    return agent


def set_away(user: User, away: bool, *, actor: User | None = None) -> list[Ticket]:
    """Mark ``user`` away (or back); going away hands their new tickets to colleagues."""
    user.away = away
    db.session.flush()
    record(user, "update", user=actor or user, before={"away": not away}, after={"away": away})
    moved: list[Ticket] = []
    if not away:
        return moved
    from ..tickets.services import update_fields

    tickets = db.session.scalars(
        select(Ticket).where(Ticket.assignee_id == user.id, Ticket.status == TicketStatus.NEW)
        .order_by(Ticket.id)
    ).all()
    for ticket in tickets:
        agent = choose_assignee(ticket, exclude={user.id})
        update_fields(ticket, user=actor, actor="auto-assign",
                      assignee_id=agent.id if agent else None)
        moved.append(ticket)
    return moved


def set_dedicated_agent(client: Client, agent_id: int | None, *, user: User | None = None) -> None:
    """The agent who gets the client's new tickets (None: round-robin)."""
    from flask_babel import gettext as _

    if agent_id is not None:
        agent = db.session.get(User, agent_id)
        if agent is None or agent.role != Role.AGENT or not agent.active:
            raise ValueError(_("Choose an active agent."))
    before = {"dedicated_agent_id": client.dedicated_agent_id}
    client.dedicated_agent_id = agent_id
    db.session.flush()
    record(client, "update", user=user, before=before, after={"dedicated_agent_id": agent_id})
