"""The ingest pipeline: new mail in each support mailbox becomes tickets, nothing lost, nothing twice.

Per mailbox, ``MailboxState`` keeps the folder's UIDVALIDITY and the last UID whose mail is
stored *and* filed away. A pass asks the server for the UIDs above it and streams them in
batches (``fetch_batches``: bounded by count and bytes, never the whole mailbox). A big pass
fetches on a second connection in a thread and parses in worker processes
(:mod:`mail_ingest.pipeline`, :mod:`mail_ingest.prepare`), a few batches ahead of the one
being stored, so the server, the parser and the database work at the same time. Each batch is stored in one transaction
(:mod:`mail_ingest.store`: one SAVEPOINT for the batch, one per message when a message fails).
Only after that commit is the mail filed away on the server (moved to the processed folder,
or flagged \\Seen), and only after that does ``last_uid`` move on. So:

* a crash between the commit and the flag re-reads the batch next time; its Message-IDs are
  stored already (``Article.message_id`` is unique), so the mail is just filed away;
* two ingest processes on one mailbox serialise on the mailbox's state row (each batch
  transaction starts by updating it) and the second finds the first one's Message-IDs;
* when UIDVALIDITY changes, the folder is read again from the start and the Message-IDs decide;
* a message that cannot be stored gets an ``IngestFailure`` row (error, attempts; shown to
  admins) and is moved to the failed folder (or flagged \\Flagged in place when there is none):
  never deleted, never blocking the mail behind it. Putting it back into the inbox retries it.
  Database trouble that is not the message's fault (locked, connection lost) and attachment
  store errors (disk full) roll the batch back unflagged; the next pass tries again.

Acknowledgements of new tickets are queued in the batch's own transaction (an outbox, see
:mod:`mail_ingest.outgoing`) and mailed from a background thread once it is committed; a failed
acknowledgement never touches the ticket, and one left queued by a crash goes out on a later pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any, Self

from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.extensions import db
from mail_ingest import outgoing
from mail_ingest.config import mailbox_configs, own_addresses
from mail_ingest.imap import ImapError, ImapMailbox, ImapProtocolError, MailboxConfig, open_mailbox
from mail_ingest.pipeline import (  # noqa: F401 - PIPELINE_DEPTH, POOL_CHUNK: re-exported
    PIPELINE_DEPTH,
    POOL_CHUNK,
    POOL_MIN_BATCH,
    InlineFetch,
    Parser,
    Prefetcher,
    default_workers,
)
from mail_ingest.prepare import PreparedMessage, sweep_temporary_files
from mail_ingest.state import advance_state, begin_state, lock_state, note_pass
from mail_ingest.status import note_poll
from mail_ingest.store import (
    AUTOMATIC,
    COPY,
    FAILED,
    NEW_TICKET,
    REPLY,
    REUSED_ID,
    UNVERIFIED,
    StoreSettings,
    notify_bounces,
    store_batch,
)
from mail_ingest.summary import BatchAborted, IngestError, Summary

log = logging.getLogger(__name__)

#: Passes with at least this many new mails render and send acknowledgements in a separate
#: mailer process (when parse workers are enabled); smaller ones use a thread.
MAILER_PROCESS_MIN = 200
#: Seconds of IMAP IDLE before a watch loop checks in (and re-reads the folder) anyway.
DEFAULT_IDLE_SECONDS = 300
#: Reconnect back-off of ``watch``: first wait and ceiling, seconds.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0
#: Old names (tests and callers).
_Parser = Parser
_BatchAborted = BatchAborted

# -- the pipeline ---------------------------------------------------------------------------------


class Ingestor:
    """Ingest for one app: reads mailboxes, stores tickets, sends acknowledgements.

    Use as a context manager (or call ``close``) so the parse workers are stopped.
    """

    def __init__(self, app: Flask, *, workers: int | None = None) -> None:
        self.app = app
        cfg = app.config
        self.own_addresses = own_addresses(cfg)
        self.parser = Parser(
            default_workers(cfg) if workers is None else workers,
            int(cfg["ATTACHMENT_MAX_BYTES"]),
            str(cfg["ATTACHMENT_DIR"]),
            cfg.get("INGEST_AUTHSERV_ID") or None,
        )
        sweep_temporary_files(cfg["ATTACHMENT_DIR"])
        self._last_resend = -float("inf")
        self._mailer: Executor | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the parse workers and the mailer process."""
        self.parser.close()
        if self._mailer is not None:
            self._mailer.shutdown(wait=True)
            self._mailer = None

    def _mailer_for(self, new_mails: int) -> Executor | None:
        """The mailer process for a big pass (started once, kept for the next passes)."""
        if self._mailer is None and self.parser.workers > 0 and new_mails >= MAILER_PROCESS_MIN:
            self._mailer = outgoing.mailer_process(self.app)
        return self._mailer

    # -- one pass -----------------------------------------------------------------------------
    def run_mailbox(self, config: MailboxConfig) -> Summary:
        """Connect, ingest everything new, disconnect; IMAP errors end up in ``errors``."""
        summary = Summary()
        try:
            with open_mailbox(config) as mailbox:
                mailbox.ensure_folders()
                self.drain(mailbox, summary)
        except ImapError as exc:
            log.warning("mailbox %s: %s", config.name, exc)
            summary.errors.append(f"{config.name}: {exc}")
        note_pass(config, summary)
        return summary

    def drain(self, mailbox: ImapMailbox, summary: Summary | None = None) -> Summary:
        """Ingest every message above the stored last UID of an open mailbox (counting into
        ``summary``, so what was done before an IMAP error still shows)."""
        config = mailbox.config
        summary = summary if summary is not None else Summary()
        uidvalidity = mailbox.uidvalidity()
        last_uid = begin_state(config.name, uidvalidity)
        uids = mailbox.new_uids(last_uid)
        acks = outgoing.AcknowledgementSender(self.app, self._mailer_for(len(uids)))
        self._resend_left_behind(acks)
        try:
            if uids:
                self._ingest(mailbox, uidvalidity, uids, summary, acks)
        except BatchAborted as exc:
            summary.errors.append(f"{config.name}: {exc}")
        finally:
            summary.acknowledgements += _record_acks(acks.close())
            summary.ack_backlog = _backlog()
        return summary

    def _ingest(
        self,
        mailbox: ImapMailbox,
        uidvalidity: int,
        uids: list[int],
        summary: Summary,
        acks: outgoing.AcknowledgementSender,
    ) -> None:
        """Fetch, parse, store and file ``uids`` in batches, parsing one batch ahead."""
        config = mailbox.config
        if len(uids) >= POOL_MIN_BATCH:
            self.parser.warm_up()
        settings = StoreSettings(
            mailbox=config.name,
            uidvalidity=uidvalidity,
            queue=config.queue or "support",
            own_addresses=self.own_addresses,
            message_id_domain=outgoing.message_id_domain(),
        )
        if len(uids) > config.batch_size:
            source: Prefetcher | InlineFetch = Prefetcher(config, uidvalidity, uids, self.parser)
        else:
            source = InlineFetch(mailbox, uids, self.parser)
        try:
            for batch_uids, result in source:
                summary.fetched += len(batch_uids)
                self._finish(mailbox, settings, batch_uids, result, summary, acks)
        finally:
            source.close()

    def _resend_left_behind(self, acks: outgoing.AcknowledgementSender) -> None:
        """Hand queued acknowledgements left by a crash or an SMTP outage to the sender (at
        most once per RETRY_AFTER: it scans the queued articles)."""
        now = time.monotonic()
        if now - self._last_resend < outgoing.retry_after().total_seconds():
            return
        self._last_resend = now
        try:
            jobs = outgoing.pending_acknowledgements(exclude=acks.pending)
            db.session.commit()
            outgoing.forget_applied_journal()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("queued acknowledgements could not be read")
            return
        acks.submit(jobs)

    def _finish(
        self,
        mailbox: ImapMailbox,
        settings: StoreSettings,
        uids: list[int],
        result: Callable[[], list[PreparedMessage]],
        summary: Summary,
        acks: outgoing.AcknowledgementSender,
    ) -> None:
        """Store one parsed batch, file its mail away, move last_uid on, acknowledge."""
        try:
            prepared = result()
        except OSError as exc:
            raise BatchAborted(f"attachments could not be stored: {exc}") from exc
        summary.acknowledgements += _record_acks(acks.results())
        try:
            lock_state(settings.mailbox)
            outcomes = store_batch(prepared, settings)
            db.session.commit()
        except SQLAlchemyError as exc:
            db.session.rollback()
            raise BatchAborted(f"database: {exc}") from exc
        del prepared
        acks.submit(o.ack for o in outcomes if o.ack is not None)
        notify_bounces(outcomes)
        done = [o.uid for o in outcomes if o.kind != FAILED]
        failed = [o.uid for o in outcomes if o.kind == FAILED]
        _file_away(mailbox.mark_done, mailbox, done)
        _file_away(mailbox.move_failed, mailbox, failed)
        advance_state(settings.mailbox, settings.uidvalidity, max(uids))
        counted = {
            NEW_TICKET: "new_tickets",
            REPLY: "replies",
            UNVERIFIED: "unverified",
            AUTOMATIC: "automatic",
            COPY: "duplicates",
            REUSED_ID: "reused_ids",
            FAILED: "failed",
        }
        for outcome in outcomes:
            name = counted.get(outcome.kind, "duplicates")
            setattr(summary, name, getattr(summary, name) + 1)
            if outcome.bounced_article_id is not None:
                summary.bounces += 1

    # -- watching -----------------------------------------------------------------------------
    def watch_mailbox(
        self,
        config: MailboxConfig,
        stop: threading.Event,
        *,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        on_pass: Callable[[MailboxConfig, Summary], None] | None = None,
    ) -> None:
        """Stay connected: ingest, wait with IMAP IDLE, repeat; reconnect with back-off."""
        backoff = BACKOFF_FIRST
        while not stop.is_set():
            try:
                with open_mailbox(config) as mailbox:
                    mailbox.ensure_folders()
                    log.info("mailbox %s: connected, watching", config.name)
                    backoff = BACKOFF_FIRST
                    while not stop.is_set():
                        summary = self.drain(mailbox)
                        note_pass(config, summary)
                        if on_pass is not None and summary.did_something:
                            on_pass(config, summary)
                        if summary.errors:
                            raise BatchAborted("; ".join(summary.errors))
                        if summary.fetched:
                            continue  # more may have come in meanwhile
                        wait = idle_seconds
                        if summary.ack_backlog:  # an SMTP outage: try the queue again soon
                            wait = min(wait, max(outgoing.retry_after().total_seconds(), 5.0))
                        mailbox.idle_wait(wait)
            except (ImapError, BatchAborted, SQLAlchemyError) as exc:
                db.session.rollback()
                log.warning("mailbox %s: %s; reconnecting in %.0f s", config.name, exc, backoff)
                if not isinstance(exc, BatchAborted):  # a failed batch was noted already
                    note_poll(config.name, error=str(exc))
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:  # a bug must not end the watch for good: log it, back off
                db.session.rollback()
                log.exception("mailbox %s: ingest failed; retrying in %.0f s", config.name, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            finally:
                db.session.remove()


def _file_away(action: Callable[[list[int]], None], mailbox: ImapMailbox, uids: list[int]) -> None:
    """Flag or move ``uids``; mail a concurrent ingest filed away meanwhile is left out (the
    server refuses a MOVE naming mail that is gone)."""
    for attempt in range(3):
        try:
            action(uids)
            return
        except ImapProtocolError:
            still_there = sorted(mailbox.message_sizes(uids))
            if attempt == 2 or still_there == sorted(uids):
                raise
            uids = still_there
            if not uids:
                return


def _backlog() -> int:
    try:
        count = outgoing.backlog()
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        return 0
    return count


def _record_acks(results: list[outgoing.AckResult]) -> int:
    """Write acknowledgement outcomes in their own small transaction; returns how many went."""
    if not results:
        return 0
    try:
        sent = outgoing.record_results(results)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("acknowledgement outcomes could not be saved (they stay queued)")
        return 0
    return sent


# -- entry points ---------------------------------------------------------------------------------


def _resolve_app(app_or_config: Flask | Mapping[str, Any] | None) -> Flask:
    if isinstance(app_or_config, Flask):
        return app_or_config
    if app_or_config is None:
        return current_app._get_current_object()  # type: ignore[attr-defined]
    from helpdesk import create_app

    return create_app(dict(app_or_config))


def _in_context(app: Flask) -> bool:
    return has_app_context() and current_app._get_current_object() is app  # type: ignore[attr-defined]


def ingest_all(app_or_config: Flask | Mapping[str, Any] | None = None) -> Summary:
    """One pass over every configured mailbox (the scheduler's job and ``flask ingest --once``).

    Raises IngestError (with the summary of what did work) when a mailbox could not be read.
    """
    app = _resolve_app(app_or_config)
    if not _in_context(app):
        with app.app_context():
            return ingest_all(app)
    summary = Summary()
    with Ingestor(app) as ingestor:
        for config in mailbox_configs(app.config):
            summary.add(ingestor.run_mailbox(config))
    if summary.errors:
        raise IngestError(summary)
    return summary


def watch(
    app: Flask,
    stop: threading.Event | None = None,
    *,
    idle_seconds: float | None = None,
    on_pass: Callable[[MailboxConfig, Summary], None] | None = None,
) -> None:
    """Watch every configured mailbox with IMAP IDLE until ``stop`` is set (one thread each)."""
    stop = stop or threading.Event()
    configs = mailbox_configs(app.config)
    if not configs:
        raise ValueError("no mailbox is configured (IMAP_HOST/IMAP_USER or IMAP_MAILBOXES)")
    idle = float(idle_seconds or app.config.get("INGEST_IDLE_SECONDS") or DEFAULT_IDLE_SECONDS)
    with Ingestor(app) as ingestor:

        def run(config: MailboxConfig) -> None:
            with app.app_context():
                ingestor.watch_mailbox(config, stop, idle_seconds=idle, on_pass=on_pass)

        if len(configs) == 1:  # in this thread, so Ctrl-C interrupts the IDLE at once
            try:
                run(configs[0])
            finally:
                stop.set()
            return
        threads = [
            threading.Thread(target=run, args=(config,), name=f"ingest-{config.name}", daemon=True)
            for config in configs
        ]
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                for thread in threads:
                    thread.join(timeout=0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=2)  # daemon threads: one still in IDLE ends with us
