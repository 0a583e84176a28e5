"""Portal pages. Every ticket, attachment and company figure is reached through the access policy
(ticket_scope, get_ticket_*_or_404, get_client_or_404, can_see_client_reports), so a user of
another company, or a sub-agent asking for a colleague's ticket, gets 404."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from datetime import date, timedelta
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from ...accounting.usage import usage_json
from ...auth import accounts as portal_accounts
from ...auth.policy import (
    can_see_client_reports,
    get_client_or_404,
    get_ticket_by_number_or_404,
    get_ticket_or_404,
    ticket_scope,
)
from ...contracts.services import addons_on, contract_on, package_on
from ...extensions import db, mail
from ...hardening.bounds import MAX_PAGE, query_int
from ...models import (
    OPEN_STATUSES,
    Article,
    Attachment,
    Channel,
    Client,
    Contact,
    ContactEmail,
    Direction,
    PortalRole,
    Role,
    Ticket,
    TicketStatus,
    Visit,
    VisitStatus,
    utcnow,
)
from ...tickets.attachments import path_for, store_bytes
from ...tickets.services import NewAttachment, add_article, create_ticket, set_status
from . import bp
from .forms import ActionForm, InviteForm, ReplyForm, TicketForm

PAGE_SIZE = 25
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

#: The list's status filter: name -> (label, statuses shown).
STATUS_FILTERS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "open": (_l("Open tickets"), tuple(s.value for s in OPEN_STATUSES)),
    "pending": (_l("Waiting for you"), (TicketStatus.PENDING.value,)),
    "done": (_l("Resolved and closed"), (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)),
    "all": (_l("All tickets"), None),
}

#: Types shown with their own type; anything else is downloaded as bytes.
SAFE_TYPES = {
    "application/pdf", "image/png", "image/jpeg", "image/gif", "text/plain", "text/csv",
    "application/zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/msword",
    "application/vnd.ms-excel",
}


def _client() -> Client:
    return get_client_or_404(current_user, current_user.client_id)


def _company_figures_client() -> Client:
    """The user's company, for pages with its money and contract: not for sub-agents."""
    client = _client()
    if not can_see_client_reports(current_user, client):
        abort(404)
    return client


def _local_today(client: Client) -> date:
    """Today on the client's wall clock: months and renewals are the client's, not ours."""
    return utcnow().astimezone(ZoneInfo(client.timezone)).date()


# -- tickets ---------------------------------------------------------------------------------


