"""Storing prepared mail without a mail server: threading rules, failures, settings, display."""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Article, Contact, ContactEmail, IngestFailure, Ticket
from helpdesk.tickets.services import create_ticket
from helpdesk.web.mail_html import inline_images
from mail_ingest import store
from mail_ingest.config import mailbox_configs, own_addresses, queue_addresses
from mail_ingest.imap import ImapConfigError
from mail_ingest.ingest import _Parser
from mail_ingest.prepare import PreparedMessage, prepare_message, unprepared
from mail_ingest.store import (
    DUPLICATE,
    FAILED,
    NEW_TICKET,
    REPLY,
    UNVERIFIED,
    StoreSettings,
    our_ticket_number,
    store_batch,
)
from tests.test_ingest import mail

SETTINGS = StoreSettings(
    mailbox="support",
    uidvalidity=7,
    queue="support",
    own_addresses=frozenset({"support@helpdesk.example"}),
    message_id_domain="helpdesk.example",
    acknowledge=False,
)


def prepared(app, uid: int, raw: bytes) -> PreparedMessage:
    return prepare_message(
        uid, raw, max_attachment_bytes=1 << 20, attachment_root=app.config["ATTACHMENT_DIR"]
    )


def store_mails(app, *raws: bytes, first_uid: int = 1) -> list[store.StoreOutcome]:
    batch = [prepared(app, first_uid + n, raw) for n, raw in enumerate(raws)]
    outcomes = store_batch(batch, SETTINGS)
    db.session.commit()
    return outcomes


def article_of(message_id: str) -> Article:
    return db.session.scalars(select(Article).where(Article.message_id == message_id)).one()


def ticket_of(message_id: str) -> Ticket:
    return db.session.scalars(select(Article).where(Article.message_id == message_id)).one().ticket


# -- threading ---------------------------------------------------------------------------------


def test_subject_tag_from_another_clients_contact_opens_a_new_ticket(app, factory) -> None:
    first = factory.client("Prva", domain="prva.example")
    second = factory.client("Druga", domain="druga.example")
    factory.contact(first, email="ana@prva.example")
    factory.contact(second, email="vesna@druga.example")
    ticket = create_ticket(subject="Ugovor", client_id=first.id, actor="test")
    db.session.commit()
    tag = ticket.tag

    outcomes = store_mails(
        app,
        mail("vesna@druga.example", f"Re: {tag} Ugovor", "<x-1@druga.example>"),
        mail("ana@prva.example", f"Re: {tag} Ugovor", "<x-2@prva.example>"),
        mail("stranac@gmail.example", f"Re: {tag} Ugovor", "<x-3@gmail.example>"),
        mail("novi@prva.example", f"Re: {tag} Ugovor", "<x-4@prva.example>"),
    )

    assert [o.kind for o in outcomes] == [NEW_TICKET, REPLY, UNVERIFIED, REPLY]
    assert ticket_of("<x-1@druga.example>").client_id == second.id
    assert article_of("<x-3@gmail.example>").unverified
    for mid in ("<x-2@prva.example>", "<x-3@gmail.example>", "<x-4@prva.example>"):
        assert ticket_of(mid).id == ticket.id


def test_our_message_id_names_the_ticket_even_if_that_mail_is_unknown(app) -> None:
    ticket = create_ticket(
        subject="Mreža", client_id=None, requester_email="a@example.com", actor="test"
    )
    db.session.commit()
    ours = f"<ticket-{ticket.number}.ack.0123456789abcdef@helpdesk.example>"
    forged = f"<ticket-{ticket.number}.ack.0123456789abcdef@elsewhere.example>"

    outcomes = store_mails(
        app,
        mail("a@example.com", "Re: Mreža", "<y-1@example.com>", in_reply_to=ours),
        mail("a@example.com", "Re: Mreža", "<y-2@example.com>", in_reply_to=forged),
    )

    assert [o.kind for o in outcomes] == [REPLY, NEW_TICKET]
    assert ticket_of("<y-1@example.com>").id == ticket.id
    assert our_ticket_number(ours, "HELPDESK.example") == ticket.number
    assert our_ticket_number("<chain-1@example.com>", "helpdesk.example") is None


