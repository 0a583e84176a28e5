"""Console pages. Views validate input, call a service and render; rules live in the services."""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import literal, select, tuple_
from sqlalchemy.orm import joinedload, selectinload
from wtforms.fields.choices import SelectChoice

from ...auth.policy import (
    can_see_client_reports,
    get_client_or_404,
    get_ticket_by_number_or_404,
    get_ticket_or_404,
)
from ...contracts.services import addons_on, contract_on, package_on
from ...extensions import db
from ...followers.service import reply_cc
from ...models import (
    STAFF_ROLES,
    Article,
    Attachment,
    Channel,
    Client,
    Contact,
    Direction,
    SendStatus,
    Ticket,
    TicketStatus,
    User,
    UTCDateTime,
    Visit,
    utcnow,
)
from ...presence.service import newer_articles
from ...replies.service import plain_reason
from ...sla.service import read_clocks
from ...tickets import attachments as attachment_store
from ...tickets.merge import MergeError, check_mergeable, merge_tickets
from ...tickets.queues import (
    ALL_STATUSES,
    OPEN,
    BadCursor,
    QueueFilter,
    capped_count,
    local_today,
    queue_page,
)
from ...tickets.services import NewAttachment, add_article, set_status, update_fields
from . import bp
from .forms import (
    PRIORITY_LABELS,
    STATUS_LABELS,
    AssignForm,
    MergeForm,
    NoteForm,
    PriorityForm,
    ReplyForm,
    StatusForm,
    parse_addresses,
)
from .sending import send_after_commit

log = logging.getLogger(__name__)

CLIENT_TICKETS_PAGE = 25
#: Types a browser may show inline; everything else is downloaded.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
_MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


@bp.context_processor
def _console_helpers() -> dict:
    # Labels translated once per page, not once per row.
    return {
        "duration": duration,
        "client_time": client_time,
        "STATUS_LABELS": {k: str(v) for k, v in STATUS_LABELS.items()},
        "PRIORITY_LABELS": {k: str(v) for k, v in PRIORITY_LABELS.items()},
    }


def row_labels() -> dict[str, str]:
    """The queue row's words, translated once per page (patterns keep their placeholders)."""
    return {
        "contract": _("Contract"),
        "no_contract": _("No contract"),
        "overdue": _("overdue by %(d)s"),
        "due": _("due in %(d)s"),
        "paused": _("SLA paused"),
        "waiting": _("waiting %(d)s"),
        "priority": _("priority"),
        "only_client": _("Only this client"),
        "unknown": _("unknown sender"),
    }


def _duration_patterns() -> tuple[str, str, str]:
    patterns = g.get("duration_patterns")
    if patterns is None:
        patterns = g.duration_patterns = (
            _("%(d)d d %(h)d h"),
            _("%(h)d h %(m)d min"),
            _("%(m)d min"),
        )
    return patterns


def client_time(moment: datetime | None, zone: str) -> str:
    """A time as the client's office clock shows it (when the client sits in another zone)."""
    if moment is None:
        return ""
    return format_datetime(moment, "EEE HH:mm", tzinfo=ZoneInfo(zone), locale=str(get_locale()))


def duration(minutes: int | None) -> str:
    """Minutes as a short human span: "45 min", "2 h 10 min", "3 d 4 h"."""
    if minutes is None:
        return ""
    m = abs(int(minutes))
    days, rest = divmod(m, 1440)
    hours, mins = divmod(rest, 60)
    with_days, with_hours, only_minutes = _duration_patterns()
    if days:
        return with_days % {"d": days, "h": hours}
    if hours:
        return with_hours % {"h": hours, "m": mins}
    return only_minutes % {"m": mins}


# -- the queue ----------------------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() else None


def status_arg() -> str:
    """The status asked for; a search looks through every status unless told otherwise."""
    status = request.args.get("status", "")
    if not status and (request.args.get("q") or "").strip():
        return "any"
    return status


def queue_filter_from_args() -> QueueFilter:
    """Filters from the query string; unknown values fall back to the default queue."""
    view = request.args.get("view", "all")
    q = (request.args.get("q") or "").strip()[:200] or None
    status = status_arg()
    statuses = ALL_STATUSES if status == "any" else (status,) if status in ALL_STATUSES else OPEN
    return QueueFilter(
        view=view if view in ("all", "mine", "unassigned", "due") else "all",
        statuses=statuses,
        client_id=_int_arg("client"),
        q=q,
    )


