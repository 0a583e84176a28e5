"""The agent's day: preferences, triage, followers, saved replies, presence, resending.

Thin views: each validates, calls one domain operation and commits.
"""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...assignment.service import set_away
from ...auth.policy import get_ticket_by_number_or_404
from ...extensions import db
from ...followers.service import FollowerError, add_follower, followers, remove_follower
from ...i18n import language_for
from ...models import LANGUAGES, Article, Client, Contact, Ticket
from ...notifications.events import KINDS
from ...notifications.models import (
    NotificationSetting,
    QueueWatch,
    SavedReply,
)
from ...presence.service import heartbeat, last_article_id
from ...replies.service import (
    PLACEHOLDERS,
    SavedReplyError,
    failed_replies,
    may_edit,
    plain_reason,
    prepare_resend,
    render_reply,
    save_reply,
    visible_replies,
)
from ...triage.service import TriageError, link_ticket, suggestions, triage_tickets
from . import bp
from .sending import send_after_commit


@bp.app_template_global("ticket_follower_emails")
def _ticket_follower_emails(ticket: Ticket) -> list[str]:
    """For the portal's ticket page too: who gets the replies in Cc."""
    return [f.email for f in followers(ticket)]


@bp.context_processor
def _day_helpers() -> dict:
    return {"plain_reason": plain_reason, "last_article_id": last_article_id,
            "ticket_followers": followers, "failed_replies": failed_replies,
            "visible_replies": visible_replies, "triage_suggestions": suggestions,
            "package_meter": _meter}


def _meter(ticket: Ticket):
    from ...meter.service import package_meter

    return package_meter(ticket.client) if ticket.client is not None else None


# -- preferences ------------------------------------------------------------------------------


@bp.route("/preferences", methods=["GET", "POST"])
def preferences():
    queues = sorted(set(db.session.scalars(select(Ticket.queue).distinct())) | {"support"})
    if request.method == "POST":
        for kind in KINDS:
            row = db.session.scalar(select(NotificationSetting).where(
                NotificationSetting.user_id == current_user.id, NotificationSetting.kind == kind))
            if row is None:
                row = NotificationSetting(user_id=current_user.id, kind=kind)
                db.session.add(row)
            row.email = request.form.get(f"{kind}-email") == "on"
            row.bell = request.form.get(f"{kind}-bell") == "on"
        wanted = {q for q in request.form.getlist("queue") if q in queues}
        for watch in db.session.scalars(select(QueueWatch).where(
                QueueWatch.user_id == current_user.id)):
            if watch.queue not in wanted:
                db.session.delete(watch)
            wanted.discard(watch.queue)
        for queue in sorted(wanted):
            db.session.add(QueueWatch(user_id=current_user.id, queue=queue))
        away = request.form.get("away") == "on"
        moved = set_away(current_user, away, actor=current_user) if away != bool(
            current_user.away) else []
        db.session.commit()
        flash(_("Preferences saved.") + (" " + _("%(n)d new ticket(s) handed to colleagues.",
                                                    n=len(moved)) if moved else ""), "info")
        return redirect(url_for(".preferences"))
    settings = {s.kind: s for s in db.session.scalars(select(NotificationSetting).where(
        NotificationSetting.user_id == current_user.id))}
    watched = set(db.session.scalars(select(QueueWatch.queue).where(
        QueueWatch.user_id == current_user.id)))
    return render_template("agent/preferences.html", kinds=KINDS, settings=settings,
                           queues=queues, watched=watched)


# -- triage -------------------------------------------------------------------------------------


@bp.route("/triage")
def triage():
    return render_template("agent/triage.html", tickets=triage_tickets())


@bp.route("/tickets/<int:number>/link", methods=["GET", "POST"])
def link(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    clients = db.session.scalars(select(Client).where(Client.archived_at.is_(None))
                                 .order_by(Client.name)).all()
    error = None
    if request.method == "POST":
        client_id = request.form.get("client_id", "")
        client = db.session.get(Client, int(client_id)) if client_id.isdigit() else None
        contact_id = request.form.get("contact_id", "")
        contact = db.session.get(Contact, int(contact_id)) if contact_id.isdigit() else None
        if client is None:
            error = _("Choose a client.")
        else:
            try:
                link_ticket(t, client, user=current_user, contact=contact,
                            add_domain=request.form.get("add_domain") == "on")
            except TriageError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                db.session.commit()
                flash(_("Ticket linked to %(client)s.", client=client.name), "info")
                return redirect(url_for(".ticket", number=t.number))
    return render_template("agent/triage_link.html", ticket=t, clients=clients, error=error,
                           suggestions=suggestions(t)), (400 if error else 200)


# -- followers ----------------------------------------------------------------------------------


@bp.post("/tickets/<int:number>/followers")
def follower_add(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    try:
        add_follower(t, request.form.get("email", ""), user=current_user)
    except FollowerError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".ticket", number=t.number, _anchor="followers"))
    db.session.commit()
    flash(_("Follower added."), "info")
    return redirect(url_for(".ticket", number=t.number, _anchor="followers"))


