"""The admin "Mailboxes" page's side of ingest: note each pass, and try a mailbox's login.

``note_poll`` is called after every pass (``ingest --once``, the scheduler job, ``--watch``);
``check_connection`` logs in through the same IMAP layer ingest uses and says in one line what
went wrong. ``mailbox_overview`` joins the configured mailboxes with their recorded state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from helpdesk.extensions import db
from helpdesk.mailboxes.status import PollState, poll_states, record_poll
from mail_ingest.config import mailbox_configs
from mail_ingest.imap import (
    ImapAuthError,
    ImapConfigError,
    ImapConnectionError,
    ImapError,
    ImapTLSError,
    MailboxConfig,
    open_mailbox,
)

log = logging.getLogger(__name__)


def note_poll(name: str, *, taken: int = 0, error: str | None = None) -> None:
    """Record a pass in its own transaction; a failure to record never stops ingest."""
    try:
        db.session.rollback()
        record_poll(name, taken=taken, error=error)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("mailbox %s: could not record the poll", name)


@dataclass(frozen=True)
class MailboxRow:
    """A configured mailbox as the admin page lists it (never the password)."""

    index: int
    name: str
    host: str
    port: int
    security: str
    user: str
    folder: str
    queue: str
    state: PollState


def mailbox_overview(settings: Mapping[str, Any]) -> tuple[list[MailboxRow], str | None]:
    """Every configured mailbox with its state, and the one-line configuration error if the
    settings cannot be read."""
    try:
        configs = mailbox_configs(settings)
    except ImapConfigError as exc:
        return [], str(exc)
    states = poll_states([c.name for c in configs])
    return [
        MailboxRow(index=i, name=c.name, host=c.host, port=c.effective_port, security=c.security,
                   user=c.user, folder=c.folder, queue=c.queue or "support", state=state)
        for i, (c, state) in enumerate(zip(configs, states, strict=True))
    ], None


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    #: "ok", "auth", "tls", "connect", "protocol", "config"
    kind: str
    detail: str
    messages: int | None = None


def check_connection(config: MailboxConfig) -> ConnectionCheck:
    """Log in, select the folder, count its mail, log out: what ingest would do first."""
    try:
        with open_mailbox(config) as mailbox:
            count = len(mailbox.new_uids(0))
    except ImapAuthError as exc:
        return ConnectionCheck(False, "auth", _line(exc))
    except ImapTLSError as exc:
        return ConnectionCheck(False, "tls", _line(exc))
    except ImapConnectionError as exc:
        return ConnectionCheck(False, "connect", _line(exc))
    except ImapError as exc:
        return ConnectionCheck(False, "protocol", _line(exc))
    return ConnectionCheck(True, "ok", "", count)


def check_configured(
    settings: Mapping[str, Any], index: int
) -> tuple[MailboxConfig | None, ConnectionCheck]:
    """Check the ``index``-th configured mailbox (LookupError when there is none)."""
    try:
        configs = mailbox_configs(settings)
    except ImapConfigError as exc:
        return None, ConnectionCheck(False, "config", _line(exc))
    if not 0 <= index < len(configs):
        raise LookupError(index)
    return configs[index], check_connection(configs[index])


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]
