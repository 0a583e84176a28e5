"""The mailbox's state row: the folder's UIDVALIDITY and the last UID stored and filed away;
each batch transaction starts by writing it, so concurrent ingests queue there."""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from helpdesk.extensions import db
from helpdesk.models import MailboxState, utcnow
from mail_ingest.imap import MailboxConfig
from mail_ingest.status import note_poll
from mail_ingest.summary import BatchAborted, Summary

log = logging.getLogger(__name__)



def note_pass(config: MailboxConfig, summary: Summary) -> None:
    """Tell the admin page how the pass went (mail stored, the first error)."""
    prefix = f"{config.name}: "
    error = summary.errors[0].removeprefix(prefix) if summary.errors else None
    note_poll(config.name, taken=summary.new_tickets + summary.replies, error=error)


def begin_state(name: str, uidvalidity: int) -> int:
    """The last UID done in this folder; 0 for a new folder or one whose UIDVALIDITY changed."""
    state = db.session.scalar(select(MailboxState).where(MailboxState.name == name))
    if state is None:
        db.session.add(MailboxState(name=name, uidvalidity=uidvalidity, last_uid=0))
        try:
            db.session.commit()
        except IntegrityError:  # created by a concurrent ingest
            db.session.rollback()
        state = db.session.scalar(select(MailboxState).where(MailboxState.name == name))
    if state.uidvalidity != uidvalidity:
        log.warning(
            "mailbox %s: UIDVALIDITY changed (%s -> %s): reading the folder again; "
            "mail stored before is recognised by its Message-ID",
            name,
            state.uidvalidity,
            uidvalidity,
        )
        state.uidvalidity, state.last_uid = uidvalidity, 0
    last_uid = int(state.last_uid or 0)
    db.session.commit()
    return last_uid


def lock_state(name: str) -> None:
    """Start the batch transaction by writing the mailbox's row: concurrent ingests queue here."""
    db.session.execute(
        update(MailboxState).where(MailboxState.name == name).values(updated_at=utcnow())
    )


def advance_state(name: str, uidvalidity: int | None, uid: int) -> None:
    """Move last_uid on to ``uid`` (never back), for the same UIDVALIDITY only."""
    try:
        db.session.execute(
            update(MailboxState)
            .where(
                MailboxState.name == name,
                MailboxState.uidvalidity == uidvalidity,
                MailboxState.last_uid < uid,
            )
            .values(last_uid=uid, updated_at=utcnow())
        )
        db.session.commit()
    except OperationalError as exc:  # the mail is stored and filed; the next pass skips it
        db.session.rollback()
        raise BatchAborted(f"database: {exc}") from exc
