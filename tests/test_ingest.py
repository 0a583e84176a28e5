"""Mail ingest against a real Dovecot and SMTP server: tickets, threads, senders, files, acks,
crashes, concurrent ingests, failures, IDLE, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select, update

from helpdesk.extensions import db
from helpdesk.extensions import mail as mail_extension
from helpdesk.models import (
    Article,
    Attachment,
    AutomaticMail,
    AutoReply,
    Contact,
    ContactEmail,
    Direction,
    IngestFailure,
    MailboxState,
    SendStatus,
    Ticket,
    TicketStatus,
    utcnow,
)
from helpdesk.tickets.merge import merge_tickets
from helpdesk.tickets.services import create_ticket
from mail_ingest import ingest as ingest_module
from mail_ingest.imap import ImapConnectionError, ImapMailbox
from mail_ingest.ingest import IngestError, Ingestor, ingest_all, watch
from tests.mail.make_corpus import BIG_ATTACHMENT_NAME, big_attachment_message

if TYPE_CHECKING:
    from tests.servers import ImapAccount, SmtpSink

pytestmark = pytest.mark.imap

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "mail"
#: Corpus mail that is automatic (bounces, out-of-office, lists...): never acknowledged.
AUTO_FILES = {"18", "19", "20", "21", "22", "23", "24", "40"}
#: Corpus mail answering 10-reply-chain-1 (In-Reply-To / References).
REPLY_FILES = {"11", "12"}
#: Corpus mail answering it from a sender not entitled to the ticket: kept there, unverified.
UNVERIFIED_FILES = {"44"}
#: Corpus mail without a usable sender address.
NO_SENDER_FILES = {"34", "42"}


@pytest.fixture
def app_config(imap_account: ImapAccount, smtp_server: SmtpSink) -> dict[str, Any]:
    return {
        "IMAP_HOST": imap_account.host,
        "IMAP_PORT": imap_account.port,
        "IMAP_USER": imap_account.user,
        "IMAP_PASSWORD": imap_account.password,
        "IMAP_SECURITY": "plain",
        "IMAP_BATCH_SIZE": 5,
        "INGEST_PARSE_WORKERS": 0,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "support@helpdesk.example",
        "VENDOR_EMAIL": "podrska@helpdesk.example",
        "AUTO_REPLY_LIMIT_PER_HOUR": 3,
    }


def mail(
    sender: str,
    subject: str,
    message_id: str,
    body: str = "Pozdrav",
    *,
    name: str = "",
    in_reply_to: str | None = None,
    references: str | None = None,
    charset: str = "utf-8",
    extra: str = "",
) -> bytes:
    """A plain-text mail with an 8-bit body in ``charset``."""
    head = f"From: {name} <{sender}>\r\n" if name else f"From: {sender}\r\n"
    head += f"To: support@helpdesk.example\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
    head += "Date: Tue, 17 Nov 2026 09:30:00 +0100\r\nMIME-Version: 1.0\r\n"
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\n"
    if references:
        head += f"References: {references}\r\n"
    head += extra
    head += f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n"
    return head.encode("utf-8") + b"\r\n" + body.encode(charset) + b"\r\n"


def article_by_mid(message_id: str) -> Article:
    return db.session.scalars(select(Article).where(Article.message_id == message_id)).one()


def count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def incoming_ids() -> list[str]:
    return list(
        db.session.scalars(select(Article.message_id).where(Article.direction == Direction.IN))
    )


# -- the corpus --------------------------------------------------------------------------------


def test_corpus_mail_becomes_tickets_and_only_people_are_acknowledged(
    app, imap_account: ImapAccount, smtp_server: SmtpSink
) -> None:
    app.config.update(INGEST_PARSE_WORKERS=1, IMAP_BATCH_SIZE=20)  # big batches: worker process
    files = sorted(CORPUS.glob("*.eml"))
    for path in files:
        imap_account.append(path.read_bytes())

    summary = ingest_all(app)

    assert summary.fetched == len(files) == 45
    assert summary.failed == 0
    assert summary.replies == len(REPLY_FILES)
    assert summary.unverified == len(UNVERIFIED_FILES)
    assert summary.automatic == len(AUTO_FILES)
    assert summary.new_tickets == len(files) - len(REPLY_FILES) - len(UNVERIFIED_FILES) - len(
        AUTO_FILES
    )
    assert count(Article, Article.direction == Direction.IN) == len(files) - len(AUTO_FILES)
    assert count(AutomaticMail) == len(AUTO_FILES)
    assert len(set(incoming_ids())) == len(files) - len(AUTO_FILES)
    # the whole reply chain is one ticket
    chain = article_by_mid("<chain-1@example.com>").ticket
    assert {a.message_id for a in chain.articles if a.direction == Direction.IN} == {
        "<chain-1@example.com>",
        "<chain-2@helpdesk.example>",
        "<chain-3@example.com>",
        "<zone-044@example.rs>",
    }
    # one acknowledgement per new ticket from a person; none for auto-replies and bounces
    people = len(files) - len(REPLY_FILES) - len(UNVERIFIED_FILES) - len(AUTO_FILES)
    people -= len(NO_SENDER_FILES)
    assert summary.acknowledgements == people
    received = smtp_server.wait_for(people)
    time.sleep(0.3)
    assert len(smtp_server.messages) == people
    auto_senders = {
        m.from_addr.rsplit("<", 1)[-1].strip(">") for m in db.session.scalars(select(AutomaticMail))
    }
    assert len(auto_senders) == len(AUTO_FILES)
    recipients = [rcpt for m in received for rcpt in m.rcpt_tos]
    assert not auto_senders & set(recipients)
    assert len(recipients) == len(set(recipients))
    for received_mail in received:
        message = received_mail.message()
        assert message["Auto-Submitted"] == "auto-replied"
        number = int(message["Subject"].split("[#", 1)[1].split("]", 1)[0])
        ticket = db.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert received_mail.rcpt_tos == [ticket.requester_email]
        assert message["In-Reply-To"] == ticket.articles[0].message_id
        assert message["Message-ID"].startswith(f"<ticket-{number}-")
        assert ".ack." in message["Message-ID"]
    # everything filed away, nothing deleted
    assert imap_account.list_uids("INBOX") == []
    assert len(imap_account.list_uids("Processed")) == len(files)
    # a second pass finds nothing new
    again = ingest_all(app)
    assert (again.fetched, again.new_tickets, again.acknowledgements) == (0, 0, 0)


def test_a_big_pass_parses_and_mails_in_worker_processes(
    app, imap_account: ImapAccount, smtp_server: SmtpSink, monkeypatch
) -> None:
    monkeypatch.setattr(ingest_module, "MAILER_PROCESS_MIN", 10)
    app.config.update(INGEST_PARSE_WORKERS=1, IMAP_BATCH_SIZE=16)
    for n in range(40):
        imap_account.append(mail(f"user{n}@example.com", f"Problem {n}", f"<big-{n}@example.com>"))

    summary = ingest_all(app)

    assert (summary.fetched, summary.new_tickets, summary.acknowledgements) == (40, 40, 40)
    received = smtp_server.wait_for(40)
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(
        f"user{n}@example.com" for n in range(40)
    )
    sent = count(Article, Article.is_auto.is_(True), Article.send_status == SendStatus.SENT)
    assert sent == 40


def test_8bit_bodies_keep_their_letters(app, imap_account: ImapAccount) -> None:
    for name in (
        "01-serbian-latin-cp1250-8bit.eml",
        "02-serbian-latin-iso8859-2-8bit.eml",
        "05-turkish-cp1254-8bit.eml",
    ):
        imap_account.append((CORPUS / name).read_bytes())
    imap_account.append(mail("a@example.rs", "Turski", "<tr-9@example.com.tr>",
                             "Şükrü ığdır çağrı: şğı ŞĞİ", charset="iso-8859-9"))  # fmt: skip
    imap_account.append(mail("b@example.rs", "Srpski", "<sr-2@example.rs>",
                             "čćžšđ ČĆŽŠĐ: ćevapčići", charset="windows-1250"))  # fmt: skip

    assert ingest_all(app).new_tickets == 5

    texts = {a.message_id: a.body_text for a in db.session.scalars(select(Article))}
    assert all("\ufffd" not in text for text in texts.values())
    joined = "\n".join(texts.values())
    for letters in ("č", "ć", "ž", "š", "đ", "Đ", "Ž", "ş", "ğ", "ı", "İ", "Ş"):
        assert letters in joined
    assert "čćžšđ ČĆŽŠĐ: ćevapčići" in texts["<sr-2@example.rs>"]
    assert "Şükrü ığdır çağrı: şğı ŞĞİ" in texts["<tr-9@example.com.tr>"]
    subjects = {t.subject for t in db.session.scalars(select(Ticket))}
    assert "Štampač ne radi – hitno" in subjects
    assert "Yazıcı çalışmıyor" in subjects


# -- threading ---------------------------------------------------------------------------------


def test_replies_join_their_ticket_by_in_reply_to_references_and_subject_tag(
    app, imap_account: ImapAccount
) -> None:
    imap_account.append(mail("pera@example.com", "Server pao", "<t-1@example.com>"))
    ingest_all(app)
    ticket = article_by_mid("<t-1@example.com>").ticket
    number = ticket.number
    imap_account.append(
        mail("pera@example.com", "Re: Server pao", "<t-2@example.com>",
             in_reply_to="<t-1@example.com>")
    )  # fmt: skip
    imap_account.append(  # only References, the parent unknown to us first
        mail("pera@example.com", "Re: Re: Server pao", "<t-3@example.com>",
             references="<unknown@elsewhere> <t-2@example.com>")
    )  # fmt: skip
    imap_account.append(mail("pera@example.com", f"Odg: [#{number}] i dalje", "<t-4@example.com>"))
    imap_account.append(mail("pera@example.com", "Drugi problem", "<t-5@example.com>"))

    summary = ingest_all(app)

    assert (summary.replies, summary.new_tickets) == (3, 1)
    for mid in ("<t-2@example.com>", "<t-3@example.com>", "<t-4@example.com>"):
        assert article_by_mid(mid).ticket_id == ticket.id
    assert article_by_mid("<t-5@example.com>").ticket_id != ticket.id


def test_corpus_reply_with_only_the_subject_tag_finds_ticket_1234(app, imap_account) -> None:
    ticket = create_ticket(
        subject="Licenca", client_id=None, requester_email="marija@example.rs", actor="test"
    )
    ticket.number = 1234
    db.session.commit()
    imap_account.append((CORPUS / "13-reply-subject-tag-only.eml").read_bytes())

    summary = ingest_all(app)

    assert (summary.replies, summary.new_tickets, summary.acknowledgements) == (1, 0, 0)
    assert article_by_mid("<tag-only-013@example.rs>").ticket_id == ticket.id


def test_reply_to_a_merged_ticket_lands_on_the_ticket_it_was_merged_into(
    app, imap_account: ImapAccount
) -> None:
    imap_account.append(mail("a@example.com", "Jedan", "<m-1@example.com>"))
    imap_account.append(mail("a@example.com", "Isti problem", "<m-2@example.com>"))
    ingest_all(app)
    source = article_by_mid("<m-2@example.com>").ticket
    target = article_by_mid("<m-1@example.com>").ticket
    merge_tickets(source, target, actor="test")
    db.session.commit()
    imap_account.append(mail("a@example.com", "Re: Isti problem", "<m-3@example.com>",
                             in_reply_to="<m-2@example.com>"))  # fmt: skip
    imap_account.append(mail("a@example.com", f"Re: {source.tag}", "<m-4@example.com>"))

    ingest_all(app)

    assert article_by_mid("<m-3@example.com>").ticket_id == target.id
    assert article_by_mid("<m-4@example.com>").ticket_id == target.id


def test_a_reply_reopens_a_resolved_ticket(app, imap_account: ImapAccount) -> None:
    imap_account.append(mail("a@example.com", "Problem", "<r-1@example.com>"))
    ingest_all(app)
    ticket = article_by_mid("<r-1@example.com>").ticket
    ticket.status = TicketStatus.RESOLVED
    db.session.commit()
    imap_account.append(mail("a@example.com", "Re: Problem", "<r-2@example.com>",
                             in_reply_to="<r-1@example.com>"))  # fmt: skip

    ingest_all(app)

    db.session.refresh(ticket)
    assert ticket.status == TicketStatus.OPEN


# -- who wrote it ------------------------------------------------------------------------------


def test_known_contact_domain_match_and_unknown_sender(app, factory, imap_account) -> None:
    known = factory.client("Jugodrvo", domain="jugodrvo.rs")
    contact = factory.contact(known, email="dragan@jugodrvo.rs")
    factory.contract(known, "standard")
    db.session.commit()
    imap_account.append(mail("Dragan@Jugodrvo.rs", "Ne radi", "<s-1@jugodrvo.rs>"))
    imap_account.append(mail("nova@mail.jugodrvo.rs", "Pitanje", "<s-2@jugodrvo.rs>",
                             name="Nova Osoba"))  # fmt: skip
    imap_account.append(mail("nova@mail.jugodrvo.rs", "Još nešto", "<s-3@jugodrvo.rs>"))
    imap_account.append(mail("neko@gmail.example", "Zdravo", "<s-4@gmail.example>"))

    assert ingest_all(app).new_tickets == 4

    first = article_by_mid("<s-1@jugodrvo.rs>")
    assert (first.ticket.client_id, first.ticket.contact_id) == (known.id, contact.id)
    assert first.ticket.needs_triage is False
    assert first.ticket.sla_first_response_minutes is not None  # the contract's SLA applies
    new_contact = db.session.scalars(
        select(Contact).join(ContactEmail).where(ContactEmail.email == "nova@mail.jugodrvo.rs")
    ).one()
    assert (new_contact.client_id, new_contact.name) == (known.id, "Nova Osoba")
    for mid in ("<s-2@jugodrvo.rs>", "<s-3@jugodrvo.rs>"):
        ticket = article_by_mid(mid).ticket
        assert (ticket.client_id, ticket.contact_id) == (known.id, new_contact.id)
    stranger = article_by_mid("<s-4@gmail.example>").ticket
    assert stranger.client_id is None and stranger.needs_triage is True
    assert stranger.requester_email == "neko@gmail.example"


# -- attachments -------------------------------------------------------------------------------


def test_attachment_over_the_limit_is_recorded_as_dropped(app, imap_account) -> None:
    app.config["ATTACHMENT_MAX_BYTES"] = 10 * 1024 * 1024
    imap_account.append(big_attachment_message())
    imap_account.append((CORPUS / "16-inline-image.eml").read_bytes())

    summary = ingest_all(app)

    assert (summary.new_tickets, summary.failed) == (2, 0)
    big = article_by_mid("<big-attachment@example.rs>")
    assert "Šaljem arhivu baze" in big.body_text
    (dropped,) = big.attachments
    assert dropped.filename == BIG_ATTACHMENT_NAME
    assert dropped.sha256 is None and "limit" in dropped.dropped_reason
    assert dropped.size >= 20 * 1024 * 1024
    inline = db.session.scalars(
        select(Attachment).join(Article).where(Article.message_id != big.message_id)
    ).one()
    assert inline.inline and inline.content_id and inline.sha256
    assert f"cid:{inline.content_id}" in inline.article.body_html  # URLs only at display time
    path = Path(app.config["ATTACHMENT_DIR"]) / inline.sha256[:2] / inline.sha256[2:4]
    assert (path / inline.sha256).stat().st_size == inline.size


# -- nothing lost, nothing twice ---------------------------------------------------------------


def test_a_crash_between_commit_and_flag_stores_every_message_once(
    app, imap_account: ImapAccount, smtp_server: SmtpSink, monkeypatch
) -> None:
    ids = [f"<c-{n}@example.com>" for n in range(12)]
    for n, mid in enumerate(ids):
        imap_account.append(mail(f"user{n}@example.com", f"Problem {n}", mid))
    real_mark_done = ImapMailbox.mark_done
    calls = []

    def crash_on_second_batch(self, uids):
        calls.append(list(uids))
        if len(calls) == 2:
            raise RuntimeError("simulated crash after the commit, before the flag")
        real_mark_done(self, uids)

    monkeypatch.setattr(ImapMailbox, "mark_done", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_all(app)
    db.session.rollback()
    assert count(Article, Article.direction == Direction.IN) == 10  # two batches committed
    assert len(imap_account.list_uids("INBOX")) == 7  # the second batch was never filed

    monkeypatch.setattr(ImapMailbox, "mark_done", real_mark_done)
    summary = ingest_all(app)

    assert (summary.fetched, summary.duplicates, summary.new_tickets) == (7, 5, 2)
    assert sorted(incoming_ids()) == sorted(ids)
    assert count(Ticket) == 12
    assert imap_account.list_uids("INBOX") == []
    assert len(imap_account.list_uids("Processed")) == 12
    # acknowledgements: one per ticket, the crashed batch's ones included
    received = smtp_server.wait_for(12)
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(
        f"user{n}@example.com" for n in range(12)
    )


_KILLED_CHILD = """
import json, os, signal, sys
from helpdesk import create_app
from mail_ingest.imap import ImapMailbox
from mail_ingest.ingest import ingest_all

