"""Ingest killed with SIGKILL at random moments, again and again, then one full run: every
message is stored once and no acknowledgement is mailed more than twice (real Dovecot and SMTP).
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Article, Direction, SendStatus, Ticket
from mail_ingest.ingest import ingest_all
from tests.test_ingest import app_config as ingest_app_config  # noqa: F401 - the servers' settings

if TYPE_CHECKING:
    from tests.servers import ImapAccount, SmtpSink

pytestmark = pytest.mark.imap

ROOT = Path(__file__).resolve().parent.parent
KILLS = 10
#: New mail arriving before each run, so every kill lands in the middle of work.
PER_RUN = 25
MESSAGES = KILLS * PER_RUN

_CHILD = """
import json, sys
from helpdesk import create_app
from mail_ingest.ingest import ingest_all
print("ready", flush=True)
ingest_all(create_app(json.loads(sys.argv[1])))
"""


@pytest.fixture
def app_config(ingest_app_config: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    return {
        **ingest_app_config,
        "IMAP_BATCH_SIZE": 10,
        "INGEST_PARSE_WORKERS": 1,
        "INGEST_ACK_RETRY_SECONDS": 0,
        "AUTO_REPLY_LIMIT_PER_HOUR": 100,
    }


def _mail(n: int) -> bytes:
    attachment = f"prilog {n} ".encode() * 40
    return (
        f"From: Korisnik {n} <user{n}@example.com>\r\nTo: support@helpdesk.example\r\n"
        f"Subject: Problem broj {n} — štampač\r\nMessage-ID: <kill-{n}@example.com>\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=K\r\n\r\n--K\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Štampač {n} ne radi.\r\n--K\r\nContent-Type: application/octet-stream; "
        f"name=log-{n}.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + __import__("base64").encodebytes(attachment) + b"--K--\r\n"


def test_ingest_killed_at_random_moments_stores_everything_once_and_acks_at_most_twice(
    app, imap_account: ImapAccount, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    app.config["INGEST_ACK_JOURNAL"] = str(tmp_path / "ack.journal")
    keys = (
        "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "ATTACHMENT_DIR", "MAIL_SERVER", "MAIL_PORT",
        "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_SUPPRESS_SEND", "MAIL_DEFAULT_SENDER",
        "VENDOR_EMAIL", "IMAP_HOST", "IMAP_PORT", "IMAP_USER", "IMAP_PASSWORD", "IMAP_SECURITY",
        "IMAP_BATCH_SIZE", "INGEST_PARSE_WORKERS", "INGEST_ACK_RETRY_SECONDS",
        "INGEST_ACK_JOURNAL", "AUTO_REPLY_LIMIT_PER_HOUR",
    )  # fmt: skip
    settings = json.dumps({key: app.config[key] for key in keys})
    db.session.commit()
    seed = int(os.environ.get("KILL_TEST_SEED", time.time()))
    rng = random.Random(seed)
    stored: list[int] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in range(KILLS):
        for n in range(run * PER_RUN, (run + 1) * PER_RUN):
            imap_account.append(_mail(n))
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, settings],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert child.stdout.readline().strip() == b"ready", f"seed {seed}"
        time.sleep(rng.uniform(0.05, 0.8))  # somewhere in fetching, parsing, storing, mailing
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        db.session.expire_all()
        stored.append(db.session.scalar(select(func.count(Ticket.id))))
        db.session.commit()

    db.session.expire_all()
    summary = ingest_all(app)
    assert not summary.errors, f"seed {seed}: {summary.errors}"

    incoming = list(
        db.session.scalars(select(Article.message_id).where(Article.direction == Direction.IN))
    )
    assert sorted(incoming) == sorted(f"<kill-{n}@example.com>" for n in range(MESSAGES)), seed
    assert db.session.scalar(select(func.count(Ticket.id))) == MESSAGES
    assert imap_account.list_uids("INBOX") == []
    queued = db.session.scalar(
        select(func.count(Article.id)).where(Article.send_status == SendStatus.QUEUED)
    )
    assert queued == 0 and summary.ack_backlog == 0, f"seed {seed}"
    smtp_server.wait_for(MESSAGES, timeout=20)
    time.sleep(0.5)
    per_recipient = collections.Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert set(per_recipient) == {f"user{n}@example.com" for n in range(MESSAGES)}, seed
    assert max(per_recipient.values()) <= 2, f"seed {seed}: {per_recipient.most_common(3)}"
    # the kills landed while there was work: some runs stored part of the mailbox
    partial = [n for run, n in enumerate(stored) if n < (run + 1) * PER_RUN]
    assert len(partial) >= KILLS // 2, f"seed {seed}: tickets after each kill {stored}"
    print(f"seed {seed}: tickets after each kill {stored}, acks mailed twice "
          f"{sum(1 for c in per_recipient.values() if c == 2)}")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def test_sigterm_of_ingest_watch_ends_it_and_its_workers(
    app, imap_account: ImapAccount, tmp_path: Path
) -> None:
    for n in range(20):  # enough for the parse worker to start
        imap_account.append(_mail(1000 + n))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "FLASK_APP": "app.py",
        "HELPDESK_SECRET_KEY": "x",
        "HELPDESK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "HELPDESK_ATTACHMENT_DIR": app.config["ATTACHMENT_DIR"],
        "HELPDESK_INGEST_ACK_JOURNAL": str(tmp_path / "journal"),
        "HELPDESK_IMAP_HOST": imap_account.host,
        "HELPDESK_IMAP_PORT": str(imap_account.port),
        "HELPDESK_IMAP_USER": imap_account.user,
        "HELPDESK_IMAP_PASSWORD": imap_account.password,
        "HELPDESK_IMAP_SECURITY": "plain",
        "HELPDESK_INGEST_PARSE_WORKERS": "1",
        "HELPDESK_MAIL_SUPPRESS_SEND": "true",
    }
    db.session.commit()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "ingest", "--watch"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _children(proc.pid):
            time.sleep(0.1)
        workers = _children(proc.pid)
        assert workers, "the parse worker did not start"
        while time.monotonic() < deadline:  # the pass is done: it is idling now
            db.session.expire_all()
            if db.session.scalar(select(func.count(Ticket.id))) == 20:
                break
            db.session.rollback()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(workers):
        time.sleep(0.1)
    assert not _alive(workers), f"outlived ingest --watch: {_alive(workers)}"


def _alive(pids: list[int]) -> list[str]:
    """The processes still running (zombies excluded), by command line."""
    found = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "State:\tZ" not in status:
            found.append(f"{pid} {cmdline[:120]}")
    return found
