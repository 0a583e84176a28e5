"""The bell: the header's notification panel, its JSON feed, the full page, marking items read.

The panel (static/js/bell.js) polls ``notifications.json`` every 30 seconds; without JavaScript
the bell is a link to the full page, which pages through everything. Texts are written here, in
the reader's language (:mod:`helpdesk.notifications.texts`). Opening a ticket marks its items read.
"""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_login import current_user
from sqlalchemy import select, update

from ...extensions import db
from ...models import Ticket, utcnow
from ...notifications import inbox
from ...notifications.events import unread_count
from ...notifications.models import StaffNotification
from ...notifications.texts import actor, ago, describe
from . import bp

#: How many items the dropdown lists; the full page has the rest.
PANEL_ITEMS = 10
PER_PAGE = 25


@bp.app_template_global("bell_unread")
def _bell_unread() -> int:
    """The count the header shows before the first poll."""
    return unread_count(current_user) if current_user.is_authenticated else 0


def _row(item: StaffNotification) -> dict:
    ticket = item.ticket
    return {
        "id": item.id, "kind": item.kind, "text": describe(item), "who": actor(item),
        "ticket": ticket.number if ticket else None,
        "subject": ticket.subject if ticket else None,
        "url": url_for(".ticket", number=ticket.number) if ticket else None,
        "at": item.created_at.isoformat(), "ago": ago(item.created_at),
        "when": format_datetime(item.created_at, "EEE d MMM y HH:mm"),
        "unread": item.read_at is None,
    }


@bp.route("/notifications")
def notifications():
    number = request.args.get("page", "1")
    result = inbox.page(current_user, int(number) if number.isdigit() else 1, PER_PAGE)
    return render_template("agent/notifications.html", page=result,
                           rows=[_row(i) for i in result.items],
                           unread=unread_count(current_user))


@bp.route("/notifications.json")
def notifications_json():
    return jsonify({"unread": unread_count(current_user),
                    "items": [_row(i) for i in inbox.latest(current_user, PANEL_ITEMS)]})


@bp.post("/notifications/read")
def notifications_read():
    """Mark one item (``id``) or all of them read."""
    one = request.form.get("id", "")
    inbox.mark_read(current_user, int(one) if one.isdigit() else None)
    db.session.commit()
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"unread": unread_count(current_user)})
    back = request.form.get("page", "")
    return redirect(url_for(".notifications", page=int(back) if back.isdigit() else None))


@bp.before_request
def _read_ticket_notifications():
    """Opening a ticket marks the bell items about it as read (runs after the staff check)."""
    if request.endpoint != "agent.ticket" or not current_user.is_authenticated:
        return
    number = (request.view_args or {}).get("number")
    result = db.session.execute(
        update(StaffNotification)
        .where(StaffNotification.user_id == current_user.id,
               StaffNotification.read_at.is_(None),
               StaffNotification.ticket_id.in_(select(Ticket.id).where(Ticket.number == number)))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        db.session.commit()
    return


@bp.route("/staff/mentions.json")
def mention_candidates():
    """Active staff for the internal note's @mention autocomplete (staff only, like the console)."""
    from ...notifications.mentions import candidates

    return jsonify({"people": [
        {"name": c.name, "email": c.email, "handle": c.handle}
        for c in candidates(request.args.get("q", ""))]})