def killed(self, uids):
    os.kill(os.getpid(), signal.SIGKILL)  # the process dies after the commit, before the flag

ImapMailbox.mark_done = killed
ingest_all(create_app(json.loads(sys.argv[1])))
"""


def test_ingest_killed_after_the_commit_stores_every_message_once(
    app, imap_account: ImapAccount, smtp_server: SmtpSink
) -> None:
    ids = [f"<k-{n}@example.com>" for n in range(8)]
    for n, mid in enumerate(ids):
        imap_account.append(mail(f"user{n}@example.com", f"Problem {n}", mid))
    keys = ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "ATTACHMENT_DIR", "MAIL_SERVER", "MAIL_PORT",
            "MAIL_SUPPRESS_SEND", "MAIL_DEFAULT_SENDER", "IMAP_HOST", "IMAP_PORT", "IMAP_USER",
            "IMAP_PASSWORD", "IMAP_SECURITY", "IMAP_BATCH_SIZE", "INGEST_PARSE_WORKERS")  # fmt: skip
    settings = {key: app.config[key] for key in keys}
    db.session.commit()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, json.dumps(settings)],
        cwd=ROOT, env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr.decode(errors="replace")[-2000:]
    db.session.expire_all()
    assert count(Article, Article.direction == Direction.IN) == 5  # first batch committed
    assert len(imap_account.list_uids("INBOX")) == 8  # and nothing filed away
    queued = count(Article, Article.is_auto.is_(True), Article.send_status == SendStatus.QUEUED)
    assert queued == 5  # its acknowledgements wait in the outbox

    summary = ingest_all(app)

    assert (summary.fetched, summary.duplicates, summary.new_tickets) == (8, 5, 3)
    assert sorted(incoming_ids()) == sorted(ids)
    assert imap_account.list_uids("INBOX") == []
    # the acknowledgements the crash left queued go out once they are overdue
    smtp_server.wait_for(3)
    db.session.execute(
        update(Article)
        .where(Article.send_status == SendStatus.QUEUED)
        .values(created_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()
    assert ingest_all(app).acknowledgements == 5
    received = smtp_server.wait_for(8)
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(
        f"user{n}@example.com" for n in range(8)
    )
    assert ingest_all(app).acknowledgements == 0


def test_two_ingests_on_one_mailbox_create_no_duplicates(app, imap_account) -> None:
    app.config["IMAP_BATCH_SIZE"] = 3
    ids = [f"<d-{n}@example.com>" for n in range(30)]
    for n, mid in enumerate(ids):
        imap_account.append(mail(f"user{n % 7}@example.com", f"Problem {n}", mid))
    db.session.commit()
    start = threading.Barrier(2)
    summaries, errors = [], []

    def run() -> None:
        with app.app_context():
            start.wait()
            try:
                summaries.append(ingest_all(app))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    assert sorted(incoming_ids()) == sorted(ids)
    assert count(Ticket) == 30
    assert sum(s.new_tickets for s in summaries) == 30
    assert count(AutoReply) == count(Article, Article.is_auto.is_(True)) <= 30
    assert imap_account.list_uids("INBOX") == []


def test_message_that_cannot_be_stored_is_set_aside_and_kept(
    app, imap_account: ImapAccount, monkeypatch
) -> None:
    for n in range(4):
        imap_account.append(mail("a@example.com", f"Problem {n}", f"<f-{n}@example.com>"))
    from mail_ingest import store

    real_insert = store.article_rows_inserted

    def failing(rows, *args, **kwargs):
        if any(row["message_id"] == "<f-2@example.com>" for row in rows):
            raise ValueError("simulated storage problem")
        return real_insert(rows, *args, **kwargs)

    monkeypatch.setattr(store, "article_rows_inserted", failing)
    summary = ingest_all(app)

    assert (summary.new_tickets, summary.failed) == (3, 1)
    assert count(Ticket) == 3  # the failed message's ticket was rolled back with it
    failure = db.session.scalars(select(IngestFailure)).one()
    assert failure.message_id == "<f-2@example.com>"
    assert "simulated storage problem" in failure.error and failure.attempts == 1
    assert failure.resolved_at is None
    assert len(imap_account.list_uids("Failed")) == 1
    assert imap_account.list_uids("INBOX") == []

    # an admin puts it back into the inbox once the problem is fixed
    monkeypatch.setattr(store, "article_rows_inserted", real_insert)
    raw = imap_account.fetch(imap_account.list_uids("Failed")[0], folder="Failed")
    imap_account.append(raw)
    assert ingest_all(app).new_tickets == 1
    db.session.refresh(failure)
    assert failure.resolved_at is not None
    assert count(Article, Article.message_id == "<f-2@example.com>") == 1


def test_failure_attempts_count_when_the_same_mail_fails_again(
    app, imap_account: ImapAccount, monkeypatch
) -> None:
    app.config["IMAP_FAILED_FOLDER"] = ""  # failed mail stays in place, flagged
    app.config["IMAP_PROCESSED_FOLDER"] = ""
    imap_account.append(mail("a@example.com", "Problem", "<fa-1@example.com>"))
    from mail_ingest import store

    def failing(*args: Any, **kwargs: Any) -> None:
        raise ValueError("simulated storage problem")

    monkeypatch.setattr(store, "article_rows_inserted", failing)
    assert ingest_all(app).failed == 1
    (uid,) = imap_account.list_uids("INBOX")
    assert "\\Flagged" in imap_account.flags()[uid]
    # the folder is read again from the start (e.g. its UIDVALIDITY changed)
    db.session.execute(update(MailboxState).values(uidvalidity=1))
    db.session.commit()
    assert ingest_all(app).failed == 1
    failure = db.session.scalars(select(IngestFailure)).one()
    assert failure.attempts == 2


def test_uidvalidity_change_reads_the_folder_again_without_duplicates(app, imap_account) -> None:
    app.config["IMAP_PROCESSED_FOLDER"] = ""  # processed mail stays in the inbox, \\Seen
    for n in range(3):
        imap_account.append(mail("a@example.com", f"P {n}", f"<u-{n}@example.com>"))
    assert ingest_all(app).new_tickets == 3
    assert all("\\Seen" in flags for flags in imap_account.flags().values())
    db.session.execute(update(MailboxState).values(uidvalidity=MailboxState.uidvalidity + 1))
    db.session.commit()
    imap_account.append(mail("a@example.com", "P new", "<u-new@example.com>"))

    summary = ingest_all(app)

    assert (summary.fetched, summary.duplicates, summary.new_tickets) == (4, 3, 1)
    assert count(Article, Article.direction == Direction.IN) == 4


# -- acknowledgements --------------------------------------------------------------------------


def test_acknowledgements_are_rate_limited_and_never_sent_to_us(
    app, imap_account: ImapAccount, smtp_server: SmtpSink
) -> None:
    for n in range(5):
        imap_account.append(mail("robot@example.com", f"Alarm {n}", f"<a-{n}@example.com>"))
    imap_account.append(mail("podrska@helpdesk.example", "Interno", "<a-us@helpdesk.example>"))
    imap_account.append(mail(imap_account.user + "@x.example", "x", "<a-x@x.example>"))
    imap_account.append(
        mail("ooo@example.com", "Odsutan", "<a-ooo@example.com>",
             extra="Auto-Submitted: auto-replied\r\n")
    )  # fmt: skip

    summary = ingest_all(app)

    assert (summary.new_tickets, summary.automatic) == (7, 1)  # the out-of-office opens none
    assert summary.acknowledgements == 4  # three to the robot (the hourly limit) and one to x
    received = smtp_server.wait_for(4)
    time.sleep(0.3)
    assert len(smtp_server.messages) == 4
    recipients = sorted(r for m in received for r in m.rcpt_tos)
    assert recipients.count("robot@example.com") == 3
    assert "podrska@helpdesk.example" not in recipients
    assert "ooo@example.com" not in recipients
    assert count(AutoReply, AutoReply.recipient == "robot@example.com") == 3


def test_smtp_outage_keeps_tickets_and_leaves_acknowledgements_queued(
    app, imap_account: ImapAccount, unused_port: int
) -> None:
    app.config["MAIL_PORT"] = unused_port
    mail_extension.init_app(app)  # Flask-Mail reads its settings when bound
    imap_account.append(mail("a@example.com", "Problem", "<o-1@example.com>"))

    summary = ingest_all(app)

    assert (summary.new_tickets, summary.acknowledgements) == (1, 0)
    ack = db.session.scalars(select(Article).where(Article.is_auto.is_(True))).one()
    assert ack.send_status == SendStatus.QUEUED and ack.send_error
    assert imap_account.list_uids("INBOX") == []
    assert summary.ack_backlog == 1 and "acknowledgements queued 1" in str(summary)


def test_an_outage_longer_than_an_hour_is_retried_until_the_queue_drains(
    app, imap_account: ImapAccount, smtp_server: SmtpSink, unused_port: int
) -> None:
    real_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = unused_port
    mail_extension.init_app(app)
    imap_account.append(mail("a@example.com", "Problem", "<o-2@example.com>"))
    assert ingest_all(app).ack_backlog == 1
    db.session.execute(  # the outage lasts three hours
        update(Article)
        .where(Article.send_status == SendStatus.QUEUED)
        .values(created_at=utcnow() - timedelta(hours=3))
    )
    db.session.commit()
    assert ingest_all(app).ack_backlog == 1  # tried again, still down: kept, not given up
    app.config["MAIL_PORT"] = real_port
    mail_extension.init_app(app)

    summary = ingest_all(app)

    assert (summary.acknowledgements, summary.ack_backlog) == (1, 0)
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["a@example.com"]
    ack = db.session.scalars(select(Article).where(Article.is_auto.is_(True))).one()
    assert ack.send_status == SendStatus.SENT


def test_an_acknowledgement_the_server_accepted_before_a_crash_is_not_sent_again(
    app, imap_account: ImapAccount, smtp_server: SmtpSink
) -> None:
    from mail_ingest import outgoing

    imap_account.append(mail("b@example.com", "Problem", "<o-3@example.com>"))
    real_record = outgoing.record_results
    # the process "dies" after SMTP accepted the mail: its sent state never reaches the database
    outgoing.record_results = lambda results, **kwargs: 0
    try:
        ingest_all(app)
    finally:
        outgoing.record_results = real_record
    smtp_server.wait_for(1)
    ack = db.session.scalars(select(Article).where(Article.is_auto.is_(True))).one()
    assert ack.send_status == SendStatus.QUEUED
    db.session.execute(
        update(Article).values(created_at=utcnow() - timedelta(minutes=5)).where(Article.id == ack.id)
    )
    db.session.commit()

    assert ingest_all(app).acknowledgements == 0  # the sent journal says it went out
    time.sleep(0.3)
    assert len(smtp_server.messages) == 1
    db.session.refresh(ack)
    assert ack.send_status == SendStatus.SENT


# -- watching ----------------------------------------------------------------------------------


def test_watch_turns_appended_mail_into_tickets_within_seconds(app, imap_account) -> None:
    stop = threading.Event()
    passes = []
    thread = threading.Thread(
        target=watch, args=(app, stop),
        kwargs={"idle_seconds": 1, "on_pass": lambda c, s: passes.append(s)}, daemon=True,
    )  # fmt: skip
    thread.start()
    try:
        time.sleep(1.0)
        latencies = []
        for n in range(3):
            began = time.monotonic()
            imap_account.append(mail("a@example.com", f"Live {n}", f"<w-{n}@example.com>"))
            while time.monotonic() - began < 10:
                db.session.rollback()
                if count(Article, Article.message_id == f"<w-{n}@example.com>"):
                    latencies.append(time.monotonic() - began)
                    break
                time.sleep(0.02)
        assert len(latencies) == 3, latencies
        assert max(latencies) < 5
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert sum(s.new_tickets for s in passes) == 3


class _RecordingStop(threading.Event):
    """A stop event that records the back-off waits and stops after a few of them."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.after = after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0)
        if len(self.waits) >= self.after:
            self.set()
        return self.is_set()


