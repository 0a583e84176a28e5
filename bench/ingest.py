"""Benchmark of mail ingest: a Dovecot mailbox of N realistic mails into a fresh database,
against the raw floor (bench/ingest_floor.py) on the same mailbox in the same run.

Usage: python bench/ingest.py [--messages N] [--rss-messages N2] [--latency-messages M]
                              [--rounds R] [--workers W] [--db postgresql+psycopg://…/empty_db] [--keep]

It starts a private Dovecot (the tests' launcher, ``tests/servers.py``) and an SMTP server
(aiosmtpd in its own process, keeping each mail it receives in a file; it stands for the
smarthost, a machine of its own in production, so it does not fsync: with aiosmtpd's Maildir
handler each acknowledgement waited ~5-10 ms for the sink's fsync on this shared disk, and the
sink's disk became the figure), loads the demo data into a fresh SQLite
database, fills a mailbox with N mails (default 2,000: mail from known contacts, from new people
at client domains and from strangers, replies by In-Reply-To, References or subject tag, HTML,
8-bit Serbian and Turkish charsets, attachments of 20-400 KB, out-of-office replies and bounces)
and runs one ingest pass (``ingest_all``, as ``flask ingest --once`` does) in a child process.
It reports messages per second for that pass (from connecting to the last commit, worker start
included), the child's peak RSS (VmHWM of the ingest process plus those of its parse and mailer
processes, which run alongside), and then, with ``watch`` (IMAP IDLE, as ``flask ingest --watch``)
running in another child, appends M mails one by one and measures how long each takes to become
a committed article (p50/p95).

Before the product, the raw floor (IMAP fetch + ``email.policy.default`` parse + one batched
INSERT per batch, bench/ingest_floor.py, a script of its own) reads the same mailbox, and
``ingest_vs_floor`` is the product's time over the floor's (target <= 1.5). On a shared
machine both vary by a third from run to run, so ``--rounds R`` (default 3) repeats the
pairing, each round on a fresh database and a new mailbox of the same mail with no file,
journal or sent mail of an earlier round left: the figures are those of the round with the
median ratio, and every round's ratio is printed (``ingest_vs_floor_rounds``). With
``--rss-messages N2`` (default 10,000; 0 skips it) a second mailbox of N2 mails is ingested
afterwards to show the peak RSS does not grow with the mailbox. ``--db`` runs everything on
PostgreSQL (an empty database you own: its tables are dropped and created).

The last line printed is one JSON object: ``{"messages": N, "messages_per_s": ...,
"floor_messages_per_s": ..., "ingest_vs_floor": ..., "ingest_vs_floor_rounds": [...],
"latency_p95_s": ..., "peak_rss_mb": ...,
"peak_rss_mb_big": ..., "cpu_floor_s": ..., "cpu_product_s": ..., "db": "sqlite"|"postgresql"}``
(CPU seconds: the floor's process; the product's ingest, parse and mailer processes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SUBJECTS = [
    "Ne radi štampa fakture",
    "Problem sa prijavom u program",
    "Fatura yazdırma hatası",
    "Cannot export the monthly report",
    "Greška pri knjiženju izvoda",
    "Yedekleme çalışmıyor",
    "Pitanje o licenci",
    "Slow database after update",
]
BODIES = [
    (
        "Poštovani,\n\nod jutros ne možemo da štampamo fakture. Javlja se greška 0x80.\n\n"
        "Hvala unapred,\n{name}"
    ),
    (
        "Merhaba,\n\nprogramı açtığımızda bağlantı hatası alıyoruz. Şirket ağı çalışıyor.\n\n"
        "Saygılarımla,\n{name}"
    ),
    (
        "Hello,\n\nthe export to Excel stops at 60% and the application freezes.\n"
        "We tried twice on two computers.\n\nBest regards,\n{name}"
    ),
    (
        "Zdravo,\n\nkada pokušamo da proknjižimo izvod, program javlja da konto ne postoji.\n"
        "Šaljem snimak ekrana u prilogu.\n\n{name}"
    ),
]


# -- the mail -----------------------------------------------------------------------------------


def _headers(fields: list[tuple[str, str]]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in fields).encode("ascii")


def _encoded(text: str) -> str:
    import base64

    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def make_mail(index: int, rng: random.Random, senders: dict[str, list[tuple[str, str]]],
              sent_ids: list[str], demo_threads: list[tuple[str, int]]) -> bytes:  # fmt: skip
    """One mail of the realistic mix (see the module docstring)."""
    kind = rng.choices(
        ["contact", "domain", "stranger", "reply", "reply_refs", "tag", "demo_reply", "auto"],
        weights=[40, 10, 8, 15, 5, 5, 7, 10],
    )[0]
    if kind in ("reply", "reply_refs") and not sent_ids:
        kind = "contact"
    group = {"domain": "domain", "stranger": "stranger"}.get(kind, "contact")
    name, address = rng.choice(senders[group])
    if kind == "domain":  # a new person at a client's domain, seen once or twice
        address = f"person{rng.randrange(400)}@{address.split('@')[1]}"
    message_id = f"<bench-{index}-{rng.getrandbits(40):x}@mail.example.net>"
    subject = rng.choice(SUBJECTS)
    fields = [
        ("From", f"{_encoded(name)} <{address}>"),
        ("To", "support@helpdesk.example"),
        ("Date", format_datetime(_now())),
        ("Message-ID", message_id),
        ("MIME-Version", "1.0"),
    ]
    if kind in ("reply", "reply_refs"):
        parent = rng.choice(sent_ids[-300:])
        subject = "Re: " + subject
        if kind == "reply":
            fields.append(("In-Reply-To", parent))
        fields.append(("References", parent))
    elif kind in ("demo_reply", "tag"):  # the client answers one of its older tickets
        parent, number, address, name = rng.choice(demo_threads)
        fields[0] = ("From", f"{_encoded(name)} <{address}>")
        if kind == "demo_reply":
            fields.append(("In-Reply-To", parent))
            subject = "Re: " + subject
        else:
            subject = f"Re: [#{number}] {subject}"
    elif kind == "auto":
        if rng.random() < 0.5:
            fields.append(("Auto-Submitted", "auto-replied"))
            subject = "Out of office: " + subject
        else:
            fields[0] = ("From", "MAILER-DAEMON@mail.example.net")
            subject = "Undelivered Mail Returned to Sender"
    fields.append(("Subject", _encoded(subject)))
    body = rng.choice(BODIES).format(name=name)
    charset = rng.choices(["utf-8", "windows-1250", "iso-8859-2", "windows-1254"], [6, 2, 1, 1])[0]
    try:
        body_bytes = body.encode(charset)
    except UnicodeEncodeError:
        charset, body_bytes = "utf-8", body.encode("utf-8")
    sent_ids.append(message_id)
    attach = rng.random() < 0.2
    html = rng.random() < 0.35
    if not attach and not html:
        fields += [("Content-Type", f"text/plain; charset={charset}"),
                   ("Content-Transfer-Encoding", "8bit")]  # fmt: skip
        return _headers(fields) + b"\r\n" + body_bytes.replace(b"\n", b"\r\n") + b"\r\n"
    boundary = f"=_bench_{index}"
    fields.append(("Content-Type", f'multipart/mixed; boundary="{boundary}"'))
    parts = [
        f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        .encode() + body_bytes.replace(b"\n", b"\r\n")
    ]  # fmt: skip
    if html:
        markup = (
            "<html><body>"
            + "".join(f"<p>{line}</p>" for line in body.splitlines() if line)
            + '<script>alert(1)</script><img src="https://tracker.example/p.gif"></body></html>'
        )
        parts.append(b"Content-Type: text/html; charset=utf-8\r\n"
                     b"Content-Transfer-Encoding: 8bit\r\n\r\n" + markup.encode())  # fmt: skip
    if attach:
        import base64

        size = rng.choice([20_000, 60_000, 150_000, 400_000])
        data = rng.randbytes(size)
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts.append(
            f'Content-Type: application/pdf; name="izvod-{index}.pdf"\r\n'
            f'Content-Disposition: attachment; filename="izvod-{index}.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n".encode()
            + encoded
        )
    sep = f"\r\n--{boundary}\r\n".encode()
    return (_headers(fields) + b"\r\nThis is a MIME message.\r\n" + sep + sep.join(parts)
            + f"\r\n--{boundary}--\r\n".encode())  # fmt: skip


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def fill(account: Any, mails: Iterable[bytes]) -> tuple[int, int]:
    """APPEND every mail over one connection, one by one (this process stays small: a child
    inherits its parent's peak RSS figure); returns (mails, bytes)."""
    client = account.connect()
    count = size = 0
    try:
        for raw in mails:
            client.append("INBOX", raw)
            count, size = count + 1, size + len(raw)
    finally:
        client.logout()
    return count, size


def _hwm_mb(pid: int | str = "self") -> float:
    """Peak resident memory of one process (VmHWM: per process image, not inherited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    if "VmHWM:" not in status:  # a process that has just exited (a zombie)
        return 0.0
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def _cpu_s(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds (user + system) of a living process; ``reaped``: with its ended children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(v) for v in fields[11:15 if reaped else 13])  # utime stime [cutime cstime]
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(root: int) -> float:
    """CPU seconds of a process, its ended children and its living descendants (Dovecot)."""
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += _cpu_s(pid, reaped=True)
        todo += _child_pids(pid)
    return total


def _rusage_s(usage: Any) -> float:
    return usage.ru_utime + usage.ru_stime


def _child_pids(pid: int | str = "self") -> list[int]:
    pids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            pids += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return pids


def _watch_workers(peaks: dict[int, float]) -> None:
    """Keep the peak RSS of each child process (the parse workers) while they live."""
    while True:
        for pid in _child_pids():
            peaks[pid] = max(peaks.get(pid, 0.0), _hwm_mb(pid))
        time.sleep(0.2)


# -- child processes ----------------------------------------------------------------------------


class FileSink:
    """aiosmtpd handler: each mail received into a file of its own (no fsync, see above)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        (self.folder / f"{self.count:07d}.eml").write_bytes(envelope.original_content)
        return "250 OK"


def child_smtp(port: int, folder: str) -> None:
    """The SMTP server, until SIGTERM."""
    from aiosmtpd.controller import Controller

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait
    controller = Controller(FileSink(Path(folder)), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def _app(config: dict[str, Any]) -> Any:
    from helpdesk import create_app

    return create_app(config)


def child_once(config: dict[str, Any]) -> None:
    """One ingest pass; prints its timing and memory as JSON."""
    import threading

    from mail_ingest.ingest import ingest_all

    app = _app(config)
    peaks: dict[int, float] = {}
    threading.Thread(target=_watch_workers, args=(peaks,), daemon=True).start()
    with app.app_context():
        began = time.perf_counter()
        cpu_began = resource.getrusage(resource.RUSAGE_SELF)
        summary = ingest_all(app)
        seconds = time.perf_counter() - began
        cpu_main = _rusage_s(resource.getrusage(resource.RUSAGE_SELF)) - _rusage_s(cpu_began)
        cpu_workers = _rusage_s(resource.getrusage(resource.RUSAGE_CHILDREN))  # all ended now
    own = _hwm_mb()
    workers = sum(peaks.values())  # the parse worker(s) and the mailer run alongside
    print(json.dumps({
        "seconds": seconds, "summary": str(summary), "fetched": summary.fetched,
        "new_tickets": summary.new_tickets, "replies": summary.replies,
        "acknowledgements": summary.acknowledgements, "failed": summary.failed,
        "rss_main_mb": own, "rss_worker_mb": workers,
        "cpu_main_s": cpu_main, "cpu_workers_s": cpu_workers,
    }))  # fmt: skip


def child_watch(config: dict[str, Any]) -> None:
    """``watch`` until SIGTERM."""
    import threading

    from mail_ingest.ingest import watch

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = _app(config)
    with app.app_context():
        print("watching", flush=True)
        watch(app, stop, idle_seconds=30)


# -- the run ------------------------------------------------------------------------------------


def seed_database(config: dict[str, Any]) -> tuple[dict[str, list[tuple[str, str]]], list]:
    """Demo data in a fresh database; returns the senders and the demo threads to reply to."""
    from sqlalchemy import select

    from helpdesk.demo import load_demo
    from helpdesk.extensions import db
    from helpdesk.models import Article, ClientDomain, Contact, ContactEmail, Ticket

    app = _app(config)
    with app.app_context():
        db.drop_all()
        db.create_all()
        load_demo()
        db.session.commit()
        contacts = [(c.name, e.email) for e, c in db.session.execute(
            select(ContactEmail, Contact).join(Contact))]  # fmt: skip
        domains = [
            ("Nova Osoba", f"x@{d}") for d in db.session.scalars(select(ClientDomain.domain))
        ]
        threads = db.session.execute(
            select(Article.message_id, Ticket.number, Ticket.requester_email,
                   Ticket.requester_name).join(Ticket)
            .where(Article.message_id.like("<demo-%-1@%"))
        ).all()  # fmt: skip
    strangers = [(f"Stranger {i}", f"someone{i}@gmail.example") for i in range(200)]
    senders = {"contact": contacts, "domain": domains, "stranger": strangers}
    return senders, [tuple(row) for row in threads]


def run_child(mode: str, config: dict[str, Any], **kwargs: Any) -> subprocess.Popen:
    path = Path(config["ATTACHMENT_DIR"]).parent / f"config-{mode}.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen([sys.executable, __file__, "--child", mode, str(path)], **kwargs)


def measure_latency(config: dict[str, Any], account: Any, count: int, rng: random.Random,
                    senders: dict, threads: list) -> list[float]:  # fmt: skip
    """Append mails one by one while ``watch`` runs; seconds until each is a committed article."""
    from sqlalchemy import create_engine, text

    proc = run_child("watch", config, stdout=subprocess.PIPE, text=True)
    engine = create_engine(config["SQLALCHEMY_DATABASE_URI"])
    query = text(  # automatic mail (out-of-office, bounces) is kept apart from articles
        "SELECT 1 FROM articles WHERE message_id = :mid "
        "UNION ALL SELECT 1 FROM automatic_mails WHERE message_id = :mid"
    )
    latencies = []
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "watching": the app is up
        time.sleep(3)  # connected and idling
        client = account.connect()
        conn = engine.connect()
        try:
            sent_ids: list[str] = []
            for index in range(count):
                raw = make_mail(10_000_000 + index, rng, senders, sent_ids, threads)
                message_id = sent_ids[-1]
                began = time.perf_counter()
                client.append("INBOX", raw)
                while True:
                    row = conn.execute(query, {"mid": message_id}).fetchone()
                    conn.rollback()  # a fresh snapshot for the next look
                    if row:
                        latencies.append(time.perf_counter() - began)
                        break
                    if time.perf_counter() - began > 30:
                        latencies.append(float("inf"))
                        break
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.1, 0.4))
        finally:
            conn.close()
            engine.dispose()
            client.logout()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return latencies


