"""Console pages. Views validate input, call a service and render; rules live in the services."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user
from sqlalchemy import select

from ...auth.policy import get_client_or_404, get_ticket_by_number_or_404
from ...extensions import db
from ...models import OPEN_STATUSES, Client, Ticket
from . import bp

PAGE_SIZE = 50


@bp.route("/")
def queue():
    """The reserved-priority queue: contract clients first, by SLA due time, then the rest."""
    stmt = (
        select(Ticket)
        .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(
            Ticket.reserved.desc(),
            Ticket.sla_next_due.is_(None),
            Ticket.sla_next_due,
            Ticket.priority_rank,
            Ticket.created_at,
            Ticket.id,
        )
        .limit(PAGE_SIZE)
    )
    tickets = db.session.scalars(stmt).all()
    return render_template("agent/queue.html", tickets=tickets)


@bp.route("/tickets/<int:number>")
def ticket(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    return render_template("agent/ticket.html", ticket=t)


@bp.route("/clients")
def clients():
    rows = db.session.scalars(select(Client).order_by(Client.name)).all()
    return render_template("agent/clients.html", clients=rows)


@bp.route("/clients/<int:client_id>")
def client(client_id: int):
    c = get_client_or_404(current_user, client_id)
    tickets = db.session.scalars(
        select(Ticket)
        .where(Ticket.client_id == c.id)
        .order_by(Ticket.created_at.desc())
        .limit(int(request.args.get("limit", 20)))
    ).all()
    return render_template("agent/client.html", client=c, tickets=tickets)