def test_watch_backs_off_while_the_server_is_unreachable(app, unused_port: int) -> None:
    app.config["IMAP_PORT"] = unused_port
    stop = _RecordingStop(after=4)
    with app.app_context(), Ingestor(app, workers=0) as ingestor:
        config = ingest_module.mailbox_configs(app.config)[0]
        ingestor.watch_mailbox(config, stop, idle_seconds=1)
    assert stop.waits == [1, 2, 4, 8]


def test_watch_reconnects_when_the_connection_breaks(app, imap_account, monkeypatch) -> None:
    real_idle = ImapMailbox.idle_wait
    broken = []

    def idle_once_broken(self, timeout):
        if not broken:
            broken.append(True)
            raise ImapConnectionError("connection lost: simulated")
        return real_idle(self, timeout)

    monkeypatch.setattr(ImapMailbox, "idle_wait", idle_once_broken)
    monkeypatch.setattr(ingest_module, "BACKOFF_FIRST", 0.1)
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(app, stop), kwargs={"idle_seconds": 1})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not broken and time.monotonic() < deadline:
            time.sleep(0.05)
        imap_account.append(mail("a@example.com", "Posle prekida", "<re-1@example.com>"))
        while time.monotonic() < deadline + 5:
            db.session.rollback()
            if count(Article, Article.message_id == "<re-1@example.com>"):
                break
            time.sleep(0.05)
        assert count(Article, Article.message_id == "<re-1@example.com>") == 1
    finally:
        stop.set()
        thread.join(timeout=20)
    assert broken