def test_a_reply_in_the_same_batch_joins_the_ticket_its_parent_just_opened(app) -> None:
    outcomes = store_mails(
        app,
        mail("a@example.com", "Prvi", "<z-1@example.com>"),
        mail("b@example.com", "Re: Prvi", "<z-2@example.com>", references="<z-1@example.com>"),
        mail("a@example.com", "Prvi", "<z-1@example.com>"),  # delivered twice
    )
    assert [o.kind for o in outcomes] == [NEW_TICKET, UNVERIFIED, DUPLICATE]
    assert db.session.scalar(select(func.count(Article.id))) == 2
    assert ticket_of("<z-2@example.com>") == ticket_of("<z-1@example.com>")


# -- failures ----------------------------------------------------------------------------------


def test_a_failed_message_is_rolled_back_alone_with_the_contact_it_created(
    app, factory, monkeypatch
) -> None:
    client = factory.client("Firma", domain="firma.example")
    db.session.commit()
    real = store.article_rows_inserted

    def failing(rows, *args, **kwargs):
        if any(row["message_id"] == "<f-1@firma.example>" for row in rows):
            raise ValueError("broken on purpose")
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(store, "article_rows_inserted", failing)

    outcomes = store_mails(
        app,
        mail("novi@firma.example", "Jedan", "<f-1@firma.example>"),
        mail("novi@firma.example", "Dva", "<f-2@firma.example>"),
    )

    assert [o.kind for o in outcomes] == [FAILED, NEW_TICKET]
    assert "broken on purpose" in outcomes[0].error
    contacts = db.session.scalars(select(Contact).join(ContactEmail)).all()
    assert [(c.client_id, c.email) for c in contacts] == [(client.id, "novi@firma.example")]
    assert ticket_of("<f-2@firma.example>").contact_id == contacts[0].id
    assert db.session.scalar(select(func.count(Ticket.id))) == 1
    failure = db.session.scalars(select(IngestFailure)).one()
    assert (failure.mailbox, failure.uidvalidity, failure.uid) == ("support", 7, 1)


def test_mail_that_killed_the_parser_is_recorded_as_a_failure(app) -> None:
    raw = mail("a@example.com", "Otrov", "<poison@example.com>")
    outcomes = store_batch([unprepared(3, raw, "the parser crashed on this message")], SETTINGS)
    db.session.commit()
    assert outcomes[0].kind == FAILED
    failure = db.session.scalars(select(IngestFailure)).one()
    assert failure.message_id == "<poison@example.com>" and "crashed" in failure.error


def test_a_dying_parse_worker_costs_only_its_message(app, monkeypatch) -> None:
    """Each message is retried alone; the one that kills its worker is set aside."""
    parser = _Parser(1, 1 << 20, app.config["ATTACHMENT_DIR"])

    class Pool:
        def submit(self, function, items, **kwargs) -> Future:
            future: Future = Future()
            if any(uid == 5 for uid, _ in items):
                future.set_exception(BrokenProcessPool("worker died"))
            else:
                future.set_result(function(items, **kwargs))
            return future

        def shutdown(self, **kwargs: Any) -> None:
            pass

    monkeypatch.setattr(parser, "_executor", lambda: Pool())
    batch = [(uid, mail("a@example.com", f"M {uid}", f"<p-{uid}@example.com>"))
             for uid in range(1, 21)]  # fmt: skip

    result = parser.submit(batch)()

    assert [item.uid for item in result] == list(range(1, 21))
    assert [item.uid for item in result if item.error] == [5]
    assert result[5].message.subject == "M 6"