@bp.post("/tickets/<int:number>/followers/<int:follower_id>/remove")
def follower_remove(number: int, follower_id: int):
    t = get_ticket_by_number_or_404(current_user, number)
    if not remove_follower(t, follower_id):
        abort(404)
    db.session.commit()
    flash(_("Follower removed."), "info")
    return redirect(url_for(".ticket", number=t.number, _anchor="followers"))


# -- presence -----------------------------------------------------------------------------------


@bp.post("/tickets/<int:number>/presence")
def presence(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    state = request.form.get("state", "viewing")
    if state not in ("viewing", "replying"):
        abort(400)
    rows = heartbeat(t, current_user, state)
    db.session.commit()
    seen = request.form.get("seen", "")
    latest = last_article_id(t)
    return jsonify({
        "others": [{"name": r.user.name, "state": r.state,
                    "text": (_("%(name)s is replying", name=r.user.name) if r.state == "replying"
                             else _("%(name)s is viewing", name=r.user.name))} for r in rows],
        "last_article_id": latest,
        "stale": seen.isdigit() and latest > int(seen),
        "stale_text": _("A new message arrived on this ticket: reload to read it."),
    })


# -- failed replies -----------------------------------------------------------------------------


@bp.post("/tickets/<int:number>/articles/<int:article_id>/resend")
def resend(number: int, article_id: int):
    t = get_ticket_by_number_or_404(current_user, number)
    article = db.session.get(Article, article_id)
    if article is None or article.ticket_id != t.id:
        abort(404)
    try:
        prepare_resend(article, t)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".ticket", number=t.number))
    db.session.commit()
    outcome = send_after_commit(article)
    if outcome == "sent":
        flash(_("Reply sent."), "info")
    else:
        flash(_("Still not sent: %(why)s", why=plain_reason(article.send_error)), "error")
    return redirect(url_for(".ticket", number=t.number, _anchor=f"a{article.id}"))


# -- saved replies ------------------------------------------------------------------------------


@bp.route("/saved-replies", methods=["GET", "POST"])
@bp.route("/saved-replies/<int:reply_id>", methods=["GET", "POST"])
def saved_replies(reply_id: int | None = None):
    reply = db.session.get(SavedReply, reply_id) if reply_id else None
    if reply_id and (reply is None or not may_edit(reply, current_user)):
        abort(404)
    errors: dict[str, str] = {}
    values = {"title": reply.title if reply else "", "body": reply.body if reply else "",
              "language": reply.language if reply else language_for(current_user),
              "shared": reply.owner_id is None if reply else False}
    status = 200
    if request.method == "POST":
        if request.form.get("delete") and reply is not None:
            db.session.delete(reply)
            db.session.commit()
            flash(_("Saved reply deleted."), "info")
            return redirect(url_for(".saved_replies"))
        values = {"title": request.form.get("title", ""), "body": request.form.get("body", ""),
                  "language": request.form.get("language", ""),
                  "shared": request.form.get("shared") == "on"}
        try:
            save_reply(user=current_user, reply=reply, **values)
        except SavedReplyError as exc:
            db.session.rollback()
            errors[exc.field] = str(exc)
            status = 400
        else:
            db.session.commit()
            flash(_("Saved reply saved."), "info")
            return redirect(url_for(".saved_replies"))
    return render_template("agent/saved_replies.html", replies=visible_replies(current_user),
                           reply=reply, values=values, errors=errors, languages=LANGUAGES,
                           placeholders=PLACEHOLDERS), status


@bp.route("/tickets/<int:number>/saved-replies/<int:reply_id>.json")
def saved_reply_text(number: int, reply_id: int):
    t = get_ticket_by_number_or_404(current_user, number)
    reply = db.session.get(SavedReply, reply_id)
    if reply is None or (reply.owner_id is not None and reply.owner_id != current_user.id):
        abort(404)
    return jsonify({"text": render_reply(reply, t, current_user)})


# -- a client's dedicated agent -----------------------------------------------------------------


@bp.app_template_global("agent_choices")
def _agent_choices():
    from ...models import Role, User

    return db.session.scalars(select(User).where(User.role == Role.AGENT, User.active.is_(True))
                              .order_by(User.name)).all()


@bp.post("/clients/<int:client_id>/dedicated-agent")
def dedicated_agent(client_id: int):
    from ...assignment.service import set_dedicated_agent
    from ...auth.policy import get_client_or_404
    from .time_panel import _can_manage_client

    client = get_client_or_404(current_user, client_id)
    if not _can_manage_client(current_user, client):
        abort(403)
    value = request.form.get("agent_id", "")
    try:
        set_dedicated_agent(client, int(value) if value.isdigit() else None, user=current_user)
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Dedicated agent saved."), "info")
    return redirect(url_for(".client", client_id=client.id))