@bp.route("/")
def home() -> ResponseReturnValue:
    """The company's tickets (a sub-agent's own), filtered by status, newest activity first."""
    key = request.args.get("status", "open")
    if key not in STATUS_FILTERS:
        key = "open"
    statuses = STATUS_FILTERS[key][1]
    page = query_int("page", 1, maximum=MAX_PAGE)
    stmt = ticket_scope(current_user, select(Ticket))
    if statuses is not None:
        stmt = stmt.where(Ticket.status.in_(statuses))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    tickets = db.session.scalars(
        stmt.order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return render_template(
        "portal/home.html",
        tickets=tickets,
        client=current_user.client,
        filters=STATUS_FILTERS,
        current=key,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        total=total,
    )


def _clean_filename(name: str) -> str:
    """The file's own name, without folders or control characters, at most 255 characters."""
    name = PurePosixPath((name or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return (name or "attachment")[-255:]


def _read_uploads(field) -> list[tuple[str, bytes]] | None:
    """The uploaded files, or None after putting a size error next to the field."""
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    files: list[tuple[str, bytes]] = []
    for upload in field.data or []:
        if not isinstance(upload, FileStorage) or not upload.filename:
            continue
        data = upload.stream.read(limit + 1)
        name = _clean_filename(upload.filename)
        if len(data) > limit:
            field.errors.append(
                _("%(name)s is larger than %(size)s MB.", name=name,
                  size=f"{limit / 1024 / 1024:g}")
            )
            return None
        files.append((name, data))
    return files


def _store(files: list[tuple[str, bytes]]) -> list[NewAttachment]:
    stored = []
    for name, data in files:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        stored.append(NewAttachment(filename=name, content_type=content_type, size=len(data),
                                    sha256=store_bytes(data)))
    return stored


def _contact_id_for(user) -> int | None:
    """The company's contact with the user's address, if there is one."""
    return db.session.scalar(
        select(ContactEmail.contact_id)
        .join(Contact, Contact.id == ContactEmail.contact_id)
        .where(ContactEmail.email == user.email, Contact.client_id == user.client_id)
    )


@bp.route("/tickets/new", methods=["GET", "POST"])
def new_ticket() -> ResponseReturnValue:
    """Open a ticket, with attachments."""
    form = TicketForm()
    valid = form.validate_on_submit()
    if valid and current_user.client.archived_at is not None:
        # An archived client opens no new tickets (issue 12); its history stays readable.
        form.subject.errors = [_("%(name)s is archived: no new contracts or tickets.",
                                 name=current_user.client.name)]
    elif valid:
        files = _read_uploads(form.attachments)
        if files is not None:
            user = current_user._get_current_object()
            contact_id = _contact_id_for(user)
            ticket = create_ticket(
                subject=form.subject.data,
                client_id=user.client_id,
                contact_id=contact_id,
                channel=Channel.PORTAL,
                requester_email=user.email,
                requester_name=user.name,
                opened_by=user,
                user=user,
            )
            add_article(
                ticket,
                direction=Direction.IN,
                channel=Channel.PORTAL,
                body_text=form.body.data,
                author=user,
                contact_id=contact_id,
                from_addr=f"{user.name} <{user.email}>",
                subject=ticket.subject,
                attachments=_store(files),
            )
            db.session.commit()
            flash(_("Ticket #%(number)s is open. We will answer soon.", number=ticket.number),
                  "info")
            return redirect(url_for("portal.ticket", number=ticket.number))
    return render_template("portal/new_ticket.html", form=form), 400 if form.errors else 200


@bp.route("/tickets/<int:number>")
def ticket(number: int) -> ResponseReturnValue:
    """One ticket: its public messages, attachments, a reply box and the close button."""
    t = get_ticket_by_number_or_404(current_user, number)
    return _ticket_page(t, ReplyForm())


def _ticket_page(t: Ticket, form: ReplyForm, status: int = 200) -> ResponseReturnValue:
    articles = [a for a in t.articles if not a.internal and not a.unverified]
    return render_template(
        "portal/ticket.html", ticket=t, articles=articles, form=form, action=ActionForm()
    ), status


@bp.post("/tickets/<int:number>/reply")
def reply(number: int) -> ResponseReturnValue:
    """Add a message; a resolved ticket opens again."""
    t = get_ticket_by_number_or_404(current_user, number)
    form = ReplyForm()
    if form.validate_on_submit():
        files = _read_uploads(form.attachments)
        if files is not None:
            user = current_user._get_current_object()
            add_article(
                t,
                direction=Direction.IN,
                channel=Channel.PORTAL,
                body_text=form.body.data,
                author=user,
                contact_id=_contact_id_for(user),
                from_addr=f"{user.name} <{user.email}>",
                subject=f"Re: {t.subject}",
                attachments=_store(files),
            )
            db.session.commit()
            flash(_("Your reply is added."), "info")
            return redirect(url_for("portal.ticket", number=t.number))
    return _ticket_page(t, form, 400)


@bp.post("/tickets/<int:number>/close")
def close(number: int) -> ResponseReturnValue:
    """The client says the problem is solved: the ticket is resolved."""
    t = get_ticket_by_number_or_404(current_user, number)
    if ActionForm().validate_on_submit() and t.status in OPEN_STATUSES:
        set_status(t, TicketStatus.RESOLVED, user=current_user._get_current_object())
        db.session.commit()
        flash(_("Ticket #%(number)s is resolved. Reply to it if the problem comes back.",
                number=t.number), "info")
    return redirect(url_for("portal.ticket", number=t.number))


@bp.route("/attachments/<int:attachment_id>")
def attachment(attachment_id: int) -> ResponseReturnValue:
    """Download a file of a ticket the user may see (never of an internal note)."""
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.sha256 is None:
        abort(404)
    article = db.session.get(Article, att.article_id)
    if article is None or article.internal or article.unverified:
        abort(404)
    get_ticket_or_404(current_user, article.ticket_id)
    path = path_for(att.sha256)
    if not path.is_file():
        abort(404)
    content_type = att.content_type if att.content_type in SAFE_TYPES else (
        "application/octet-stream"
    )
    response = send_file(path, mimetype=content_type, as_attachment=True,
                         download_name=att.filename, max_age=0, etag=False)
    return _downloaded(response)


def _downloaded(response: Response) -> Response:
    """Files are data, never pages: no sniffing, no scripts, no shared caches."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- hours, reports, contract ------------------------------------------------------------------


@bp.route("/hours")
def hours() -> ResponseReturnValue:
    """This month's hours against the package: the very figures the usage API returns."""
    client = _company_figures_client()
    period = _local_today(client).strftime("%Y-%m")
    return render_template(
        "portal/hours.html", client=client, period=period, usage=usage_json(client, period)
    )


# The reports package renders the PDFs (it depends on helpdesk, not the other way round): the
# portal only lists and serves them, so it imports the service where it uses it.


@bp.route("/reports")
def reports() -> ResponseReturnValue:
    """The monthly reports the user may download; a month not closed yet is preliminary (as its
    PDF says). A sub-agent gets reports of the tickets they opened: hours, no money."""
    from reports.service import available_periods, preliminary_periods

    client = _client()
    if not can_see_client_reports(current_user, client) and not _is_subagent():
        abort(404)
    periods = available_periods(client)
    return render_template(
        "portal/reports.html", client=client, periods=periods,
        preliminary=preliminary_periods(periods), own_requests=_is_subagent(),
    )


def _is_subagent() -> bool:
    return current_user.role == Role.CLIENT and current_user.portal_role == PortalRole.SUBAGENT


@bp.route("/reports/<period>.pdf")
def report_pdf(period: str) -> ResponseReturnValue:
    """One month's report as a PDF (a closed month's is frozen the first time it is asked for)."""
    from reports.service import available_periods
    from reports.service import report_pdf as render_report_pdf

    client = _client()
    subagent = _is_subagent()
    if not subagent and not can_see_client_reports(current_user, client):
        abort(404)
    if not PERIOD_RE.match(period) or period not in available_periods(client):
        abort(404)
    if subagent:
        from reports.service import requester_report_pdf

        body = requester_report_pdf(client, current_user._get_current_object(), period)
    else:
        body = render_report_pdf(client, period)
    db.session.commit()
    safe_name = re.sub(r"[^A-Za-z0-9]+", "-", client.name).strip("-") or "client"
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{safe_name}-{period}.pdf"'
    return _downloaded(response)


@bp.route("/contract")
def contract() -> ResponseReturnValue:
    """The contract in force (package, add-ons, renewal) and the planned visits."""
    client = _company_figures_client()
    today = _local_today(client)
    current = contract_on(client.id, today)
    if current is None and client.contracts:
        current = client.contracts[0]  # the latest, even if it has ended
    package = package_on(current, today) if current is not None else None
    addons = addons_on(current, today) if current is not None else []
    visits = db.session.scalars(
        select(Visit)
        .where(
            Visit.client_id == client.id,
            Visit.status != VisitStatus.CANCELLED,
            Visit.planned_date >= today - timedelta(days=365),
        )
        .order_by(Visit.planned_date)
    ).all()
    upcoming = [v for v in visits if v.planned_date >= today and v.status != VisitStatus.DONE]
    past = [v for v in visits if v not in upcoming]
    return render_template(
        "portal/contract.html", client=client, contract=current, package=package,
        addons=addons, upcoming=upcoming, past=past, today=today,
    )


# -- company users (portal administrators only) ------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
def users() -> ResponseReturnValue:
    """The company's portal users; the administrator invites new ones here."""
    people = portal_accounts.company_users(current_user)
    form = InviteForm()
    status = 200
    if form.validate_on_submit():
        admin = current_user._get_current_object()
        try:
            person = portal_accounts.invite_user(
                admin, email=form.email.data, name=form.name.data,
                portal_role=form.portal_role.data,
            )
        except portal_accounts.AccountError as exc:
            form.email.errors.append(str(exc))
            status = 429 if isinstance(exc, portal_accounts.InviteLimitReached) else 400
        else:
            if person is None:  # staff's or another company's address: the same answer
                db.session.commit()
                flash(str(portal_accounts.INVITE_ANSWER) % {"email": form.email.data.strip()},
                      "info")
                return redirect(url_for("portal.users"))
            message = portal_accounts.invite_message(person, admin)
            db.session.commit()
            _send_now(message, person.email)
            return redirect(url_for("portal.users"))
    elif form.errors:
        status = 400
    return render_template(
        "portal/users.html", people=people, form=form, action=ActionForm()
    ), status


def _send_now(message, email: str) -> None:
    """Send while the administrator waits, so a mail problem is shown to them."""
    try:
        mail.send(message)
    except Exception:
        current_app.logger.exception("invitation to %s not sent", email)
        flash(_("The invitation to %(email)s could not be sent. Try again later.",
                email=email), "error")
    else:
        flash(str(portal_accounts.INVITE_ANSWER) % {"email": email}, "info")


@bp.post("/users/<int:user_id>/resend")
def resend_invite(user_id: int) -> ResponseReturnValue:
    """Send the set-password link again (it expired, or the mail got lost)."""
    person = portal_accounts.get_company_user_or_404(current_user, user_id)
    if ActionForm().validate_on_submit() and person.active and not person.password_hash:
        message = portal_accounts.invite_message(person, current_user._get_current_object())
        _send_now(message, person.email)
    return redirect(url_for("portal.users"))


@bp.post("/users/<int:user_id>/remove")
def remove_user(user_id: int) -> ResponseReturnValue:
    """Take a user's access away."""
    person = portal_accounts.get_company_user_or_404(current_user, user_id)
    if ActionForm().validate_on_submit():
        try:
            portal_accounts.remove_user(current_user._get_current_object(), person)
        except portal_accounts.AccountError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("%(name)s can no longer sign in.", name=person.name), "info")
    return redirect(url_for("portal.users"))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc) -> ResponseReturnValue:
    """A request over MAX_CONTENT_LENGTH: say so in words, not with a bare error page."""
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    return render_template(
        "portal/too_large.html", size=f"{limit / 1024 / 1024:g}"
    ), 413


@bp.errorhandler(404)
def _not_found(_exc) -> ResponseReturnValue:
    """Someone else's ticket, file or report looks exactly like one that does not exist."""
    return render_template(
        "errors/error.html", code=404, title=_("Not found"),
        message=_("There is nothing here, or it is not for your account."),
    ), 404


@bp.errorhandler(403)
def _forbidden(_exc) -> ResponseReturnValue:
    """Staff who open a portal address: say what the portal is, in the reader's language."""
    return render_template(
        "errors/error.html", code=403, title=_("Not for this account"),
        message=_("The client portal is for the users of our client companies."),
    ), 403
