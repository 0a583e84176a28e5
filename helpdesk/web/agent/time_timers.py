"""The remote-session timer of the ticket's time panel: start, stop (becomes an entry), cancel.

Views validate and call :mod:`helpdesk.accounting.timers`; the services flush, the view commits."""

from __future__ import annotations

from flask import (
    flash,
)
from flask_babel import gettext as _
from flask_login import current_user

from ...accounting.ledger import (
    LedgerError,
)
from ...accounting.timers import (
    TimerStopped,
    cancel_timer,
    running_timer,
    start_timer,
    stop_timer,
)
from ...auth.policy import (
    get_ticket_by_number_or_404,
)
from ...extensions import db
from . import bp
from .time_forms import (
    TimerCancelForm,
    TimerStartForm,
    TimerStopForm,
)
from .time_panel import (
    _back_to_ticket,
    _ticket_page_with,
)

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
