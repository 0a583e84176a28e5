"""API resources; tickets are scoped by the same policy as the pages."""

from __future__ import annotations

from flask import g, jsonify
from sqlalchemy import select

from ...auth.policy import get_ticket_by_number_or_404, ticket_scope
from ...extensions import db
from ...models import Ticket
from . import bp


def ticket_json(t: Ticket) -> dict:
    def iso(v):
        return v.isoformat() if v else None

    return {
        "number": t.number,
        "subject": t.subject,
        "status": t.status,
        "priority": t.priority,
        "channel": t.channel,
        "client_id": t.client_id,
        "assignee_id": t.assignee_id,
        "created_at": iso(t.created_at),
        "first_response_due": iso(t.first_response_due),
        "resolution_due": iso(t.resolution_due),
    }


@bp.get("/me")
def me():
    u = g.api_user
    return jsonify(id=u.id, email=u.email, role=u.role, client_id=u.client_id)


@bp.get("/tickets")
def tickets():
    rows = db.session.scalars(
        ticket_scope(g.api_user, select(Ticket)).order_by(Ticket.id.desc()).limit(100)
    ).all()
    return jsonify(items=[ticket_json(t) for t in rows])


@bp.get("/tickets/<int:number>")
def ticket(number: int):
    return jsonify(ticket_json(get_ticket_by_number_or_404(g.api_user, number)))