def run_floor(account: Any, db_url: str, batch: int, imap_pid: int) -> dict[str, Any]:
    """bench/ingest_floor.py on the same mailbox, as a process of its own (with its CPU
    seconds and Dovecot's)."""
    imap_cpu = _tree_cpu_s(imap_pid)
    own_cpu = _rusage_s(resource.getrusage(resource.RUSAGE_CHILDREN))
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ingest_floor.py"), "--host", account.host,
         "--port", str(account.port), "--user", account.user, f"--password={account.password}",
         "--db", db_url, "--batch", str(batch)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu_s"] = _rusage_s(resource.getrusage(resource.RUSAGE_CHILDREN)) - own_cpu
    result["cpu_imap_s"] = _tree_cpu_s(imap_pid) - imap_cpu
    return result


def run_once(config: dict[str, Any], work: Path, smtp_pid: int, imap_pid: int) -> dict[str, Any]:
    """One product pass in a child; with the CPU seconds the SMTP sink and Dovecot spent."""
    smtp_cpu, imap_cpu = _cpu_s(smtp_pid), _tree_cpu_s(imap_pid)
    child = run_child("once", config, stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate()
    result = json.loads(out.strip().splitlines()[-1])
    result["rate"] = result["fetched"] / result["seconds"]
    result["cpu_smtp_s"] = _cpu_s(smtp_pid) - smtp_cpu
    result["cpu_imap_s"] = _tree_cpu_s(imap_pid) - imap_cpu
    return result


def run_round(number: int, args: Any, config: dict[str, Any], account: Any, work: Path,
              smtp: subprocess.Popen, dovecot: Any) -> dict[str, Any]:
    """One pairing: a fresh database with the demo data, the mailbox filled (the same mail
    every round), the raw floor on it, then the product's pass on it."""
    senders, threads = seed_database(config)
    rng = random.Random(2026)
    sent_ids: list[str] = []
    began = time.perf_counter()
    count, size = fill(
        account, (make_mail(i, rng, senders, sent_ids, threads) for i in range(args.messages))
    )
    print(f"round {number}: mailbox filled: {count} mails, {size / 1e6:.1f} MB "
          f"in {time.perf_counter() - began:.1f} s")  # fmt: skip
    # nothing of an earlier round helps this one: no stored files, no journal, no sent mail
    shutil.rmtree(config["ATTACHMENT_DIR"], ignore_errors=True)
    Path(config["INGEST_ACK_JOURNAL"]).unlink(missing_ok=True)
    shutil.rmtree(work / "sent", ignore_errors=True)
    (work / "sent").mkdir()
    floor = run_floor(account, config["SQLALCHEMY_DATABASE_URI"], 100, dovecot.process.pid)
    print(f"raw floor (fetch + policy.default parse + batched insert): {floor['messages']} "
          f"in {floor['seconds']:.2f} s = {floor['messages_per_s']:.0f} messages/s")  # fmt: skip
    result = run_once(config, work, smtp.pid, dovecot.process.pid)
    sent = len(list((work / "sent").glob("*.eml")))
    print(f"ingest --once: {result['summary']} in {result['seconds']:.2f} s "
          f"= {result['rate']:.0f} messages/s; SMTP server received {sent} mails")  # fmt: skip
    print(f"peak RSS: ingest process {result['rss_main_mb']:.0f} MB, "
          f"its parse and mailer processes {result['rss_worker_mb']:.0f} MB")  # fmt: skip
    ratio = result["seconds"] / floor["seconds"]
    print(f"CPU seconds: floor {floor['cpu_s']:.1f} + Dovecot {floor['cpu_imap_s']:.1f}; "
          f"product {result['cpu_main_s']:.1f} (ingest process) + "
          f"{result['cpu_workers_s']:.1f} (parse and mailer processes) + Dovecot "
          f"{result['cpu_imap_s']:.1f} + SMTP sink {result['cpu_smtp_s']:.1f}")  # fmt: skip
    print(f"ingest_vs_floor: {ratio:.2f} (product time / floor time)")
    return {"result": result, "floor": floor, "ratio": ratio,
            "senders": senders, "threads": threads}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rss-messages", type=int, default=10000,
                        help="second, bigger mailbox for the peak RSS (0: skip)")  # fmt: skip
    parser.add_argument("--latency-messages", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3,
                        help="floor-then-product pairings; the median ratio is reported")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="parse workers (default: auto)")
    parser.add_argument("--db", default=None, help="PostgreSQL URL of an empty database")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "CONFIG"), help=argparse.SUPPRESS)
    parser.add_argument("--smtp", nargs=2, metavar=("PORT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp:
        child_smtp(int(args.smtp[0]), args.smtp[1])
        return
    if args.child:
        config = json.loads(Path(args.child[1]).read_text())
        (child_once if args.child[0] == "once" else child_watch)(config)
        return

    from tests.servers import free_port, start_dovecot

    work = Path(tempfile.mkdtemp(prefix="helpdesk-bench-ingest-", dir="/tmp"))
    dovecot = start_dovecot()
    smtp_port = free_port()
    smtp = subprocess.Popen(
        [sys.executable, __file__, "--smtp", str(smtp_port), str(work / "sent")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    db_url = args.db or f"sqlite:///{work / 'helpdesk.db'}"
    try:
        account = dovecot.new_account()
        config = {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": db_url,
            "ATTACHMENT_DIR": str(work / "attachments"),
            "INGEST_ACK_JOURNAL": str(work / "ack.journal"),
            "IMAP_HOST": account.host, "IMAP_PORT": account.port, "IMAP_USER": account.user,
            "IMAP_PASSWORD": account.password, "IMAP_SECURITY": "plain",
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port, "MAIL_SUPPRESS_SEND": False,
            "AUTO_REPLY_LIMIT_PER_HOUR": 1000,
        }  # fmt: skip
        if args.workers is not None:
            config["INGEST_PARSE_WORKERS"] = args.workers
        rounds = []
        for number in range(1, args.rounds + 1):
            rounds.append(run_round(number, args, config, account, work, smtp, dovecot))
            if number < args.rounds:  # the next round: fresh database, same mail, new mailbox
                account = dovecot.new_account()
                config = {**config, "IMAP_USER": account.user, "IMAP_PASSWORD": account.password}
        ratios = [r["ratio"] for r in rounds]
        middle = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
        result, floor, ratio = middle["result"], middle["floor"], middle["ratio"]
        senders, threads, rng = middle["senders"], middle["threads"], random.Random(7)
        if len(rounds) > 1:
            print(f"ingest_vs_floor of {len(rounds)} rounds: "
                  + ", ".join(f"{r:.2f}" for r in ratios)
                  + f"; median {ratio:.2f} (its round's figures are reported)")

        latencies = measure_latency(config, account, args.latency_messages, rng, senders, threads)
        finite = sorted(latencies)
        p95 = finite[max(0, round(0.95 * len(finite)) - 1)] if finite else None
        print(f"watch: {len(latencies)} mails appended one by one; arrival-to-ticket p50 "
              f"{statistics.median(finite):.3f} s, p95 {p95:.3f} s, max {finite[-1]:.3f} s")  # fmt: skip

        big = None
        if args.rss_messages:
            big_account = dovecot.new_account()
            fill(big_account, (make_mail(100_000 + i, rng, senders, [], threads)
                               for i in range(args.rss_messages)))  # fmt: skip
            big_config = {**config, "IMAP_USER": big_account.user,
                          "IMAP_PASSWORD": big_account.password}  # fmt: skip
            big = run_once(big_config, work, smtp.pid, dovecot.process.pid)
            print(f"ingest --once of {args.rss_messages}: {big['rate']:.0f} messages/s, peak RSS "
                  f"{big['rss_main_mb']:.0f} MB + {big['rss_worker_mb']:.0f} MB")  # fmt: skip
        print(json.dumps({
            "messages": args.messages,
            "db": "postgresql" if args.db else "sqlite",
            "messages_per_s": round(result["rate"], 1),
            "floor_messages_per_s": round(floor["messages_per_s"], 1),
            "ingest_vs_floor": round(ratio, 2),
            "ingest_vs_floor_rounds": [round(r, 2) for r in ratios],
            "latency_p95_s": round(p95, 3) if p95 is not None else None,
            "cpu_floor_s": round(floor["cpu_s"], 1),
            "cpu_product_s": round(result["cpu_main_s"] + result["cpu_workers_s"], 1),
            "peak_rss_mb": round(result["rss_main_mb"] + result["rss_worker_mb"], 1),
            "peak_rss_mb_big": round(big["rss_main_mb"] + big["rss_worker_mb"], 1) if big else None,
            "big_messages": args.rss_messages or None,
        }))  # fmt: skip
    finally:
        smtp.terminate()
        smtp.wait(timeout=10)
        dovecot.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