@bp.route("/")
def queue():
    """The reserved-priority queue: contract clients first, by SLA due time, then the rest."""
    filters = queue_filter_from_args()
    try:
        page = queue_page(current_user, filters, cursor=request.args.get("cursor") or None)
    except BadCursor:
        return redirect(url_for(".queue", **_args_without("cursor")))
    client = db.session.get(Client, filters.client_id) if filters.client_id else None
    args = _args_without("cursor")
    # Row links are the same but for a number: build them once, not fifty times.
    ticket_href = url_for(".ticket", number=0)[:-1]
    client_href = url_for(".queue", **{k: v for k, v in args.items() if k != "client"}, client="")
    return render_template(
        "agent/queue.html",
        page=page,
        filters=filters,
        client=client,
        status_arg=status_arg(),
        args=args,
        L=row_labels(),
        ticket_href=ticket_href,
        client_href=client_href,
    )


def _args_without(*names: str) -> dict:
    return {k: v for k, v in request.args.items() if k not in names and v}


# -- the ticket page ----------------------------------------------------------------------------


def _staff() -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.role.in_([r.value for r in STAFF_ROLES]), User.active.is_(True))
            .order_by(User.name)
        )
    )


def _default_recipient(ticket: Ticket) -> str:
    if ticket.requester_email:
        return ticket.requester_email
    if ticket.contact is not None and ticket.contact.email:
        return ticket.contact.email
    return ""


def assignee_choices() -> list[SelectChoice]:
    return [SelectChoice("", _("Nobody"))] + [SelectChoice(str(u.id), u.name) for u in _staff()]


def _translate_once(select_field) -> None:
    """Lazy choice labels resolve on every escape; resolve them once per page instead."""
    select_field.choices = [SelectChoice(c.value, str(c.label)) for c in select_field.choices]


def _forms(ticket: Ticket, **given) -> dict:
    """Every form of the ticket page, with the ones that failed validation passed in."""
    reply = given.get("reply_form") or ReplyForm(
        prefix="reply", formdata=None, to=_default_recipient(ticket),
        cc=reply_cc(ticket, _default_recipient(ticket)),
    )
    note = given.get("note_form") or NoteForm(prefix="note", formdata=None)
    assign = given.get("assign_form") or AssignForm(
        prefix="assign", formdata=None, assignee=str(ticket.assignee_id or "")
    )
    assign.assignee.choices = assignee_choices()
    status = given.get("status_form") or StatusForm(
        prefix="status", formdata=None, status=ticket.status
    )
    priority = given.get("priority_form") or PriorityForm(
        prefix="priority", formdata=None, priority=ticket.priority
    )
    merge = given.get("merge_form") or MergeForm(prefix="merge", formdata=None)
    for select_field in (reply.then_status, status.status, priority.priority):
        _translate_once(select_field)
    return {
        "reply_form": reply,
        "note_form": note,
        "assign_form": assign,
        "status_form": status,
        "priority_form": priority,
        "merge_form": merge,
    }


def _ticket_page(ticket: Ticket, status: int = 200, **forms):
    now = utcnow()
    articles = list(
        db.session.scalars(
            select(Article)
            .where(Article.ticket_id == ticket.id)
            .options(selectinload(Article.attachments), joinedload(Article.author))
            .order_by(Article.created_at, Article.id)
        ).unique()
    )
    merged_into = db.session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None
    return render_template(
        "agent/ticket.html",
        ticket=ticket,
        articles=articles,
        clocks=read_clocks(ticket, now),
        merged_into=merged_into,
        now=now,
        **_forms(ticket, **forms),
    ), status


