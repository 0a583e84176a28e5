"""The ticket's time panel and the client's usage panel, and the helpers the time views share.

A form that fails is shown again with its errors next to the fields: on the ticket page for the
panel's forms (``time_panel`` reads the failed form from ``g``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import (
    abort,
    current_app,
    g,
    make_response,
    redirect,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from ...accounting.periods import period_of
from ...accounting.timers import (
    running_timer,
)
from ...accounting.usage import usage_json
from ...auth.policy import (
    can_edit_time_entry,
    can_see_client_reports,
    get_client_or_404,
)
from ...extensions import db
from ...models import (
    Client,
    ClosedMonth,
    Role,
    Ticket,
    TimeEntry,
    User,
    utcnow,
)
from . import bp
from .time_forms import (
    ManualTimeForm,
    PhoneCallForm,
    TimerCancelForm,
    TimerStartForm,
    TimerStopForm,
    _kind_choices,
    _local_now,
    _viewer_zone,
)

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


def _can_manage_client(user: User, client: Client) -> bool:
    """Admins, and the client's account manager: review, adjust, change the package."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.ACCOUNT_MANAGER and client.account_manager_id == user.id
