"""IMAP access for ingest: find new mail by UID, fetch it unread, file it away when done.

A thin layer on imapclient. Every failure surfaces as an ``ImapError`` whose ``retryable`` says
whether opening a new connection later may help (network trouble) or not (bad password,
certificate, missing folder), so the ingest loop can back off and reconnect without guessing.
"""

from __future__ import annotations

import imaplib
import ipaddress
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from imapclient import IMAPClient
from imapclient import exceptions as imap_exceptions

Security = Literal["ssl", "starttls", "plain"]
SECURITY_MODES: tuple[str, ...] = ("ssl", "starttls", "plain")

SEEN = b"\\Seen"
DELETED = b"\\Deleted"
FLAGGED = b"\\Flagged"

#: UIDs per command, keeping command lines far below servers' line-length limits.
_UID_CHUNK = 500


class ImapError(Exception):
    """An IMAP operation failed; ``retryable`` is True when reconnecting later may help."""

    retryable = False


class ImapConnectionError(ImapError):
    """The connection failed or broke (network, timeout, server gone): reconnect and retry."""

    retryable = True


class ImapAuthError(ImapError):
    """The server refused the user name or password."""


class ImapTLSError(ImapError):
    """TLS could not be set up: bad certificate, or STARTTLS not offered."""


class ImapProtocolError(ImapError):
    """The server answered NO or BAD (missing folder, unsupported command...)."""


class ImapConfigError(ValueError):
    """A mailbox configuration that must not be used."""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; no DNS lookup is made."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, kw_only=True)