@bp.route("/tickets/<int:number>")
def ticket(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    return _ticket_page(t)


def safe_filename(name: str | None) -> str:
    """A file name without paths, control characters or quotes, for storage and downloads."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in '"<>')
    name = name.strip(" .")[:200]
    return name or "attachment"


def _store_uploads(uploads) -> list[NewAttachment]:
    """Put uploaded files into the attachment store; returns what the article should list."""
    stored = []
    for upload in uploads or []:
        if not getattr(upload, "filename", None):
            continue
        data = upload.read()
        content_type = (upload.mimetype or "application/octet-stream").lower()
        stored.append(
            NewAttachment(
                filename=safe_filename(upload.filename),
                content_type=content_type
                if _MIME_RE.match(content_type)
                else "application/octet-stream",
                size=len(data),
                sha256=attachment_store.store_bytes(data),
            )
        )
    return stored


def _stale(ticket: Ticket) -> bool:
    """Somebody added a message since this page was drawn: stop, and show it first."""
    newer = newer_articles(ticket, request.form.get("seen_article"), current_user)
    if newer:
        g.stale_articles = newer
        flash(_("Not saved: a new message arrived while you were writing. Read it, then send "
                "again."), "error")
    return bool(newer)


@bp.post("/tickets/<int:number>/reply")
def reply(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    form = ReplyForm(prefix="reply")
    if not form.validate_on_submit():
        return _ticket_page(t, 400, reply_form=form)
    if _stale(t):
        return _ticket_page(t, 409, reply_form=form)
    article = add_article(
        t,
        direction=Direction.OUT,
        channel=Channel.EMAIL,
        body_text=form.body.data,
        author=current_user,
        from_addr=current_app.config["MAIL_DEFAULT_SENDER"],
        to_addrs=", ".join(parse_addresses(form.to.data)),
        cc_addrs=", ".join(parse_addresses(form.cc.data)) or None,
        subject=f"{t.tag} {t.subject}",
        attachments=_store_uploads(form.attachments.data),
    )
    article.send_status = SendStatus.QUEUED
    if form.then_status.data:
        set_status(t, form.then_status.data, user=current_user)
    db.session.commit()
    outcome = send_after_commit(article)
    if outcome == "sent":
        flash(_("Reply sent."), "info")
    elif outcome == "failed":
        flash(
            _(
                "Reply saved, but the mail server refused it: %(error)s",
                error=plain_reason(article.send_error),
            ),
            "error",
        )
    else:
        flash(_("Reply saved, but it could not be sent yet; it stays queued."), "error")
    return redirect(url_for(".ticket", number=t.number, _anchor=f"a{article.id}"))


@bp.post("/tickets/<int:number>/note")
def note(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    form = NoteForm(prefix="note")
    if not form.validate_on_submit():
        return _ticket_page(t, 400, note_form=form)
    article = add_article(
        t,
        direction=Direction.OUT,
        internal=True,
        channel=Channel.EMAIL,
        body_text=form.body.data,
        author=current_user,
        attachments=_store_uploads(form.attachments.data),
    )
    db.session.commit()
    flash(_("Note added."), "info")
    return redirect(url_for(".ticket", number=t.number, _anchor=f"a{article.id}"))


@bp.post("/tickets/<int:number>/assign")
def assign(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    form = AssignForm(prefix="assign")
    form.assignee.choices = assignee_choices()
    if not form.validate_on_submit():
        return _ticket_page(t, 400, assign_form=form)
    assignee_id = int(form.assignee.data) if form.assignee.data else None
    if assignee_id != t.assignee_id:
        update_fields(t, user=current_user, assignee_id=assignee_id)
        db.session.commit()
    flash(_("Assigned."), "info")
    return redirect(url_for(".ticket", number=t.number))


@bp.post("/tickets/<int:number>/status")
def change_status(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    form = StatusForm(prefix="status")
    if not form.validate_on_submit():
        return _ticket_page(t, 400, status_form=form)
    if _stale(t):
        return _ticket_page(t, 409, status_form=form)
    set_status(t, form.status.data, user=current_user)
    db.session.commit()
    flash(_("Status changed."), "info")
    return redirect(url_for(".ticket", number=t.number))


@bp.post("/tickets/<int:number>/priority")
def change_priority(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    form = PriorityForm(prefix="priority")
    if not form.validate_on_submit():
        return _ticket_page(t, 400, priority_form=form)
    if form.priority.data != t.priority:
        update_fields(t, user=current_user, priority=form.priority.data)
        db.session.commit()
    flash(_("Priority changed."), "info")
    return redirect(url_for(".ticket", number=t.number))


@bp.post("/tickets/<int:number>/merge")
def merge(number: int):
    source = get_ticket_by_number_or_404(current_user, number)
    form = MergeForm(prefix="merge")
    if form.validate_on_submit():
        target = db.session.scalar(select(Ticket).where(Ticket.number == form.target.data))
        if target is None:
            form.target.errors.append(_("There is no ticket #%(n)s.", n=form.target.data))
        else:
            try:
                check_mergeable(source, target)
            except MergeError as exc:
                form.target.errors.append(str(exc))
            else:
                merge_tickets(source, target, user=current_user)
                db.session.commit()
                flash(
                    _("Ticket #%(a)s merged into #%(b)s.", a=source.number, b=target.number), "info"
                )
                return redirect(url_for(".ticket", number=target.number))
    return _ticket_page(source, 400, merge_form=form)


@bp.route("/attachments/<int:attachment_id>")
def attachment(attachment_id: int):
    """Download a file; the access policy decides through the ticket it belongs to."""
    att = db.session.get(Attachment, attachment_id)
    if att is None:
        abort(404)
    get_ticket_or_404(current_user, att.article.ticket_id)
    if att.sha256 is None:
        abort(410, description=att.dropped_reason or _("The file was not kept."))
    path = attachment_store.path_for(att.sha256)
    if not path.exists():
        abort(404)
    content_type = (
        att.content_type.lower()
        if _MIME_RE.match(att.content_type.lower())
        else ("application/octet-stream")
    )
    inline = request.args.get("inline") == "1" and content_type in INLINE_TYPES
    response = send_file(
        path,
        mimetype=content_type if inline else "application/octet-stream",
        as_attachment=not inline,
        download_name=safe_filename(att.filename),
        conditional=True,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- clients ------------------------------------------------------------------------------------


@bp.route("/clients")
def clients():
    rows = db.session.scalars(
        select(Client).options(joinedload(Client.account_manager)).order_by(Client.name)
    ).all()
    return render_template("agent/clients.html", clients=rows)


def _client_tickets(client_id: int, cursor: str | None) -> tuple[list[Ticket], str | None]:
    """Newest first on (created_at, id), cut by keyset cursor "<iso time>_<id>"."""
    stmt = (
        select(Ticket)
        .where(Ticket.client_id == client_id)
        .options(joinedload(Ticket.assignee))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
    )
    if cursor:
        try:
            created_text, id_text = cursor.rsplit("_", 1)
            created = datetime.fromisoformat(created_text)
            if created.tzinfo is None:
                raise ValueError(cursor)
            key = (created, int(id_text))
        except ValueError:
            abort(400, description=_("Bad page cursor."))
        stmt = stmt.where(
            tuple_(Ticket.created_at, Ticket.id)
            < tuple_(literal(key[0], UTCDateTime()), literal(key[1]))
        )
    rows = list(db.session.scalars(stmt.limit(CLIENT_TICKETS_PAGE + 1)).unique())
    more = len(rows) > CLIENT_TICKETS_PAGE
    rows = rows[:CLIENT_TICKETS_PAGE]
    next_cursor = f"{rows[-1].created_at.isoformat()}_{rows[-1].id}" if more else None
    return rows, next_cursor


@bp.route("/clients/<int:client_id>")
def client(client_id: int):
    c = get_client_or_404(current_user, client_id)
    today = local_today()
    contract = contract_on(c.id, today)
    package = package_on(contract, today) if contract is not None else None
    addons = addons_on(contract, today) if contract is not None else []
    contacts = db.session.scalars(
        select(Contact)
        .where(Contact.client_id == c.id)
        .options(selectinload(Contact.emails), selectinload(Contact.phones))
        .order_by(Contact.is_primary.desc(), Contact.name)
    ).all()
    tickets, next_cursor = _client_tickets(c.id, request.args.get("cursor") or None)
    open_count, open_capped = capped_count(
        select(Ticket).where(Ticket.client_id == c.id, Ticket.status.in_(OPEN))
    )
    visits = db.session.scalars(
        select(Visit)
        .where(Visit.client_id == c.id)
        .options(joinedload(Visit.account_manager))
        .order_by(Visit.planned_date.desc())
        .limit(20)
    ).all()
    return render_template(
        "agent/client.html",
        client=c,
        show_money=can_see_client_reports(current_user, c),
        contract=contract,
        package=package,
        addons=addons,
        contacts=contacts,
        tickets=tickets,
        next_cursor=next_cursor,
        open_count=open_count,
        open_capped=open_capped,
        visits=visits,
        today=today,
        TicketStatus=TicketStatus,
        visits_url=(
            url_for(".client_visits", client_id=c.id)
            if "agent.client_visits" in current_app.view_functions
            else None
        ),
    )
