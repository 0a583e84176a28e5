"""A client's month of time, the review of out-of-hours work and corrections of closed months."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...accounting.ledger import (
    LedgerError,
    add_adjustment,
    entries_needing_review,
    review_entry,
)
from ...accounting.month_entries import month_entries
from ...accounting.periods import month_bounds, period_of
from ...auth.policy import (
    can_edit_time_entry,
    get_client_or_404,
)
from ...extensions import db
from ...hardening.bounds import check_month
from ...models import (
    Client,
    ClosedMonth,
    Role,
    TimeEntry,
    utcnow,
)
from . import bp
from .time_forms import (
    AdjustmentForm,
    ReviewForm,
)
from .time_panel import (
    _can_manage_client,
    _entry_or_404,
    client_usage_panel,
)

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
