"""API v1 tickets: list, get, create, reply, change status. Scoped by the same policy as the pages.

Every change goes through the ticket services, so the API moves tickets exactly as the console
and the portal do. What each route accepts and returns is described in :mod:`.openapi` (served
at ``/api/v1/openapi.json``); tests check that the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, g, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...auth.policy import get_ticket_by_number_or_404
from ...extensions import db
from ...hardening.errors import problem
from ...models import (
    Article,
    Channel,
    Client,
    Contact,
    Direction,
    Priority,
    SendStatus,
    Ticket,
    TicketStatus,
    User,
)
from ...sla.service import read_clocks
from ...tickets.queues import ALL_STATUSES, BadCursor, QueueFilter, queue_page
from ...tickets.services import add_article, create_ticket, set_status
from ..agent.sending import send_after_commit
from . import bp


class Invalid(Exception):
    """Request data that does not fit: answered 422 with a message per field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid request")
        self.fields = fields


@bp.errorhandler(Invalid)
def _invalid(exc: Invalid):
    return problem(422, "Unprocessable Content", "The request has invalid fields.",
                   error="invalid", fields=exc.fields)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket_json(t: Ticket) -> dict:
    """A ticket as the API shows it (list items and the ``ticket`` of the detail)."""
    return {
        "number": t.number,
        "subject": t.subject,
        "status": t.status,
        "priority": t.priority,
        "channel": t.channel,
        "client_id": t.client_id,
        "assignee_id": t.assignee_id,
        "reserved": bool(t.reserved),
        "created_at": _iso(t.created_at),
        "last_activity_at": _iso(t.last_activity_at),
        "first_response_due": _iso(t.first_response_due),
        "resolution_due": _iso(t.resolution_due),
        "first_response_at": _iso(t.first_response_at),
        "resolved_at": _iso(t.resolved_at),
    }


def article_json(a: Article) -> dict:
    return {
        "id": a.id,
        "direction": a.direction,
        "internal": bool(a.internal),
        "channel": a.channel,
        "from": a.from_addr,
        "to": a.to_addrs,
        "subject": a.subject,
        "body_text": a.body_text,
        "created_at": _iso(a.created_at),
        "send_status": a.send_status,
        "attachments": [
            {"id": f.id, "filename": f.filename, "content_type": f.content_type, "size": f.size}
            for f in a.attachments
        ],
    }


def _detail(t: Ticket, user: User) -> dict:
    body = ticket_json(t)
    body["merged_into"] = db.session.scalar(
        select(Ticket.number).where(Ticket.id == t.merged_into_id)) if t.merged_into_id else None
    articles = db.session.scalars(
        select(Article).where(Article.ticket_id == t.id)
        .options(selectinload(Article.attachments))
        .order_by(Article.created_at, Article.id)
    ).all()
    body["articles"] = [
        article_json(a) for a in articles if user.is_staff or not (a.internal or a.unverified)
    ]
    body["sla"] = [
        {"target": c.target, "target_minutes": c.target_minutes, "due": _iso(c.due),
         "elapsed": round(c.elapsed, 4), "state": c.state, "met_at": _iso(c.met_at),
         "warned_at": _iso(c.warned_at), "breached_at": _iso(c.breached_at)}
        for c in read_clocks(t)
    ]
    return body


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid({"body": "Send a JSON object with Content-Type: application/json."})
    return data


def _text(data: dict, name: str, *, required: bool = False, max_len: int = 200_000) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid({name: "This field is required."})
        return None
    if not isinstance(value, str):
        raise Invalid({name: "Must be a string."})
    if len(value) > max_len:
        raise Invalid({name: f"At most {max_len} characters."})
    return value


def _optional_int(name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()):
        raise Invalid({name: "Must be a whole number."})
    return int(value)


def _token_client() -> int | None:
    from .common import token  # a client-scoped token lists only its client's tickets

    t = token()
    return t.client_id if t is not None else None


@bp.get("/me")
def me():
    u = g.api_user
    return jsonify(id=u.id, email=u.email, role=u.role, client_id=u.client_id)


