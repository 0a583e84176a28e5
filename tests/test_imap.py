"""The IMAP layer against a real Dovecot: UIDs, peeking, batches, filing, IDLE, TLS, errors."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mail_ingest.imap import (
    ImapAuthError,
    ImapConfigError,
    ImapConnectionError,
    ImapMailbox,
    ImapProtocolError,
    ImapTLSError,
    MailboxConfig,
    is_loopback,
    open_mailbox,
)
from mail_ingest.parse import parse_message

if TYPE_CHECKING:
    from tests.servers import DovecotServer, ImapAccount, SmtpSink

pytest_plugins = ("tests.servers",)  # dovecot, imap_account, smtp_server, unused_port

CORPUS = Path(__file__).parent / "mail"


def mail(number: int, body: str = "") -> bytes:
    return (
        f"From: customer{number}@example.com\r\nTo: support@helpdesk.example\r\n"
        f"Subject: Problem {number}\r\nMessage-ID: <m{number}@example.com>\r\n\r\n"
        f"Body {number}\r\n{body}"
    ).encode()


def config_for(account: ImapAccount, **overrides: object) -> MailboxConfig:
    values: dict[str, Any] = {
        "name": "support",
        "host": account.host,
        "port": account.port,
        "user": account.user,
        "password": account.password,
        "security": "plain",
        "batch_size": 2,
    }
    values.update(overrides)
    return MailboxConfig(**values)


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.5.5.5", "LOCALHOST."])
def test_plain_is_allowed_on_loopback(host: str) -> None:
    assert is_loopback(host)
    MailboxConfig(name="m", host=host, user="u", password="p", security="plain")


@pytest.mark.parametrize("host", ["mail.example.com", "10.0.0.1", "192.168.1.5", "localhost.com"])
def test_plain_is_refused_for_remote_hosts(host: str) -> None:
    with pytest.raises(ImapConfigError, match="only allowed for loopback"):
        MailboxConfig(name="m", host=host, user="u", password="p", security="plain")


def test_config_rejects_unknown_security_and_bad_numbers() -> None:
    with pytest.raises(ImapConfigError, match="security must be one of"):
        bad_security: Any = "tls"
        MailboxConfig(name="m", host="h", user="u", password="p", security=bad_security)
    with pytest.raises(ImapConfigError, match="batch_size"):
        MailboxConfig(name="m", host="h", user="u", password="p", batch_size=0)
    with pytest.raises(ImapConfigError, match="port"):
        MailboxConfig(name="m", host="h", user="u", password="p", port=70000)


def test_default_ports_follow_security_and_password_stays_out_of_repr() -> None:
    assert MailboxConfig(name="m", host="h", user="u", password="p").effective_port == 993
    starttls = MailboxConfig(name="m", host="h", user="u", password="p", security="starttls")
    assert starttls.effective_port == 143
    assert "p'" not in repr(MailboxConfig(name="m", host="h", user="u", password="p"))


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.imap
def test_uidvalidity_matches_the_server(imap_account: ImapAccount) -> None:
    client = imap_account.connect()
    try:
        expected = client.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    finally:
        client.logout()
    with open_mailbox(config_for(imap_account)) as mailbox:
        assert mailbox.uidvalidity() == expected > 0


@pytest.mark.imap
def test_new_uids_returns_only_mail_after_the_given_uid(imap_account: ImapAccount) -> None:
    uids = [imap_account.append(mail(n)) for n in range(1, 4)]
    with open_mailbox(config_for(imap_account)) as mailbox:
        assert mailbox.new_uids(0) == uids
        assert mailbox.new_uids(uids[0]) == uids[1:]
        # "UID 4:*" on a mailbox whose highest UID is 3 returns 3: it must not come back
        assert mailbox.new_uids(uids[-1]) == []
        assert mailbox.new_uids(uids[-1] + 100) == []


@pytest.mark.imap
def test_new_uids_on_an_empty_folder(imap_account: ImapAccount) -> None:
    with open_mailbox(config_for(imap_account)) as mailbox:
        assert mailbox.new_uids(0) == []


@pytest.mark.imap
def test_fetch_batches_streams_exact_bytes_in_uid_order(imap_account: ImapAccount) -> None:
    sent = {imap_account.append(mail(n)): mail(n) for n in range(1, 6)}
    with open_mailbox(config_for(imap_account, batch_size=2)) as mailbox:
        batches = list(mailbox.fetch_batches(mailbox.new_uids(0)))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    fetched = [item for batch in batches for item in batch]
    assert [uid for uid, _ in fetched] == sorted(sent)
    assert all(raw == sent[uid] for uid, raw in fetched)


@pytest.mark.imap
def test_fetch_batches_caps_bytes_per_batch(imap_account: ImapAccount) -> None:
    for n in range(1, 4):
        imap_account.append(mail(n, body="x" * 10_000 + "\r\n"))
    with open_mailbox(config_for(imap_account, batch_size=10)) as mailbox:
        uids = mailbox.new_uids(0)
        sizes = mailbox.message_sizes(uids)
        assert all(10_000 < size < 11_000 for size in sizes.values())
        batches = list(mailbox.fetch_batches(uids, max_batch_bytes=15_000))
    assert [len(batch) for batch in batches] == [1, 1, 1]


@pytest.mark.imap
def test_fetching_does_not_mark_mail_seen(imap_account: ImapAccount) -> None:
    for n in range(1, 4):
        imap_account.append(mail(n))
    with open_mailbox(config_for(imap_account)) as mailbox:
        for _ in mailbox.fetch_batches(mailbox.new_uids(0)):
            pass
    assert all("\\Seen" not in flags for flags in imap_account.flags().values())


@pytest.mark.imap
def test_mail_expunged_meanwhile_is_skipped(imap_account: ImapAccount) -> None:
    first, second = imap_account.append(mail(1)), imap_account.append(mail(2))
    with open_mailbox(config_for(imap_account)) as mailbox:
        uids = mailbox.new_uids(0)
        other = imap_account.connect()
        other.select_folder("INBOX")
        other.delete_messages([first])
        other.expunge()
        other.logout()
        mailbox.noop()
        fetched = [uid for batch in mailbox.fetch_batches(uids) for uid, _ in batch]
    assert fetched == [second]


@pytest.mark.imap
def test_fetched_corpus_mail_parses_like_the_file(imap_account: ImapAccount) -> None:
    raw = (CORPUS / "01-serbian-latin-cp1250-8bit.eml").read_bytes().replace(b"\n", b"\r\n")
    imap_account.append(raw)
    with open_mailbox(config_for(imap_account)) as mailbox:
        ((_uid, fetched),) = next(mailbox.fetch_batches(mailbox.new_uids(0)))
    parsed = parse_message(fetched, max_attachment_bytes=1_000_000)
    assert parsed.subject == "Štampač ne radi – hitno"
    assert "Đorđe je pokušao" in parsed.text


# -- filing ----------------------------------------------------------------------------------


@pytest.mark.imap
def test_ensure_folders_creates_and_subscribes_once(imap_account: ImapAccount) -> None:
    cfg = config_for(
        imap_account, processed_folder="Helpdesk/Done", failed_folder="Helpdesk/Failed"
    )
    with open_mailbox(cfg) as mailbox:
        mailbox.ensure_folders()
        mailbox.ensure_folders()  # idempotent
    assert {"Helpdesk/Done", "Helpdesk/Failed"} <= set(imap_account.folders())
    client = imap_account.connect()
    try:
        subscribed = {name for _, _, name in client.list_sub_folders()}
    finally:
        client.logout()
    assert {"Helpdesk/Done", "Helpdesk/Failed"} <= subscribed


@pytest.mark.imap
def test_mark_done_moves_mail_to_the_processed_folder(imap_account: ImapAccount) -> None:
    uids = [imap_account.append(mail(n)) for n in range(1, 4)]
    cfg = config_for(imap_account, processed_folder="Processed")
    with open_mailbox(cfg) as mailbox:
        assert mailbox.has_move
        mailbox.ensure_folders()
        mailbox.mark_done(uids[:2])
    assert imap_account.list_uids("INBOX") == [uids[2]]
    assert len(imap_account.list_uids("Processed")) == 2


@pytest.mark.imap
def test_mark_done_without_move_expunges_only_our_uids(imap_account: ImapAccount) -> None:
    ours, theirs, untouched = (imap_account.append(mail(n)) for n in range(1, 4))
    other = imap_account.connect()  # another client has marked a message deleted, unexpunged
    other.select_folder("INBOX")
    other.add_flags([theirs], [b"\\Deleted"])
    other.logout()
    cfg = config_for(imap_account, processed_folder="Processed")
    with open_mailbox(cfg) as mailbox:
        mailbox.has_move = False  # as on a server without RFC 6851 MOVE
        assert mailbox.has_uidplus
        mailbox.ensure_folders()
        mailbox.mark_done([ours])
    assert imap_account.list_uids("INBOX") == [theirs, untouched]
    assert len(imap_account.list_uids("Processed")) == 1
    processed_uid = imap_account.list_uids("Processed")[0]
    assert imap_account.fetch(processed_uid, "Processed") == mail(1)


@pytest.mark.imap
def test_mark_done_without_processed_folder_sets_seen(imap_account: ImapAccount) -> None:
    first, second = imap_account.append(mail(1)), imap_account.append(mail(2))
    with open_mailbox(config_for(imap_account)) as mailbox:
        mailbox.mark_done([first])
        mailbox.mark_done([])
    flags = imap_account.flags()
    assert "\\Seen" in flags[first] and "\\Seen" not in flags[second]


@pytest.mark.imap
def test_move_failed_files_mail_in_the_failed_folder(imap_account: ImapAccount) -> None:
    good, bad = imap_account.append(mail(1)), imap_account.append(mail(2))
    cfg = config_for(imap_account, processed_folder="Processed", failed_folder="Failed")
    with open_mailbox(cfg) as mailbox:
        mailbox.ensure_folders()
        mailbox.mark_done([good])
        mailbox.move_failed([bad])
        assert mailbox.new_uids(0) == []
    assert imap_account.list_uids("INBOX") == []
    assert imap_account.fetch(imap_account.list_uids("Failed")[0], "Failed") == mail(2)


@pytest.mark.imap
def test_move_failed_without_failed_folder_flags_in_place(imap_account: ImapAccount) -> None:
    bad = imap_account.append(mail(1))
    with open_mailbox(config_for(imap_account)) as mailbox:
        mailbox.move_failed([bad])
    assert imap_account.flags()[bad] >= {"\\Flagged"}
    assert "\\Seen" not in imap_account.flags()[bad]


@pytest.mark.imap
def test_reset_helper_empties_the_mailbox(imap_account: ImapAccount) -> None:
    imap_account.append(mail(1))
    imap_account.create_folder("Old/Stuff")
    imap_account.reset()
    assert imap_account.folders() == ["INBOX"]
    assert imap_account.list_uids() == []


# -- IDLE --------------------------------------------------------------------------------------


@pytest.mark.imap
def test_idle_wakes_up_when_mail_arrives(imap_account: ImapAccount) -> None:
    with open_mailbox(config_for(imap_account)) as mailbox:
        assert mailbox.has_idle
        errors: list[BaseException] = []

        def deliver() -> None:
            try:
                imap_account.append(mail(1))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        timer = threading.Timer(0.5, deliver)
        started = time.monotonic()
        timer.start()
        try:
            # Each wait is short; under a loaded machine Dovecot's notification can lag, so wait
            # again (as `flask ingest --watch` does) until it reports the new mail.
            woke = False
            while not woke and time.monotonic() - started < 60:
                woke = mailbox.idle_wait(timeout=5)
        finally:
            timer.join()
        assert not errors, errors
        assert woke
        assert len(mailbox.new_uids(0)) == 1


@pytest.mark.imap
def test_idle_times_out_quietly_without_mail(imap_account: ImapAccount) -> None:
    with open_mailbox(config_for(imap_account)) as mailbox:
        started = time.monotonic()
        assert mailbox.idle_wait(timeout=1.0) is False
        assert 0.9 <= time.monotonic() - started < 5
        mailbox.noop()  # the connection is still usable after IDLE


@pytest.mark.imap
def test_idle_reports_mail_that_arrived_before_waiting(imap_account: ImapAccount) -> None:
    with open_mailbox(config_for(imap_account)) as mailbox:
        imap_account.append(mail(1))
        assert mailbox.idle_wait(timeout=10)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.mark.imap
def test_ssl_connection_with_a_trusted_certificate(dovecot: DovecotServer) -> None:
    context = dovecot.tls_context()
    cfg = config_for(dovecot, host="localhost", port=dovecot.ssl_port, security="ssl")
    with open_mailbox(cfg, ssl_context=context) as mailbox:
        assert mailbox.uidvalidity() > 0


@pytest.mark.imap
def test_starttls_connection_using_the_cafile_setting(dovecot: DovecotServer) -> None:
    dovecot.tls_context()  # skips when the server has no TLS
    cfg = config_for(dovecot, host="localhost", security="starttls", cafile=dovecot.cafile)
    with open_mailbox(cfg) as mailbox:
        assert mailbox.uidvalidity() > 0


@pytest.mark.imap
def test_untrusted_certificate_is_a_permanent_tls_error(dovecot: DovecotServer) -> None:
    dovecot.tls_context()
    cfg = config_for(dovecot, host="localhost", port=dovecot.ssl_port, security="ssl")
    with (
        pytest.raises(ImapTLSError) as caught,
        open_mailbox(cfg, ssl_context=ssl.create_default_context()),
    ):
        pass
    assert caught.value.retryable is False


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.imap
def test_wrong_password_is_an_auth_error_not_worth_retrying(imap_account: ImapAccount) -> None:
    cfg = config_for(imap_account, password="wrong")
    with pytest.raises(ImapAuthError) as caught, open_mailbox(cfg):
        pass
    assert caught.value.retryable is False


def test_nothing_listening_is_a_retryable_connection_error(unused_port: int) -> None:
    cfg = MailboxConfig(
        name="m", host="127.0.0.1", port=unused_port, user="u", password="p", security="plain",
        timeout=5,
    )  # fmt: skip
    with pytest.raises(ImapConnectionError) as caught, open_mailbox(cfg):
        pass
    assert caught.value.retryable is True


@pytest.mark.imap
def test_missing_folder_is_a_protocol_error(imap_account: ImapAccount) -> None:
    with (
        pytest.raises(ImapProtocolError, match="select"),
        open_mailbox(config_for(imap_account, folder="Nope")),
    ):
        pass


@pytest.mark.imap
def test_broken_connection_mid_session_is_retryable(imap_account: ImapAccount) -> None:
    imap_account.append(mail(1))
    with open_mailbox(config_for(imap_account)) as mailbox:
        mailbox._client.shutdown()  # the socket goes away under us, as on a network drop
        with pytest.raises(ImapConnectionError) as caught:
            mailbox.new_uids(0)
        assert caught.value.retryable
    # a new connection works again
    with open_mailbox(config_for(imap_account)) as mailbox:
        assert len(mailbox.new_uids(0)) == 1


@pytest.mark.imap
def test_mailbox_object_is_the_public_type(imap_account: ImapAccount) -> None:
    with open_mailbox(config_for(imap_account)) as mailbox:
        assert isinstance(mailbox, ImapMailbox)
        assert mailbox.config.name == "support"


@pytest.mark.imap
def test_without_idle_support_the_wait_polls_with_noop(imap_account: ImapAccount) -> None:
    with open_mailbox(config_for(imap_account)) as mailbox:
        mailbox.has_idle = False  # as on a server that does not offer RFC 2177 IDLE
        assert mailbox.idle_wait(timeout=0.3) is False
        timer = threading.Timer(0.2, imap_account.append, args=(mail(1),))
        timer.start()
        try:
            assert mailbox.idle_wait(timeout=1.5) is True
        finally:
            timer.join()


# -- the SMTP sink that outgoing-mail tests use ------------------------------------------------


def test_smtp_sink_records_envelope_and_exact_bytes(smtp_server: SmtpSink) -> None:
    raw = mail(1) + "Čestitamo\r\n".encode()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.login(smtp_server.user, smtp_server.password)
        client.sendmail("helpdesk@example.com", ["a@example.com", "b@example.com"], raw)
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.sendmail("helpdesk@example.com", ["c@example.com"], mail(2))
    first, second = smtp_server.wait_for(2)
    assert first.mail_from == "helpdesk@example.com"
    assert first.rcpt_tos == ["a@example.com", "b@example.com"]
    assert first.data.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert first.message()["Subject"] == "Problem 1"
    assert second.rcpt_tos == ["c@example.com"]


def test_smtp_sink_rejects_a_wrong_password(smtp_server: SmtpSink) -> None:
    with (
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        client.login(smtp_server.user, "wrong")
    assert smtp_server.messages == []