# -- mailboxes, CLI, scheduler entry -----------------------------------------------------------


def test_each_mailbox_feeds_its_own_queue(app, dovecot, imap_account: ImapAccount) -> None:
    sales = dovecot.new_account()
    app.config["IMAP_MAILBOXES"] = [
        {"name": "support", "queue": "support"},
        {"name": "sales", "user": sales.user, "password": sales.password, "queue": "sales",
         "address": "prodaja@helpdesk.example"},
    ]  # fmt: skip
    imap_account.append(mail("a@example.com", "Kvar", "<q-1@example.com>"))
    sales.append(mail("b@example.com", "Ponuda", "<q-2@example.com>"))

    assert ingest_all(app).new_tickets == 2

    assert article_by_mid("<q-1@example.com>").ticket.queue == "support"
    assert article_by_mid("<q-2@example.com>").ticket.queue == "sales"
    assert {s.name for s in db.session.scalars(select(MailboxState))} == {"support", "sales"}


def test_an_unreachable_mailbox_is_reported_and_the_others_still_ingested(
    app, imap_account: ImapAccount, unused_port: int
) -> None:
    app.config["IMAP_MAILBOXES"] = [
        {"name": "down", "port": unused_port},
        {"name": "up"},
    ]
    imap_account.append(mail("a@example.com", "Kvar", "<e-1@example.com>"))

    with pytest.raises(IngestError) as failed:
        ingest_all(app)

    assert failed.value.summary.new_tickets == 1
    assert "down" in failed.value.summary.errors[0]


