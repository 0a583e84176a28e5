"""How acknowledgements are written: the fast header path writes what compat32 writes, the
boundaries we choose never occur in the text, encoded subjects decode back, and the mailer's
small app renders the same mail as the full one."""

from __future__ import annotations

import email
import email.policy
from email.header import decode_header, make_header
from email.message import Message

import pytest

from helpdesk import create_app, create_mail_app
from mail_ingest.acknowledgements import AckJob, TicketView, build_acknowledgement
from mail_ingest.mailing import SMTP_COMPAT32, _set_boundaries, encoded_header

STOCK = email.policy.compat32.clone(linesep="\r\n")

HEADERS = [
    ("Subject", "Ticket [#1042] received: printer"),
    ("To", "Ana Anić <ana@firma.rs>"),  # not ASCII: the stock path
    ("X-Long", "word " * 30),  # longer than a line: the stock path folds it
    ("Auto-Submitted", "auto-replied"),
    ("Subject", encoded_header("Fatura yazdırma hatası — ödeme ekranı açılmıyor " * 3, "Subject")),
]


@pytest.mark.parametrize(("name", "value"), HEADERS)
def test_fast_header_path_writes_what_compat32_writes(name: str, value: str) -> None:
    assert SMTP_COMPAT32.fold(name, value) == STOCK.fold(name, value)


@pytest.mark.parametrize(
    "text",
    ["Ne radi štampa fakture", "Yedekleme çalışmıyor, şirket ağı", "Проблем со пријавом " * 8, "plain"],
)
def test_encoded_subject_decodes_back_and_keeps_its_lines_short(text: str) -> None:
    encoded = encoded_header(text, "Subject")
    assert encoded.isascii()
    assert all(len(line) <= 78 for line in encoded.split("\r\n"))
    assert str(make_header(decode_header(encoded))) == text


def test_chosen_boundary_is_not_in_any_part_and_the_mail_parses_back() -> None:
    msg = Message()
    msg["Content-Type"] = "multipart/alternative"
    for body in ("first --=_ part", "second part"):
        part = Message()
        part["Content-Type"] = "text/plain; charset=utf-8"
        part.set_payload(body)
        msg.attach(part)
    _set_boundaries(msg)
    boundary = msg.get_boundary()
    assert boundary is not None and boundary.startswith("=_")
    assert all(boundary not in p.get_payload() for p in msg.get_payload())
    again = email.message_from_bytes(msg.as_bytes(policy=SMTP_COMPAT32))
    assert [p.get_payload() for p in again.get_payload()] == ["first --=_ part", "second part"]


def _job(language: str) -> AckJob:
    return AckJob(
        ticket=TicketView(1042, "Yazıcı çalışmıyor"),
        language=language,
        sender='"Podrška" <support@vendor.example>',
        recipient="ana@firma.rs",
        subject="[#1042] Yazıcı çalışmıyor",
        message_id="<ticket-1042.ack." + "x" * 180 + "@vendor.example>",
        in_reply_to="<m1@firma.rs>",
        references="<m0@firma.rs> <m1@firma.rs>",
    )


@pytest.mark.parametrize("language", ["sr_Latn", "tr", "en"])
def test_mailer_app_writes_the_same_acknowledgement_as_the_full_app(language: str) -> None:
    settings = {"SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://", "VENDOR_NAME": "Vendor"}
    mails = []
    for factory in (create_app, create_mail_app):
        with factory(dict(settings)).app_context():
            mails.append(email.message_from_bytes(build_acknowledgement(_job(language)).as_bytes()))
    full, small = mails
    for name in ("Subject", "From", "To", "Message-ID", "In-Reply-To", "References", "Auto-Submitted"):
        assert small[name] == full[name], name
    bodies = [[p.get_payload(decode=True) for p in m.walk() if not p.is_multipart()] for m in mails]
    assert bodies[0] == bodies[1] and len(bodies[0]) == 2
    assert full["In-Reply-To"] == "<m1@firma.rs>"
    assert "=?" not in full["Message-ID"]  # a 200-character id stays plain
    assert str(make_header(decode_header(full["Subject"]))) == "[#1042] Yazıcı çalışmıyor"
