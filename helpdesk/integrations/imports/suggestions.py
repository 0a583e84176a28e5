"""The one-click ticket suggestions of imported entries: confirm (the entry goes on the ticket)
or dismiss."""

from __future__ import annotations

from ...accounting.ledger import LedgerError, update_entry
from ...extensions import db
from ...models import User
from ..models import TicketSuggestion
from .batches import ImportRefused


def confirm_suggestion(suggestion: TicketSuggestion, user: User) -> None:
    """Put the entry on the suggested ticket (one click)."""
    try:
        update_entry(suggestion.entry, user=user, ticket_id=suggestion.ticket_id)
    except LedgerError as exc:
        raise ImportRefused(str(exc)) from exc
    db.session.delete(suggestion)
    db.session.flush()


def dismiss_suggestion(suggestion: TicketSuggestion, user: User) -> None:
    db.session.delete(suggestion)
    db.session.flush()
