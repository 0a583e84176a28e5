"""Mailing acknowledgements in the background, so waiting on SMTP does not hold up ingest: a
thread, or for a big pass a mailer process of its own."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from flask import Flask

from mail_ingest.ackjournal import (
    journal_path,
    sync_journal,
)
from mail_ingest.acknowledgements import AckJob, AckResult, _deliver_one, _Session, deliver

log = logging.getLogger(__name__)

class AcknowledgementSender:
    """Mails acknowledgements in the background, so waiting on SMTP does not hold up ingest:
    from a thread, or, for a big pass, in a mailer process (:func:`mailer_process`), where
    rendering and encoding the mails do not compete with storing tickets for this process's
    interpreter lock. Outcomes are collected with :meth:`results` and written with
    :func:`record_results`."""

    def __init__(self, app: Flask, mailer: Executor | None = None) -> None:
        self._app = app
        self._mailer = mailer
        self._futures: list[tuple[list[AckJob], Future[list[AckResult]]]] = []
        self._jobs: queue.SimpleQueue[AckJob | None] = queue.SimpleQueue()
        self._results: list[AckResult] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Message-IDs of acknowledgements handed over and not yet reported back.
        self.pending: set[str] = set()

    def submit(self, jobs: Iterable[AckJob]) -> None:
        """Hand committed acknowledgements over for mailing."""
        jobs = list(jobs)
        if not jobs:
            return
        with self._lock:
            self.pending.update(job.message_id for job in jobs)
        if self._mailer is not None:
            self._futures.append((jobs, self._mailer.submit(_deliver_in_mailer, jobs)))
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ack-sender", daemon=True)
            self._thread.start()
        for job in jobs:
            self._jobs.put(job)

    def results(self, *, wait: bool = False) -> list[AckResult]:
        """The outcomes reported since the last call (``wait``: for everything submitted)."""
        still_running = []
        for jobs, future in self._futures:
            if not (wait or future.done()):
                still_running.append((jobs, future))
                continue
            try:
                found = future.result()
            except Exception as exc:  # noqa: BLE001 - the mailer process died: try again later
                log.warning("the mailer process failed: %s", exc)
                found = [
                    AckResult(j.message_id, sent=False, retry=True, error=str(exc)) for j in jobs
                ]
            with self._lock:
                self._results.extend(found)
        self._futures = still_running
        with self._lock:
            found, self._results = self._results, []
            for result in found:
                self.pending.discard(result.message_id)
        return found

    def close(self) -> list[AckResult]:
        """Wait until everything submitted has been tried; returns the outstanding results."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        return self.results(wait=True)

    def _run(self) -> None:
        with self._app.app_context():
            session = _Session()
            try:
                while (job := self._jobs.get()) is not None:
                    result = _deliver_one(job, session)
                    if self._jobs.empty():  # a run of mailing ends: its journal to disk
                        sync_journal(journal_path())
                    with self._lock:
                        self._results.append(result)
            finally:
                sync_journal(journal_path())
                session.close()


# -- the mailer process -------------------------------------------------------------------------

#: SMTP sessions the mailer process keeps open side by side: while one waits for the server's
#: reply, the other's mail is rendered and sent (a single session spends most of its time
#: waiting, and a big pass ended waiting for its acknowledgements).
MAILER_SESSIONS = 2

_mailer_app: Flask | None = None
_mailer_sessions: list[_Session] = []
_mailer_threads: ThreadPoolExecutor | None = None


def mailer_process(app: Flask) -> Executor:
    """A process that renders and mails acknowledgements for a big ingest pass (it builds its
    own app from this app's settings; its SMTP session stays open between batches)."""
    context = multiprocessing.get_context("spawn")
    settings = dict(app.config)
    with app.app_context():
        settings["INGEST_ACK_JOURNAL"] = journal_path()
    return ProcessPoolExecutor(
        1,
        mp_context=context,
        initializer=_start_mailer,
        initargs=(settings, os.getpid()),
    )


def _start_mailer(settings: dict[str, Any], parent_pid: int) -> None:
    global _mailer_app, _mailer_threads
    from helpdesk import create_mail_app
    from mail_ingest.lifecycle import die_with_parent

    die_with_parent(parent_pid)
    _mailer_app = create_mail_app(settings)
    _mailer_sessions[:] = [_Session() for _ in range(MAILER_SESSIONS)]
    _mailer_threads = ThreadPoolExecutor(MAILER_SESSIONS, thread_name_prefix="smtp")
    multiprocessing.util.Finalize(None, _close_mailer, exitpriority=10)  # at exit: QUIT


def _close_mailer() -> None:
    if _mailer_threads is not None:
        _mailer_threads.shutdown(wait=True)
    for session in _mailer_sessions:
        session.close()


def _deliver_in_mailer(jobs: list[AckJob]) -> list[AckResult]:
    """Mail a batch of acknowledgements over the mailer's sessions side by side, each taking
    every n-th job (the results name their Message-IDs, so their order does not matter)."""
    assert _mailer_threads is not None
    count = len(_mailer_sessions)
    shares = [
        _mailer_threads.submit(_deliver_share, jobs[index::count], session)
        for index, session in enumerate(_mailer_sessions)
    ]
    return [result for share in shares for result in share.result()]


def _deliver_share(jobs: list[AckJob], session: _Session) -> list[AckResult]:
    assert _mailer_app is not None
    session.broken = False  # an outage is judged afresh for every batch
    with _mailer_app.app_context():
        return deliver(jobs, session)  # syncs the journal when its share is done