@bp.get("/tickets")
def list_tickets():
    """Tickets the caller may see, filtered, one keyset page at a time."""
    status = request.args.get("status", "")
    statuses = tuple(s for s in status.split(",") if s) or ALL_STATUSES
    if any(s not in ALL_STATUSES for s in statuses):
        raise Invalid({"status": f"Use some of {', '.join(ALL_STATUSES)}, comma-separated."})
    order = request.args.get("order") or None
    if order not in (None, "queue", "newest"):
        raise Invalid({"order": "Use queue or newest."})
    limit = _optional_int("limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= 200:
        raise Invalid({"limit": "Between 1 and 200."})
    filters = QueueFilter(
        statuses=statuses,
        client_id=_optional_int("client_id") or _token_client(),
        assignee_id=_optional_int("assignee_id"),
        q=(request.args.get("q") or "").strip()[:200] or None,
        order=order,
    )
    try:
        page = queue_page(g.api_user, filters, cursor=request.args.get("cursor") or None,
                          limit=limit)
    except BadCursor:
        raise Invalid({"cursor": "Not a cursor this list handed out."}) from None
    return jsonify(
        items=[ticket_json(row.ticket) for row in page.rows],
        next_cursor=page.next_cursor,
        count=page.count,
        count_capped=page.count_capped,
    )


@bp.get("/tickets/<int:number>")
def get_ticket(number: int):
    t = get_ticket_by_number_or_404(g.api_user, number)
    return jsonify(_detail(t, g.api_user))


@bp.post("/tickets")
def create():
    """Open a ticket: client users for their company, staff for any client (or none)."""
    user: User = g.api_user
    data = _json_body()
    subject = _text(data, "subject", required=True, max_len=500)
    body = _text(data, "body", required=True)
    priority = data.get("priority", Priority.NORMAL)
    if priority not in Priority.values():
        raise Invalid({"priority": f"Use one of {', '.join(Priority.values())}."})
    if user.is_client_user:
        if data.get("client_id") not in (None, user.client_id):
            raise Invalid({"client_id": "Client users open tickets for their own company."})
        client_id, channel, contact_id = user.client_id, Channel.PORTAL, None
        requester_email, requester_name = user.email, user.name
    else:
        client_id = data.get("client_id")
        if client_id is not None and (
            not isinstance(client_id, int) or db.session.get(Client, client_id) is None
        ):
            raise Invalid({"client_id": "No such client."})
        channel = data.get("channel", Channel.PHONE)
        if channel not in Channel.values():
            raise Invalid({"channel": f"Use one of {', '.join(Channel.values())}."})
        contact_id = data.get("contact_id")
        contact = db.session.get(Contact, contact_id) if isinstance(contact_id, int) else None
        if contact_id is not None and (contact is None or contact.client_id != client_id):
            raise Invalid({"contact_id": "No such contact of this client."})
        requester_email = _text(data, "requester_email", max_len=254) or (
            contact.email if contact else None)
        requester_name = contact.name if contact else None
    archived = db.session.get(Client, client_id) if client_id is not None else None
    if archived is not None and archived.archived_at is not None:
        # An archived client takes no new tickets (issue 12); its tickets stay readable.
        raise Invalid({"client_id": f"{archived.name} is archived: it takes no new tickets."})
    ticket = create_ticket(
        subject=subject, client_id=client_id, contact_id=contact_id, channel=channel,
        priority=priority, requester_email=requester_email, requester_name=requester_name,
        opened_by=user if user.is_client_user else None, user=user,
    )
    add_article(ticket, direction=Direction.IN, channel=channel, body_text=body,
                author=user, contact_id=contact_id, from_addr=requester_email,
                subject=subject)
    db.session.commit()
    response = jsonify(_detail(ticket, user))
    response.status_code = 201
    response.headers["Location"] = url_for(".get_ticket", number=ticket.number)
    return response


@bp.post("/tickets/<int:number>/articles")
def reply(number: int):
    """Staff: an email reply to the requester, or an internal note. Client users: a message."""
    user: User = g.api_user
    t = get_ticket_by_number_or_404(user, number)
    data = _json_body()
    body = _text(data, "body", required=True)
    internal = data.get("internal", False)
    if not isinstance(internal, bool):
        raise Invalid({"internal": "Must be true or false."})
    if user.is_client_user:
        if internal:
            raise Invalid({"internal": "Only staff write internal notes."})
        article = add_article(t, direction=Direction.IN, channel=Channel.PORTAL, body_text=body,
                              author=user, from_addr=user.email, subject=t.subject)
        db.session.commit()
        return jsonify(article_json(article)), 201
    if internal:
        article = add_article(t, direction=Direction.OUT, internal=True, body_text=body,
                              author=user)
        db.session.commit()
        return jsonify(article_json(article)), 201
    to = _text(data, "to", max_len=2000) or t.requester_email or (
        t.contact.email if t.contact else None)
    if not to:
        raise Invalid({"to": "The ticket has no requester address; give one."})
    article = add_article(
        t, direction=Direction.OUT, channel=Channel.EMAIL, body_text=body, author=user,
        from_addr=current_app.config["MAIL_DEFAULT_SENDER"], to_addrs=to,
        cc_addrs=_text(data, "cc", max_len=2000), subject=f"{t.tag} {t.subject}",
    )
    article.send_status = SendStatus.QUEUED
    db.session.commit()
    send_after_commit(article)
    db.session.refresh(article)
    return jsonify(article_json(article)), 201


@bp.post("/tickets/<int:number>/status")
def change_status(number: int):
    """Staff only: move the ticket (pending pauses the SLA clock, resolved stops it)."""
    user: User = g.api_user
    t = get_ticket_by_number_or_404(user, number)
    if not user.is_staff:
        return problem(403, "Forbidden", "Only staff change a ticket's status.")
    data = _json_body()
    status = data.get("status")
    if status not in TicketStatus.values():
        raise Invalid({"status": f"Use one of {', '.join(TicketStatus.values())}."})
    set_status(t, status, user=user)
    db.session.commit()
    return jsonify(ticket_json(t))
