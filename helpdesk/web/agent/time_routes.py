"""Console pages for logged time: the ticket's time panel (timer, phone call, time by hand), editing
entries, the review of out-of-hours work, corrections of closed months and package changes.

Views validate and call the accounting services (ledger, timers, usage); the services flush and
the view commits. A form that fails is shown again with its errors next to the fields: on the
ticket page for the panel's forms (``time_panel`` reads the failed form from ``g``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ...accounting.importers.cdr import normalize_phone
from ...accounting.ledger import (
    LedgerError,
    add_adjustment,
    delete_entry,
    entries_needing_review,
    log_entry,
    review_entry,
    update_entry,
)
from ...accounting.month_entries import month_entries
from ...accounting.periods import month_bounds, period_of
from ...accounting.tariff import KINDS
from ...accounting.timers import (
    TimerStopped,
    cancel_timer,
    running_timer,
    start_timer,
    stop_timer,
)
from ...accounting.usage import usage_json
from ...auth.policy import (
    can_edit_time_entry,
    can_see_client_reports,
    get_client_or_404,
    get_ticket_by_number_or_404,
)
from ...contracts import active_contract
from ...contracts.changes import ContractChangeError, change_package, package_id_on
from ...extensions import db
from ...hardening.bounds import check_month
from ...models import (
    Client,
    ClosedMonth,
    Contact,
    ContactPhone,
    EntryKind,
    EntrySource,
    Package,
    Role,
    Ticket,
    TimeEntry,
    User,
    utcnow,
)
from ..filters import label
from . import bp

#: The order kinds are offered in.
KIND_ORDER = ("remote", "phone", "email", "consulting", "visit", "development")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _kind_choices() -> list[tuple[str, str]]:
    return [(k, label(k, "entry_kind")) for k in KIND_ORDER if k in KINDS]


def _viewer_zone() -> ZoneInfo:
    """The zone the console shows times in (the user's, else the default)."""
    return ZoneInfo(str(get_timezone() or current_app.config["TIMEZONE"]))


def _local_now() -> datetime:
    return utcnow().astimezone(_viewer_zone()).replace(second=0, microsecond=0, tzinfo=None)


def _aware(local: datetime) -> datetime:
    """A naive time typed in the viewer's zone, as an aware UTC datetime."""
    return local.replace(tzinfo=_viewer_zone()).astimezone(ZoneInfo("UTC"))


def _not_future(form, field) -> None:
    if field.data and field.data > _local_now() + timedelta(minutes=5):
        raise ValidationError(_l("This is in the future."))


# -- forms -----------------------------------------------------------------------------------


class TimerStartForm(FlaskForm):
    session_code = StringField(_l("LogMeIn session code"), validators=[Optional(), Length(max=100)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class TimerStopForm(FlaskForm):
    session_code = StringField(_l("LogMeIn session code"), validators=[Optional(), Length(max=100)])
    note = TextAreaField(_l("What was done"), validators=[Optional(), Length(max=2000)])


class TimerCancelForm(FlaskForm):
    """Only the CSRF token."""


class PhoneCallForm(FlaskForm):
    caller = StringField(_l("Caller's number"), validators=[Optional(), Length(max=40)])
    started_at = DateTimeLocalField(_l("Call started"), format=LOCAL_FORMAT,
                                    validators=[DataRequired(_l("Enter when the call started.")),
                                                _not_future])
    minutes = IntegerField(_l("Minutes"), validators=[
        InputRequired(_l("Enter the minutes.")),
        NumberRange(min=1, max=8 * 60, message=_l("From %(min)s to %(max)s minutes."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ManualTimeForm(FlaskForm):
    kind = SelectField(_l("Kind of work"), validators=[DataRequired(_l("Choose the kind of work."))])
    started_at = DateTimeLocalField(_l("Started"), format=LOCAL_FORMAT,
                                    validators=[DataRequired(_l("Enter when the work started.")),
                                                _not_future])
    minutes = IntegerField(_l("Minutes"), validators=[
        InputRequired(_l("Enter the minutes.")),
        NumberRange(min=1, max=24 * 60, message=_l("From %(min)s to %(max)s minutes."))])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class EditEntryForm(ManualTimeForm):
    ticket_number = IntegerField(_l("Ticket number"), validators=[Optional()])


class DeleteForm(FlaskForm):
    """Only the CSRF token."""


class ReviewForm(FlaskForm):
    """Only the CSRF token; the decision is the button pressed."""


class AdjustmentForm(FlaskForm):
    minutes_delta = IntegerField(_l("Minutes worked to add (negative: take back)"),
                                 validators=[Optional(), NumberRange(min=-24 * 60, max=24 * 60)])
    billable_delta = IntegerField(
        _l("Billable minutes to add or take back (leave empty: recomputed from the minutes)"),
        validators=[Optional(), NumberRange(min=-100 * 60, max=100 * 60)],
    )
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Write the reason.")),
                                                      Length(max=2000)])

    def validate_minutes_delta(self, field) -> None:
        if not field.data and self.billable_delta.data is None:
            raise ValidationError(_l("Give the minutes to add or take back."))


class ContractChangeForm(FlaskForm):
    package = SelectField(_l("New package"), validators=[DataRequired()])
    direction = SelectField(_l("Change"))
    on = DateField(_l("Date (client's calendar; empty: today)"), validators=[Optional()])


# -- the ticket's time panel -------------------------------------------------------------------


@dataclass
class TimePanel:
    """What ``agent/_time.html`` shows for a ticket and the signed-in agent."""

    ticket: Ticket
    entries: list[TimeEntry]
    editable: set[int]
    timer: Any
    forms: dict[str, FlaskForm]
    zone: str
    closed: set[str] = field(default_factory=set)

    @property
    def elapsed_text(self) -> str:
        """H:MM:SS since the running timer started (the page's script keeps it ticking)."""
        if self.timer is None:
            return ""
        seconds = max(int((utcnow() - self.timer.started_at).total_seconds()), 0)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    @property
    def total_minutes(self) -> int:
        return sum(e.minutes for e in self.entries)

    @property
    def total_billable(self) -> int:
        return sum(e.billable_minutes for e in self.entries)


def _panel_forms(given: dict[str, FlaskForm]) -> dict[str, FlaskForm]:
    forms: dict[str, FlaskForm] = {
        "timer_start": TimerStartForm(prefix="timer", formdata=None),
        "timer_stop": TimerStopForm(prefix="stop", formdata=None),
        "timer_cancel": TimerCancelForm(prefix="cancel", formdata=None),
        "call": PhoneCallForm(prefix="call", formdata=None, started_at=_local_now()),
        "manual": ManualTimeForm(prefix="time", formdata=None, started_at=_local_now()),
    }
    forms["manual"].kind.choices = _kind_choices()
    forms.update(given)
    return forms


def time_panel(ticket: Ticket) -> TimePanel:
    """The ticket's entries (newest first), the agent's running timer and the panel's forms."""
    entries = list(db.session.scalars(
        select(TimeEntry).where(TimeEntry.ticket_id == ticket.id)
        .order_by(TimeEntry.started_at.desc(), TimeEntry.id.desc())
    ))
    periods = {e.period for e in entries}
    closed = set(db.session.scalars(
        select(ClosedMonth.period).where(ClosedMonth.period.in_(periods))
    )) if periods else set()
    editable = {
        e.id for e in entries
        if can_edit_time_entry(current_user, e, month_closed=e.period in closed)
    }
    return TimePanel(
        ticket=ticket,
        entries=entries,
        editable=editable,
        timer=running_timer(current_user, ticket),
        forms=_panel_forms(getattr(g, "time_forms", {})),
        zone=str(_viewer_zone()),
        closed=closed,
    )


@dataclass
class UsagePanel:
    """What ``agent/_client_usage.html`` shows: this month's figures, as the API has them."""

    client: Client
    period: str
    data: dict[str, Any]
    show_money: bool
    can_manage: bool

    @property
    def percent(self) -> int:
        included = self.data["included_minutes"]
        used = self.data["billable_minutes"]
        if included <= 0:
            return 100 if used > 0 else 0
        return round(used * 100 / included)


def client_usage_panel(client: Client, period: str | None = None) -> UsagePanel:
    """The client's usage of ``period`` (default: the client's current month)."""
    period = period or period_of(utcnow(), client.timezone)
    return UsagePanel(
        client=client,
        period=period,
        data=usage_json(client, period),
        show_money=can_see_client_reports(current_user, client),
        can_manage=_can_manage_client(current_user, client),
    )


@bp.context_processor
def _time_helpers() -> dict:
    return {"time_panel": time_panel, "client_usage_panel": client_usage_panel}


def _ticket_page_with(number: int, status: int, **forms: FlaskForm):
    """The ticket page again, the failed form showing its errors next to its fields."""
    g.time_forms = forms
    response = make_response(current_app.view_functions["agent.ticket"](number=number))
    response.status_code = status
    return response


def _back_to_ticket(ticket: Ticket):
    return redirect(url_for("agent.ticket", number=ticket.number) + "#time")


def _ticket_client(ticket: Ticket) -> Client | None:
    return db.session.get(Client, ticket.client_id) if ticket.client_id else None


# -- timer -----------------------------------------------------------------------------------


@bp.post("/tickets/<int:number>/timer/start")
def timer_start(number: int):
    """Start timing a remote session of the signed-in agent on this ticket."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    form = TimerStartForm(prefix="timer")
    if not form.validate_on_submit():
        return _ticket_page_with(number, 400, timer_start=form)
    try:
        start_timer(current_user, ticket, session_code=form.session_code.data,
                    note=form.note.data)
    except LedgerError as exc:
        form.session_code.errors.append(str(exc))
        db.session.rollback()
        return _ticket_page_with(number, 409, timer_start=form)
    db.session.commit()
    return _back_to_ticket(ticket)


@bp.post("/tickets/<int:number>/timer/stop")
def timer_stop(number: int):
    """Stop the agent's timer: the session becomes a time entry."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    form = TimerStopForm(prefix="stop")
    timer = running_timer(current_user, ticket)
    if timer is None:
        flash(_("No session is being timed on this ticket."), "error")
        return _back_to_ticket(ticket)
    if not form.validate_on_submit():
        return _ticket_page_with(number, 400, timer_stop=form)
    try:
        entry = stop_timer(timer, user=current_user, session_code=form.session_code.data,
                           note=form.note.data)
    except TimerStopped:  # a double click or a second tab: the first request logged it
        db.session.rollback()
        flash(_("This session was stopped already; its time is recorded once."), "info")
        return _back_to_ticket(ticket)
    except LedgerError as exc:
        db.session.rollback()
        form.session_code.errors.append(str(exc))
        return _ticket_page_with(number, 409, timer_stop=form)
    db.session.commit()
    flash(_("Remote session recorded: %(m)s min, %(b)s billable.", m=entry.minutes,
            b=entry.billable_minutes), "info")
    return _back_to_ticket(ticket)


@bp.post("/tickets/<int:number>/timer/cancel")
def timer_cancel(number: int):
    """Throw the running timer away without recording time."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    form = TimerCancelForm(prefix="cancel")
    timer = running_timer(current_user, ticket)
    if form.validate_on_submit() and timer is not None:
        try:
            cancel_timer(timer, user=current_user)
        except TimerStopped:
            db.session.rollback()
            flash(_("This session was stopped already; its time is recorded once."), "info")
            return _back_to_ticket(ticket)
        db.session.commit()
        flash(_("Timer cancelled; no time recorded."), "info")
    return _back_to_ticket(ticket)


# -- phone call and time by hand -------------------------------------------------------------


def _contact_by_number(number: str) -> Contact | None:
    normalized = normalize_phone(number, current_app.config.get("PHONE_COUNTRY_CODE", "381"))
    if not normalized:
        return None
    return db.session.scalar(
        select(Contact).join(ContactPhone, ContactPhone.contact_id == Contact.id)
        .where(ContactPhone.normalized == normalized)
    )


@bp.post("/tickets/<int:number>/time/call")
def log_call(number: int):
    """Record a phone call; the caller's number is matched to a contact."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    form = PhoneCallForm(prefix="call")
    if not form.validate_on_submit():
        return _ticket_page_with(number, 400, call=form)
    client = _ticket_client(ticket)
    contact = _contact_by_number(form.caller.data) if form.caller.data else None
    if contact is not None and client is not None and contact.client_id != client.id:
        form.caller.errors.append(_("This number is a contact of another client."))
        return _ticket_page_with(number, 400, call=form)
    if client is None and contact is not None:
        client = db.session.get(Client, contact.client_id)
    if client is None:
        form.caller.errors.append(_("The ticket has no client: give a known caller number."))
        return _ticket_page_with(number, 400, call=form)
    caller = form.caller.data.strip() if form.caller.data else ""
    who = (f"{contact.name} ({caller})" if contact else caller) if caller else ""
    note = "\n".join(t for t in (
        _("Call from %(who)s", who=who) if who else "", (form.note.data or "").strip()
    ) if t) or None
    try:
        log_entry(client=client, kind=EntryKind.PHONE, started_at=_aware(form.started_at.data),
                  minutes=form.minutes.data, ticket=ticket, agent=current_user,
                  source=EntrySource.MANUAL, note=note, user=current_user)
    except LedgerError as exc:
        db.session.rollback()
        form.started_at.errors.append(str(exc))
        return _ticket_page_with(number, 409, call=form)
    db.session.commit()
    if caller and contact is None:
        flash(_("Call recorded. The number %(n)s is not a known contact's.", n=caller), "info")
    else:
        flash(_("Call recorded."), "info")
    return _back_to_ticket(ticket)


@bp.post("/tickets/<int:number>/time")
def log_time(number: int):
    """Record time by hand: kind, start, minutes, note."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    form = ManualTimeForm(prefix="time")
    form.kind.choices = _kind_choices()
    if not form.validate_on_submit():
        return _ticket_page_with(number, 400, manual=form)
    client = _ticket_client(ticket)
    if client is None:
        form.kind.errors.append(_("The ticket has no client to bill: set the client first."))
        return _ticket_page_with(number, 400, manual=form)
    try:
        log_entry(client=client, kind=form.kind.data, started_at=_aware(form.started_at.data),
                  minutes=form.minutes.data, ticket=ticket, agent=current_user,
                  source=EntrySource.MANUAL, note=(form.note.data or "").strip() or None,
                  user=current_user)
    except LedgerError as exc:
        db.session.rollback()
        form.started_at.errors.append(str(exc))
        return _ticket_page_with(number, 409, manual=form)
    db.session.commit()
    flash(_("Time recorded."), "info")
    return _back_to_ticket(ticket)


# -- editing an entry ------------------------------------------------------------------------


def _entry_or_404(entry_id: int) -> TimeEntry:
    entry = db.session.get(TimeEntry, entry_id)
    if entry is None:
        abort(404)
    get_client_or_404(current_user, entry.client_id)
    return entry


def _back_from_entry(entry: TimeEntry):
    if entry.ticket_id:
        ticket = db.session.get(Ticket, entry.ticket_id)
        if ticket is not None:
            return _back_to_ticket(ticket)
    return redirect(url_for("agent.client_time", client_id=entry.client_id, month=entry.period))


@bp.route("/time/<int:entry_id>/edit", methods=["GET", "POST"])
def edit_entry(entry_id: int):
    """Edit an entry: an agent their own of an open month, an admin any of an open month."""
    entry = _entry_or_404(entry_id)
    if not can_edit_time_entry(current_user, entry):
        abort(403)
    if entry.is_adjustment:
        return redirect(url_for("agent.client_time", client_id=entry.client_id,
                                month=entry.period))
    zone = _viewer_zone()
    ticket = db.session.get(Ticket, entry.ticket_id) if entry.ticket_id else None
    form = EditEntryForm(
        prefix="edit", kind=entry.kind,
        started_at=entry.started_at.astimezone(zone).replace(tzinfo=None, second=0,
                                                             microsecond=0),
        minutes=entry.minutes,
        note=entry.note, ticket_number=ticket.number if ticket else None,
    )
    form.kind.choices = _kind_choices()
    status = 200
    if form.validate_on_submit():
        changes: dict[str, Any] = {
            "kind": form.kind.data,
            "note": (form.note.data or "").strip() or None,
        }
        new_start = _aware(form.started_at.data)
        old_local = entry.started_at.astimezone(zone).replace(second=0, microsecond=0)
        if new_start != old_local.astimezone(ZoneInfo("UTC")):
            changes["started_at"] = new_start
        if form.minutes.data != entry.minutes or "started_at" in changes:
            changes["minutes"] = form.minutes.data
        if form.ticket_number.data:
            target = db.session.scalar(
                select(Ticket).where(Ticket.number == form.ticket_number.data)
            )
            if target is None or target.client_id not in (None, entry.client_id):
                form.ticket_number.errors.append(_("No ticket of this client has that number."))
            else:
                changes["ticket_id"] = target.id
        else:
            changes["ticket_id"] = None
        if not form.ticket_number.errors:
            try:
                update_entry(entry, user=current_user, **changes)
            except LedgerError as exc:
                db.session.rollback()
                form.started_at.errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("Entry saved."), "info")
                return _back_from_entry(entry)
        status = 409 if form.started_at.errors else 400
    elif request.method == "POST":
        status = 400
    return render_template("agent/time_edit.html", entry=entry, form=form,
                           delete_form=DeleteForm(prefix="delete", formdata=None),
                           zone=str(zone)), status


@bp.post("/time/<int:entry_id>/delete")
def delete_time_entry(entry_id: int):
    """Delete an entry of an open month (the audit log keeps it)."""
    entry = _entry_or_404(entry_id)
    if not can_edit_time_entry(current_user, entry):
        abort(403)
    form = DeleteForm(prefix="delete")
    if not form.validate_on_submit():
        abort(400)
    back = _back_from_entry(entry)
    try:
        delete_entry(entry, user=current_user)
    except LedgerError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    db.session.commit()
    flash(_("Entry deleted."), "info")
    return back


# -- a client's month ------------------------------------------------------------------------


def _month_arg(client: Client) -> str:
    month = request.args.get("month") or period_of(utcnow(), client.timezone)
    try:
        month_bounds(check_month(month))
    except ValueError:
        abort(400, description=_("The month must look like YYYY-MM."))
    return month


def _shift(month: str, delta: int) -> str:
    first, after, _ = month_bounds(month)
    day = after if delta > 0 else first - timedelta(days=1)
    return day.strftime("%Y-%m")


@bp.route("/clients/<int:client_id>/time")
def client_time(client_id: int):
    """A client's entries of one month, with the month's figures."""
    client = get_client_or_404(current_user, client_id)
    month = _month_arg(client)
    rows = month_entries(client, month)
    closed = db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == month))
    by_id = {e.id: e for e in db.session.scalars(
        select(TimeEntry).where(TimeEntry.id.in_([r.id for r in rows]))
    )} if rows else {}
    editable = {
        r.id for r in rows
        if can_edit_time_entry(current_user, by_id[r.id], month_closed=closed is not None)
    }
    return render_template(
        "agent/time_month.html", client=client, month=month, rows=rows, editable=editable,
        closed=closed is not None, usage_panel=client_usage_panel(client, month),
        previous=_shift(month, -1), following=_shift(month, 1),
        can_manage=_can_manage_client(current_user, client),
    )


# -- review of out-of-hours work -------------------------------------------------------------


def _can_manage_client(user: User, client: Client) -> bool:
    """Admins, and the client's account manager: review, adjust, change the package."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.ACCOUNT_MANAGER and client.account_manager_id == user.id


@bp.route("/time/review")
def review_list():
    """Out-of-hours work of clients without on-call: the account manager's decisions."""
    if current_user.role not in (Role.ADMIN, Role.ACCOUNT_MANAGER):
        abort(403)
    manager = None if current_user.role == Role.ADMIN else current_user
    entries = entries_needing_review(manager)
    periods = {e.period for e in entries}
    closed = set(db.session.scalars(
        select(ClosedMonth.period).where(ClosedMonth.period.in_(periods))
    )) if periods else set()
    return render_template("agent/time_review.html", entries=entries, closed=closed,
                           form=ReviewForm(formdata=None))


@bp.post("/time/<int:entry_id>/review")
def review(entry_id: int):
    """Record the account manager's decision on an out-of-hours entry."""
    entry = _entry_or_404(entry_id)
    client = db.session.get(Client, entry.client_id)
    if not _can_manage_client(current_user, client):
        abort(403)
    form = ReviewForm()
    decision = request.form.get("decision", "")
    if not form.validate_on_submit():
        abort(400)
    try:
        review_entry(entry, user=current_user, decision=decision)
    except LedgerError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Decision saved."), "info")
    return redirect(url_for("agent.review_list"))


# -- corrections of closed months ------------------------------------------------------------


@bp.route("/time/<int:entry_id>/adjust", methods=["GET", "POST"])
def adjust_entry(entry_id: int):
    """Correct an entry of a closed month with an adjustment in the open month."""
    entry = _entry_or_404(entry_id)
    client = db.session.get(Client, entry.client_id)
    if not _can_manage_client(current_user, client) or entry.is_adjustment:
        abort(403)
    form = AdjustmentForm(prefix="adjust")
    status = 200
    if form.validate_on_submit():
        try:
            adjustment = add_adjustment(
                entry, reason=form.reason.data, user=current_user,
                minutes_delta=form.minutes_delta.data or 0,
                billable_delta=form.billable_delta.data,
            )
        except LedgerError as exc:
            db.session.rollback()
            form.reason.errors.append(str(exc))
            status = 409
        else:
            db.session.commit()
            flash(_("Adjustment recorded in %(p)s.", p=adjustment.period), "info")
            return redirect(url_for("agent.client_time", client_id=client.id,
                                    month=adjustment.period))
    elif request.method == "POST":
        status = 400
    adjustments = list(db.session.scalars(
        select(TimeEntry).where(TimeEntry.adjusts_entry_id == entry.id).order_by(TimeEntry.id)
    ))
    return render_template("agent/time_adjust.html", entry=entry, client=client, form=form,
                           adjustments=adjustments), status


# -- package changes -------------------------------------------------------------------------


def _client_today(client: Client) -> date:
    return utcnow().astimezone(ZoneInfo(client.timezone)).date()


@bp.route("/clients/<int:client_id>/contract/change", methods=["GET", "POST"])
def change_contract(client_id: int):
    """Upgrade (at once, prorated) or downgrade (from next month) the client's package."""
    client = get_client_or_404(current_user, client_id)
    if not _can_manage_client(current_user, client):
        abort(403)
    today = _client_today(client)
    contract = active_contract(client.id, today)
    packages = list(db.session.scalars(
        select(Package).where(Package.active.is_(True)).order_by(Package.rank)
    ))
    form = ContractChangeForm(prefix="change")
    form.package.choices = [(p.code, p.name) for p in packages]
    form.direction.choices = [
        ("upgrade", _("Upgrade: from the date below, prorated")),
        ("downgrade", _("Downgrade: from the first day of the next month")),
    ]
    current = (db.session.get(Package, package_id_on(contract, today))
               if contract is not None else None)
    status = 200
    if contract is not None and form.validate_on_submit():
        package = next(p for p in packages if p.code == form.package.data)
        try:
            change = change_package(contract, package, upgrade=form.direction.data == "upgrade",
                                    requested_on=form.on.data or today, user=current_user)
        except ContractChangeError as exc:
            db.session.rollback()
            form.package.errors.append(str(exc))
            status = 409
        else:
            db.session.commit()
            flash(_("%(p)s from %(d)s.", p=package.name, d=change.effective_date.isoformat()),
                  "info")
            return redirect(url_for("agent.client", client_id=client.id))
    elif request.method == "POST":
        status = 400
    return render_template("agent/time_contract.html", client=client, contract=contract,
                           current=current, form=form, today=today), status