class MailboxConfig:
    """Where and how to read one support mailbox, and where to file what was read."""

    name: str
    host: str
    user: str
    password: str = field(repr=False)
    port: int | None = None  #: None: 993 for "ssl", 143 otherwise
    security: Security = "ssl"
    folder: str = "INBOX"
    processed_folder: str | None = None  #: None: processed mail stays and gets \Seen
    failed_folder: str | None = None  #: None: failed mail stays and gets \Flagged
    queue: str | None = None  #: the helpdesk queue this mailbox feeds
    batch_size: int = 25
    timeout: float = 60.0  #: socket timeout for every command, seconds
    cafile: str | None = None  #: extra CA bundle for servers with a private CA

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ImapConfigError(
                f"mailbox {self.name!r}: security must be one of {', '.join(SECURITY_MODES)}, "
                f"not {self.security!r}"
            )
        if self.security == "plain" and not is_loopback(self.host):
            raise ImapConfigError(
                f"mailbox {self.name!r}: security 'plain' sends the password unencrypted and is "
                f"only allowed for loopback hosts, not {self.host!r}; use 'ssl' or 'starttls'"
            )
        if not self.host.strip():
            raise ImapConfigError(f"mailbox {self.name!r}: host is empty")
        if self.port is not None and not 0 < self.port < 65536:
            raise ImapConfigError(f"mailbox {self.name!r}: port {self.port} is out of range")
        if self.batch_size < 1:
            raise ImapConfigError(f"mailbox {self.name!r}: batch_size must be at least 1")
        if self.processed_folder is not None and self.processed_folder == self.folder:
            raise ImapConfigError(f"mailbox {self.name!r}: processed_folder equals folder")

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.security == "ssl" else 143


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn imaplib/imapclient/socket exceptions into ImapError subclasses."""
    try:
        yield
    except ImapError:
        raise
    except imap_exceptions.LoginError as exc:
        raise ImapAuthError(f"{action}: login refused: {_text(exc)}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise ImapTLSError(f"{action}: certificate not trusted: {exc.verify_message}") from exc
    except imaplib.IMAP4.abort as exc:  # before IMAP4.error: abort is a subclass of it
        raise ImapConnectionError(f"{action}: connection lost: {_text(exc)}") from exc
    except (imaplib.IMAP4.error, imap_exceptions.IMAPClientError) as exc:
        raise ImapProtocolError(f"{action}: {_text(exc)}") from exc
    except (OSError, EOFError) as exc:  # socket errors, timeouts, TLS errors, refused
        raise ImapConnectionError(f"{action}: {type(exc).__name__}: {exc}") from exc


def _text(exc: BaseException) -> str:
    message = exc.args[0] if exc.args else str(exc)
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return str(message)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ImapMailbox:
    """One logged-in connection with the configured folder selected."""

    def __init__(self, client: IMAPClient, config: MailboxConfig) -> None:
        self.config = config
        self._client = client
        with _translated(f"select {config.folder!r}"):
            selected = client.select_folder(config.folder)
            capabilities = client.capabilities()
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        self.has_move = b"MOVE" in capabilities
        self.has_uidplus = b"UIDPLUS" in capabilities
        self.has_idle = b"IDLE" in capabilities

    # -- reading --------------------------------------------------------------------------------
    def uidvalidity(self) -> int:
        """The folder's UIDVALIDITY: if it changes, all stored UIDs are meaningless."""
        return self._uidvalidity

    def new_uids(self, after_uid: int) -> list[int]:
        """UIDs above ``after_uid``, ascending (``n:*`` also matches the last mail when < n)."""
        with _translated("search new mail"):
            found = self._client.search(["UID", f"{max(after_uid, 0) + 1}:*"])
        return sorted(uid for uid in found if uid > after_uid)

    def message_sizes(self, uids: Iterable[int]) -> dict[int, int]:
        """RFC822.SIZE of each message, to plan batches or refuse oversized mail unread."""
        sizes: dict[int, int] = {}
        for chunk in _chunks(sorted(set(uids)), _UID_CHUNK):
            with _translated("fetch sizes"):
                response = self._client.fetch(chunk, [b"RFC822.SIZE"])
            sizes.update({uid: int(data[b"RFC822.SIZE"]) for uid, data in response.items()})
        return sizes

    def fetch_batches(
        self,
        uids: Iterable[int],
        batch_size: int | None = None,
        *,
        max_batch_bytes: int = 64 * 1024 * 1024,
    ) -> Iterator[list[tuple[int, bytes]]]:
        """Yield (uid, raw bytes) lists in UID order, fetched with BODY.PEEK[] (stays unseen).

        A batch holds at most ``batch_size`` messages and, unless one message alone is bigger,
        at most ``max_batch_bytes``; mail deleted meanwhile is skipped.
        """
        limit = batch_size or self.config.batch_size
        ordered = sorted(set(uids))
        sizes = self.message_sizes(ordered)
        batch: list[int] = []
        batch_bytes = 0
        for uid in ordered:
            if uid not in sizes:
                continue  # expunged by someone else since the search
            if batch and (len(batch) >= limit or batch_bytes + sizes[uid] > max_batch_bytes):
                yield self._fetch(batch)
                batch, batch_bytes = [], 0
            batch.append(uid)
            batch_bytes += sizes[uid]
        if batch:
            yield self._fetch(batch)

    def _fetch(self, uids: list[int]) -> list[tuple[int, bytes]]:
        with _translated("fetch mail"):
            response = self._client.fetch(uids, [b"BODY.PEEK[]"])
        return [
            (uid, response[uid][b"BODY[]"]) for uid in uids if b"BODY[]" in response.get(uid, {})
        ]

    # -- filing ---------------------------------------------------------------------------------
    def ensure_folders(self) -> None:
        """Create (and subscribe) the processed and failed folders if they are missing."""
        for folder in (self.config.processed_folder, self.config.failed_folder):
            if folder is None:
                continue
            with _translated(f"create folder {folder!r}"):
                if not self._client.folder_exists(folder):
                    try:
                        self._client.create_folder(folder)
                    except (imaplib.IMAP4.error, imap_exceptions.IMAPClientError) as exc:
                        # Another ingest process made it between our check and our CREATE.
                        if "ALREADYEXISTS" not in str(exc).upper():
                            raise
                    self._client.subscribe_folder(folder)

    def mark_done(self, uids: Iterable[int]) -> None:
        """File processed mail: move it to processed_folder, or just mark it \\Seen."""
        ordered = sorted(set(uids))
        if not ordered:
            return
        if self.config.processed_folder is None:
            self._add_flags(ordered, [SEEN])
        else:
            self._move(ordered, self.config.processed_folder)

    def move_failed(self, uids: Iterable[int]) -> None:
        """Set aside mail that could not be ingested: failed_folder, or \\Flagged in place."""
        ordered = sorted(set(uids))
        if not ordered:
            return
        if self.config.failed_folder is None:
            self._add_flags(ordered, [FLAGGED])
        else:
            self._move(ordered, self.config.failed_folder)

    def _add_flags(self, uids: list[int], flags: list[bytes]) -> None:
        for chunk in _chunks(uids, _UID_CHUNK):
            with _translated("set flags"):
                self._client.add_flags(chunk, flags, silent=True)

    def _move(self, uids: list[int], folder: str) -> None:
        """UID MOVE when offered; else COPY, \\Deleted and UID EXPUNGE of just these UIDs."""
        for chunk in _chunks(uids, _UID_CHUNK):
            with _translated(f"move to {folder!r}"):
                if self.has_move:
                    self._client.move(chunk, folder)
                    continue
                self._client.copy(chunk, folder)
                self._client.add_flags(chunk, [DELETED], silent=True)
                if self.has_uidplus:
                    self._client.uid_expunge(chunk)
                else:  # without UIDPLUS only a full EXPUNGE exists
                    self._client.expunge()

    # -- waiting --------------------------------------------------------------------------------
    def idle_wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for new mail; True if the server reported some.

        Uses IMAP IDLE (keep ``timeout`` under 29 minutes, RFC 2177), or sleeps and polls with
        NOOP on servers without IDLE.
        """
        with _translated("wait for mail"):
            _, pending = self._client.noop()  # mail that came in since the last command
            if _reports_new_mail(pending):
                return True
            if not self.has_idle:
                time.sleep(timeout)
                _, responses = self._client.noop()
                return _reports_new_mail(responses)
            self._client.idle()
            try:
                responses = self._client.idle_check(timeout=timeout)
            finally:
                _, more = self._client.idle_done()
        return _reports_new_mail([*responses, *more])

    def noop(self) -> None:
        """Keep the connection alive and let the server deliver pending updates."""
        with _translated("noop"):
            self._client.noop()

    def close(self) -> None:
        """Log out, or drop the socket if the connection is already broken."""
        try:
            self._client.logout()
        except Exception:  # noqa: BLE001 - closing must never fail
            try:
                self._client.shutdown()
            except Exception:  # noqa: BLE001, S110
                pass


def _reports_new_mail(responses: Iterable[object]) -> bool:
    return any(
        isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")
        for response in responses
    )


def _connect(config: MailboxConfig, ssl_context: ssl.SSLContext | None) -> IMAPClient:
    context = ssl_context or ssl.create_default_context(cafile=config.cafile)
    action = f"connect to {config.host}:{config.effective_port}"
    with _translated(action):
        client = IMAPClient(
            config.host,
            port=config.effective_port,
            ssl=config.security == "ssl",
            ssl_context=context if config.security == "ssl" else None,
            timeout=config.timeout,
        )
    try:
        if config.security == "starttls":
            with _translated(action):
                if not client.has_capability("STARTTLS"):
                    raise ImapTLSError(f"{action}: server does not offer STARTTLS")
                client.starttls(context)
        with _translated(f"log in as {config.user!r}"):
            client.login(config.user, config.password)
    except BaseException:
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001, S110 - already failing; report the first error
            pass
        raise
    return client


@contextmanager
def open_mailbox(
    config: MailboxConfig, *, ssl_context: ssl.SSLContext | None = None
) -> Iterator[ImapMailbox]:
    """Connect, log in and select the folder; always log out afterwards."""
    client = _connect(config, ssl_context)
    try:
        mailbox = ImapMailbox(client, config)
    except BaseException:
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001, S110
            pass
        raise
    try:
        yield mailbox
    finally:
        mailbox.close()


__all__ = [
    "ImapAuthError",
    "ImapConfigError",
    "ImapConnectionError",
    "ImapError",
    "ImapMailbox",
    "ImapProtocolError",
    "ImapTLSError",
    "MailboxConfig",
    "is_loopback",
    "open_mailbox",
]
