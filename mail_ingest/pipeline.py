"""The stages before storing: fetching batches (on the ingest's connection, or on a second one
in a thread, a few batches ahead) and parsing them (in worker processes for big batches), so
the server, the parser and the database work at the same time."""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mail_ingest.imap import ImapMailbox, ImapProtocolError, MailboxConfig, open_mailbox
from mail_ingest.lifecycle import init_parse_worker
from mail_ingest.prepare import PreparedMessage, prepare_batch, sync_prepared, unprepared

log = logging.getLogger(__name__)

#: Batches smaller than this are parsed in the storing process (no hand-over latency).
POOL_MIN_BATCH = 16
#: Messages per task sent to a worker process.
POOL_CHUNK = 8
#: Parsed batches waiting while one is being stored (bounds memory, whatever the mailbox size).
PIPELINE_DEPTH = 2

# -- parsing --------------------------------------------------------------------------------------


class Parser:
    """Parses fetched mail: in worker processes for big batches, inline for small ones."""

    def __init__(
        self,
        workers: int,
        max_attachment_bytes: int,
        attachment_root: str,
        authserv_id: str | None = None,
    ) -> None:
        self.workers = workers
        self.options = {
            "max_attachment_bytes": max_attachment_bytes,
            "attachment_root": attachment_root,
            "authserv_id": authserv_id,
        }
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Start the worker processes now, e.g. while the first batch is being fetched."""
        if self.workers > 0:
            self._executor()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: workers share no sockets, locks or threads with this process
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=init_parse_worker,
                    initargs=(os.getpid(),),
                )
                for _ in range(self.workers):  # start them all now, not on the first task
                    self._pool.submit(int)
            return self._pool

    def submit(self, batch: list[tuple[int, bytes]]) -> Callable[[], list[PreparedMessage]]:
        """Start parsing; the returned callable waits for and returns the prepared messages."""
        if self.workers <= 0 or len(batch) < POOL_MIN_BATCH:
            return lambda: prepare_batch(batch, **self.options)
        pool = self._executor()
        futures: list[Future[list[PreparedMessage]]] = [
            pool.submit(
                prepare_batch, batch[start : start + POOL_CHUNK], sync=False, **self.options
            )
            for start in range(0, len(batch), POOL_CHUNK)
        ]

        def result() -> list[PreparedMessage]:
            try:
                prepared = [item for future in futures for item in future.result()]
            except BrokenProcessPool:
                return self._one_by_one(batch)
            sync_prepared(prepared, self.options["attachment_root"])  # one sync per batch
            return prepared

        return result

    def _one_by_one(self, batch: list[tuple[int, bytes]]) -> list[PreparedMessage]:
        """A worker died: parse each message alone in a fresh one, to find the one that kills."""
        log.error("a parse worker died; parsing the batch message by message")
        prepared = []
        for uid, raw in batch:
            self._reset()
            try:
                prepared += (
                    self._executor().submit(prepare_batch, [(uid, raw)], **self.options).result()
                )
            except BrokenProcessPool:
                log.error("parsing mail uid %s kills the parser: set aside", uid)
                prepared.append(unprepared(uid, raw, "the parser crashed on this message"))
        return prepared

    def _reset(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def close(self) -> None:
        """Stop the worker processes."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


def default_workers(settings: Mapping[str, Any]) -> int:
    """INGEST_PARSE_WORKERS, else one per CPU: parsing costs about twice what storing does, so
    the storing process mostly waits for the parsers and does not need a CPU of its own."""
    configured = settings.get("INGEST_PARSE_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return max(1, os.cpu_count() or 1)


# -- fetching -------------------------------------------------------------------------------------

_Parsed = tuple[list[int], Callable[[], list[PreparedMessage]]]
_DONE = object()


def _present(mailbox: ImapMailbox, batch: list[tuple[int, Any]]) -> list[tuple[int, bytes]]:
    """The batch without mail expunged meanwhile (the server may answer NIL for it); mail
    still there but sent without content is an error, so it is tried again later, not lost."""
    missing = [uid for uid, raw in batch if raw is None]
    if missing:
        still_there = sorted(mailbox.message_sizes(missing))
        if still_there:
            raise ImapProtocolError(f"the server sent no content for UIDs {still_there}")
    return [(uid, raw) for uid, raw in batch if raw is not None]


class InlineFetch:
    """Batches fetched on the ingest's own connection, one at a time (small passes, IDLE)."""

    def __init__(self, mailbox: ImapMailbox, uids: list[int], parser: Parser) -> None:
        self._mailbox = mailbox
        self._batches = mailbox.fetch_batches(uids)
        self._parser = parser

    def __iter__(self) -> Iterator[_Parsed]:
        for batch in self._batches:
            batch = _present(self._mailbox, batch)
            if batch:  # empty: filed away by a concurrent ingest since the search
                yield [uid for uid, _ in batch], self._parser.submit(batch)

    def close(self) -> None:
        self._batches.close()


class Prefetcher:
    """Fetches batches on a second connection in a thread and hands them to the parser, so
    the server's and the parse workers' time overlaps the storing. At most ``depth`` parsed
    batches wait, so memory does not grow with the mailbox."""

    def __init__(
        self,
        config: MailboxConfig,
        uidvalidity: int,
        uids: list[int],
        parser: Parser,
        depth: int = PIPELINE_DEPTH,
    ) -> None:
        self.uidvalidity = uidvalidity
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(config, uids, parser), name=f"fetch-{config.name}", daemon=True
        )
        self._thread.start()

    def _run(self, config: MailboxConfig, uids: list[int], parser: Parser) -> None:
        try:
            with open_mailbox(config) as reader:
                if reader.uidvalidity() != self.uidvalidity:
                    raise ImapProtocolError("the folder's UIDVALIDITY changed during the pass")
                for fetched in reader.fetch_batches(uids):
                    if self._stop.is_set():
                        return
                    batch = _present(reader, fetched)
                    if batch:
                        self._put(([uid for uid, _ in batch], parser.submit(batch)))
        except Exception as exc:  # noqa: BLE001 - handed to the storing thread, which raises it
            self._put(exc)
        finally:
            self._put(_DONE)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[_Parsed]:
        while (item := self._queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
