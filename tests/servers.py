"""Real servers for tests: Dovecot (IMAP, STARTTLS, IMAPS) and an aiosmtpd sink, on loopback.

Import the fixtures into a test module (``from tests.servers import dovecot, imap_account``) or
list ``tests.servers`` in the root conftest's ``pytest_plugins``. When a server cannot start the
tests are skipped, except under CI (``CI=true``) where that is a failure.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, NoReturn

import pytest
from imapclient import IMAPClient

DOVECOT_BINARIES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
STARTUP_TIMEOUT = 15.0
#: Users written before start-up, so that handing out a fresh account never waits for a reload.
USER_POOL_SIZE = 300


def in_ci() -> bool:
    """Whether the suite runs under CI: ``CI`` set to anything but empty, ``0``, ``false`` or ``no``
    (CI systems say ``true``, ``True`` or ``1``; ``.ci/run`` exports ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need_server(reason: str) -> NoReturn:
    """Skip a test whose server is unavailable on a developer's machine; under CI a missing
    server is a failure, never a skip."""
    if in_ci():
        pytest.fail(f"required test server unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait_for_greeting(host: str, port: int, timeout: float, proc: subprocess.Popen) -> bool:
    """Poll until the IMAP greeting arrives, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=1) as sock:
                if sock.recv(200).startswith(b"* OK"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


# --------------------------------------------------------------------------------------------
# IMAP
# --------------------------------------------------------------------------------------------


@dataclass
class ImapAccount:
    """One mailbox user on the test Dovecot, with helpers that act like another mail client."""

    host: str
    port: int
    user: str
    password: str
    ssl_port: int | None = None
    cafile: str | None = None

    def tls_context(self) -> ssl.SSLContext:
        """A client TLS context trusting this server's self-signed certificate (or skip)."""
        if self.cafile is None:
            need_server("openssl is not available, so the test Dovecot has no TLS")
        return ssl.create_default_context(cafile=self.cafile)

    def connect(self) -> IMAPClient:
        """A logged-in plain-text IMAP connection (loopback only)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple[str, ...] = ()) -> int | None:
        """Deliver a message into a folder; returns its UID (from APPENDUID)."""
        client = self.connect()
        try:
            response = client.append(folder, raw, flags=flags)
        finally:
            client.logout()
        text = response.decode() if isinstance(response, bytes) else str(response)
        match = re.search(r"APPENDUID \d+ (\d+)", text)
        return int(match.group(1)) if match else None

    def create_folder(self, name: str) -> None:
        client = self.connect()
        try:
            if not client.folder_exists(name):
                client.create_folder(name)
        finally:
            client.logout()

    def folders(self) -> list[str]:
        client = self.connect()
        try:
            return sorted(name for _, _, name in client.list_folders())
        finally:
            client.logout()

    def list_uids(self, folder: str = "INBOX") -> list[int]:
        client = self.connect()
        try:
            client.select_folder(folder, readonly=True)
            return sorted(client.search(["ALL"]))
        finally:
            client.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> flags, read without changing them."""
        client = self.connect()
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            fetched = client.get_flags(uids) if uids else {}
        finally:
            client.logout()
        return {
            uid: {f.decode() if isinstance(f, bytes) else f for f in found}
            for uid, found in fetched.items()
        }

    def fetch(self, uid: int, folder: str = "INBOX") -> bytes:
        client = self.connect()
        try:
            client.select_folder(folder, readonly=True)
            return client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        finally:
            client.logout()

    def reset(self) -> None:
        """Empty the mailbox: every folder but INBOX deleted, INBOX expunged."""
        client = self.connect()
        try:
            names = [name for _, _, name in client.list_folders()]
            for name in sorted(names, key=len, reverse=True):
                if name.upper() != "INBOX":
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search(["ALL"])
            if uids:
                client.add_flags(uids, [b"\\Deleted"], silent=True)
                client.expunge()
        finally:
            client.logout()


@dataclass
class DovecotServer(ImapAccount):
    """A private Dovecot instance; its own default account plus ``new_account()`` for more."""

    root: Path = field(default_factory=Path)
    process: subprocess.Popen | None = None
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))
    _pool: list[tuple[str, str]] = field(default_factory=list)

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self, user: str, password: str) -> ImapAccount:
        """Add a passwd-file user now; slow (Dovecot re-reads the file at most once a second)."""
        self._write_users([(user, password)])
        time.sleep(1.1)
        return self._account(user, password)

    def new_account(self) -> ImapAccount:
        """A brand-new user with an empty mailbox (taken from users created at startup)."""
        if not self._pool:
            self._pool = self._make_pool(50)
            self._write_users(self._pool)
            time.sleep(1.1)
        user, password = self._pool.pop(0)
        return self._account(user, password)

    def _account(self, user: str, password: str) -> ImapAccount:
        return ImapAccount(self.host, self.port, user, password, self.ssl_port, self.cafile)

    def _make_pool(self, size: int) -> list[tuple[str, str]]:
        return [(f"user{next(self._numbers)}", secrets.token_urlsafe(12)) for _ in range(size)]

    def _write_users(self, users: list[tuple[str, str]]) -> None:
        with open(self.root / "passwd", "a", encoding="utf-8") as passwd:
            passwd.writelines(f"{user}:{{PLAIN}}{password}\n" for user, password in users)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def _make_certificate(root: Path) -> tuple[str, str] | None:
    """A throw-away self-signed certificate for localhost/127.0.0.1, or None without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = root / "cert.pem", root / "key.pem"
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        return None
    key.chmod(0o600)
    return str(cert), str(key)


def _dovecot_config(
    root: Path, port: int, ssl_port: int | None, tls: tuple[str, str] | None
) -> str:
    """A self-contained Dovecot 2.3 configuration living entirely under ``root``."""
    if os.geteuid() == 0:
        try:
            mail_user = pwd.getpwnam("dovecot")
        except KeyError:
            mail_user = pwd.getpwnam("nobody")
        internal_user, login_user = mail_user.pw_name, "dovenull"
        try:
            pwd.getpwnam(login_user)
        except KeyError:
            login_user = "nobody"
        chroot = ""
    else:  # unprivileged: everything runs as us, no chroot possible
        mail_user = pwd.getpwuid(os.geteuid())
        internal_user = login_user = mail_user.pw_name
        chroot = "  chroot =\n"
    (root / "mail").mkdir()
    if os.geteuid() == 0:
        os.chown(root / "mail", mail_user.pw_uid, mail_user.pw_gid)
    internal_group = grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name
    ssl_lines = "ssl = no"
    imaps_port, imaps_ssl = 0, "no"
    if tls is not None:
        ssl_lines = f"ssl = yes\nssl_cert = <{tls[0]}\nssl_key = <{tls[1]}"
        imaps_port, imaps_ssl = ssl_port or 0, "yes"
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = helpdesk-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
{ssl_lines}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {min(mail_user.pw_uid, 100) if mail_user.pw_uid else 1}
first_valid_gid = {min(mail_user.pw_gid, 100) if mail_user.pw_gid else 1}
mail_uid = {mail_user.pw_uid}
mail_gid = {mail_user.pw_gid}
mail_location = maildir:{root}/mail/%u:LAYOUT=fs
mail_fsync = never
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={root}/mail/%u
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = {imaps_ssl}
  }}
{chroot}}}
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


def start_dovecot() -> DovecotServer:
    """Start a private Dovecot; calls need_server() if that is impossible here."""
    binary = next((b for b in DOVECOT_BINARIES if os.access(b, os.X_OK)), shutil.which("dovecot"))
    if binary is None:
        need_server("Dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()
    if not version.startswith("2.3."):
        need_server(f"the test configuration is written for Dovecot 2.3, found {version!r}")
    last_error = ""
    for _ in range(3):  # a just-freed port can be taken by someone else: retry with new ports
        root = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-", dir="/tmp"))
        root.chmod(0o755)  # Dovecot's unprivileged login and mail users must traverse it
        port, ssl_port = free_port(), free_port()
        tls = _make_certificate(root)
        (root / "passwd").write_text("")
        (root / "passwd").chmod(0o644)
        conf = root / "dovecot.conf"
        conf.write_text(_dovecot_config(root, port, ssl_port, tls))
        out = open(root / "stdout.log", "wb")  # noqa: SIM115 - lives as long as the process
        process = subprocess.Popen(
            [binary, "-F", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out.close()
        server = DovecotServer(
            host="127.0.0.1",
            port=port,
            user="helpdesk",
            password=secrets.token_urlsafe(12),
            ssl_port=ssl_port if tls else None,
            cafile=tls[0] if tls else None,
            root=root,
            process=process,
        )
        server._pool = server._make_pool(USER_POOL_SIZE)
        server._write_users([(server.user, server.password), *server._pool])
        if _wait_for_greeting(server.host, port, STARTUP_TIMEOUT, process):
            return server
        last_error = (server.log + (root / "stdout.log").read_text(errors="replace"))[-2000:]
        server.stop()
    need_server(f"Dovecot did not start: {last_error.strip() or 'no output'}")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A Dovecot for the whole session, with a default account on a loopback port."""
    server = start_dovecot()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A fresh user with an empty mailbox for each test."""
    return dovecot.new_account()


# --------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP sink accepted: the envelope and the exact bytes of DATA."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        """The DATA parsed with the modern email API, for assertions on headers and parts."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


class SmtpSink:
    """aiosmtpd handler that records every message and lets tests wait for them."""

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.messages: list[ReceivedMail] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd hook: keep the envelope and the raw DATA bytes."""
        data = envelope.original_content or envelope.content
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(data))
        with self._arrived:
            self.messages.append(mail)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until at least ``count`` messages arrived; fail the test on timeout."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout):
                pytest.fail(f"expected {count} mail(s) within {timeout}s, got {len(self.messages)}")
            return list(self.messages)

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """An SMTP server on a free loopback port that accepts and records everything."""
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
    except ImportError as exc:
        need_server(f"aiosmtpd is not installed: {exc}")

    sink = SmtpSink("127.0.0.1", free_port(), "mailer", secrets.token_urlsafe(12))

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == sink.user and auth_data.password.decode() == sink.password
        )
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        sink,
        hostname=sink.host,
        port=sink.port,
        ready_timeout=10,
        enable_SMTPUTF8=True,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    try:
        controller.start()
    except Exception as exc:  # noqa: BLE001 - any start failure means "no server here"
        need_server(f"aiosmtpd did not start: {exc}")
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening, for connection-refused tests."""
    return free_port()