def test_cli_once_prints_the_summary(app, imap_account: ImapAccount) -> None:
    imap_account.append(mail("a@example.com", "Prvi", "<cli-1@example.com>"))
    imap_account.append(mail("a@example.com", "Re: Prvi", "<cli-2@example.com>",
                             in_reply_to="<cli-1@example.com>"))  # fmt: skip
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["ingest", "--once"])

    assert result.exit_code == 0, result.output
    assert "fetched 2, new tickets 1, threaded replies 1, acknowledgements sent 1, failed 0" in (
        result.output
    )


def test_cli_without_a_mailbox_explains_the_settings(app) -> None:
    app.config.update(IMAP_HOST=None, IMAP_MAILBOXES=[])
    result = app.test_cli_runner().invoke(args=["ingest", "--once"])
    assert result.exit_code != 0
    assert "HELPDESK_IMAP_HOST" in result.output


def test_scheduler_job_target_runs_a_pass(app, imap_account: ImapAccount) -> None:
    from helpdesk.scheduler.jobs import JOBS
    from helpdesk.scheduler.runner import resolve

    job = next(j for j in JOBS if j.name == "mail_ingest")
    imap_account.append(mail("a@example.com", "Iz rasporeda", "<job-1@example.com>"))

    summary = resolve(job.target)(app)

    assert summary.new_tickets == 1
    assert "new tickets 1" in str(summary)
