"""Remote-session timers: started on a ticket, kept in the database (they survive reloads and
logouts), stopped into a time entry of the ledger, or cancelled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from ..audit_log.record import record, snapshot
from ..extensions import db
from ..models import Client, EntryKind, EntrySource, RunningTimer, Ticket, TimeEntry, User, utcnow
from .ledger import LedgerError, insert_ignoring_conflict, log_entry

__all__ = ["TimerError", "TimerStopped", "cancel_timer", "running_timer", "start_timer", "stop_timer", "timers_of"]


class TimerError(LedgerError):
    """A timer action that cannot be done; the message is for the user."""


class TimerStopped(TimerError):
    """Another request stopped (or cancelled) this timer first."""


def running_timer(agent: User, ticket: Ticket) -> RunningTimer | None:
    """The agent's timer on this ticket, if one runs."""
    return db.session.scalar(
        select(RunningTimer).where(
            RunningTimer.agent_id == agent.id, RunningTimer.ticket_id == ticket.id
        )
    )


def timers_of(agent: User) -> list[RunningTimer]:
    """All timers the agent has running (on any ticket), oldest first."""
    return list(db.session.scalars(
        select(RunningTimer).where(RunningTimer.agent_id == agent.id)
        .order_by(RunningTimer.started_at)
    ))


def _clean_code(code: str | None) -> str | None:
    code = (code or "").strip()
    return code[:100] or None


def start_timer(
    agent: User,
    ticket: Ticket,
    *,
    kind: str = EntryKind.REMOTE,
    session_code: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> RunningTimer:
    """Start timing the agent's session on the ticket; the running one if it was started already."""
    if ticket.client_id is None:
        raise TimerError("the ticket has no client to bill: set the client first")
    if kind not in (EntryKind.REMOTE, EntryKind.PHONE):
        raise TimerError(f"only remote sessions and calls are timed, not {kind}")
    new_id = insert_ignoring_conflict(
        RunningTimer,
        {"agent_id": agent.id, "ticket_id": ticket.id, "kind": str(kind),
         "started_at": now or utcnow(), "session_code": _clean_code(session_code),
         "note": (note or "").strip() or None},
        ["agent_id", "ticket_id"],
    )
    if new_id is None:
        timer = running_timer(agent, ticket)
        if timer is None:  # stopped by another request in between
            raise TimerError("the timer was stopped meanwhile: start it again")
        return timer
    timer = db.session.get(RunningTimer, new_id)
    record(timer, "start", user=agent)
    return timer


def stop_timer(
    timer: RunningTimer,
    *,
    user: User,
    now: datetime | None = None,
    session_code: str | None = None,
    note: str | None = None,
) -> TimeEntry:
    """Stop the timer: the session becomes a time entry (the LogMeIn session code, if given, is
    its external reference, so the same session imported later from LogMeIn is not billed twice).
    """
    ticket = db.session.get(Ticket, timer.ticket_id)
    client = db.session.get(Client, ticket.client_id) if ticket.client_id else None
    if client is None:
        raise TimerError("the ticket has no client to bill")
    before = snapshot(timer)
    _claim(timer)
    now = now or utcnow()
    ended_at = max(now, timer.started_at)
    code = _clean_code(session_code) or timer.session_code
    text = "\n".join(t for t in ((timer.note or "").strip(), (note or "").strip()) if t) or None
    entry = log_entry(
        client=client,
        kind=timer.kind,
        started_at=timer.started_at,
        ended_at=ended_at,
        ticket=ticket,
        agent=db.session.get(User, timer.agent_id),
        source=EntrySource.TIMER,
        external_ref=code,
        note=text,
        user=user,
    )
    record(timer, "stop", user=user, before=before, after={"time_entry_id": entry.id})
    db.session.flush()
    return entry


def _claim(timer: RunningTimer) -> None:
    """Delete the timer's row first (DELETE ... RETURNING): only the request that deleted it
    goes on to log time; a second click or tab waits for the first and is told it stopped."""
    claimed = db.session.execute(
        delete(RunningTimer).where(RunningTimer.id == timer.id).returning(RunningTimer.id),
        execution_options={"synchronize_session": False},
    ).scalar()
    if claimed is None:
        db.session.expunge(timer)
        raise TimerStopped("the timer was stopped already (another click or tab)")
    db.session.expunge(timer)  # the row is gone; keep its values for the entry and the audit


def cancel_timer(timer: RunningTimer, *, user: User) -> None:
    """Throw the timer away without recording time."""
    before = snapshot(timer)
    _claim(timer)
    record(timer, "cancel", user=user, before=before)
    db.session.flush()