def test_a_message_id_longer_than_the_column_is_stored_as_a_digest(app) -> None:
    long_id = "<" + "x" * 1200 + "@example.com>"
    store_mails(app, mail("a@example.com", "Dugo", long_id))
    article = db.session.scalars(select(Article)).one()
    assert article.message_id == store.storable_message_id(long_id)
    assert len(article.message_id) < 100
    assert store_mails(app, mail("a@example.com", "Dugo", long_id))[0].kind == DUPLICATE


# -- display -----------------------------------------------------------------------------------


def test_inline_images_point_cid_references_at_download_urls() -> None:
    attachments = [
        SimpleNamespace(id=7, content_id="logo@x", sha256="a" * 64),
        SimpleNamespace(id=8, content_id="gone@x", sha256=None),  # dropped: left as it is
    ]
    html = (
        '<p><img src="cid:logo@x" alt="logo"><img src=\'CID:<LOGO@x>\'>'
        '<img src="cid:gone@x"><a href="cid:unknown">x</a></p>'
    )
    shown = inline_images(html, attachments, lambda attachment_id: f"/a/{attachment_id}?inline=1")
    assert shown.count('src="/a/7?inline=1"') == 2
    assert 'src="cid:gone@x"' in shown and 'href="cid:unknown"' in shown


# -- settings ----------------------------------------------------------------------------------

BASE = {
    "IMAP_HOST": "imap.example.com",
    "IMAP_PORT": 993,
    "IMAP_USER": "podrska@firma.example",
    "IMAP_PASSWORD": "secret",
    "IMAP_SECURITY": "ssl",
    "IMAP_FOLDER": "INBOX",
    "IMAP_PROCESSED_FOLDER": "Processed",
    "IMAP_FAILED_FOLDER": "Failed",
    "IMAP_QUEUE": "support",
    "IMAP_BATCH_SIZE": 100,
    "IMAP_MAILBOXES": [],
    "VENDOR_EMAIL": "Support <support@helpdesk.example>",
    "MAIL_DEFAULT_SENDER": ("Helpdesk", "noreply@helpdesk.example"),
}


def test_one_mailbox_from_the_imap_settings() -> None:
    (config,) = mailbox_configs(BASE)
    assert (config.host, config.effective_port, config.user, config.security) == (
        "imap.example.com", 993, "podrska@firma.example", "ssl")  # fmt: skip
    assert (config.processed_folder, config.failed_folder, config.queue) == (
        "Processed", "Failed", "support")  # fmt: skip
    assert mailbox_configs({**BASE, "IMAP_HOST": None}) == []


def test_several_mailboxes_inherit_what_they_leave_out() -> None:
    settings = {**BASE, "IMAP_MAILBOXES": [
        {"name": "support"},
        {"user": "prodaja@firma.example", "queue": "sales", "security": "starttls",
         "processed_folder": "", "address": "prodaja@firma.example"},
    ]}  # fmt: skip
    support, sales = mailbox_configs(settings)
    assert support.name == "support" and support.user == "podrska@firma.example"
    assert sales.name == "prodaja@firma.example@imap.example.com/INBOX"
    assert (sales.queue, sales.security, sales.effective_port) == ("sales", "starttls", 143)
    assert sales.processed_folder is None and sales.failed_folder == "Failed"
    assert queue_addresses(settings) == {"sales": "prodaja@firma.example"}
    assert own_addresses(settings) == {
        "support@helpdesk.example", "noreply@helpdesk.example", "podrska@firma.example",
        "prodaja@firma.example",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], "share the name"),
        ([{"nme": "typo"}], "unknown keys"),
        ([{"security": "plain"}], "only allowed for loopback"),
        (["not an object"], "must be an object"),
    ],
)
def test_wrong_mailbox_settings_are_refused(entries: list, message: str) -> None:
    with pytest.raises(ImapConfigError, match=message):
        mailbox_configs({**BASE, "IMAP_MAILBOXES": entries})
