"""Parsing the hard-mail corpus: charsets, MIME shapes, auto-replies, limits, speed, safety."""

from __future__ import annotations

import base64
import random
import re
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail_ingest.attachments import elide_large_runs
from mail_ingest.parse import ParsedMessage, decode_text, parse_message
from mail_ingest.sanitize import html_to_text, sanitize_html
from tests.mail.make_corpus import (
    BIG_ATTACHMENT_NAME,
    big_attachment_message,
    big_attachment_payload,
)

CORPUS = Path(__file__).parent / "mail"
LIMIT = 5 * 1024 * 1024
BELGRADE = ZoneInfo("Europe/Belgrade")


@dataclass(frozen=True)
class Expected:
    """What a corpus file must parse to; ``words`` must all appear in the plain text."""

    subject: str
    from_addr: str | None
    words: tuple[str, ...]
    is_auto: bool = False
    auto_reason: str | None = None
    attachments: tuple[str, ...] = ()


EXPECTED: dict[str, Expected] = {
    "01-serbian-latin-cp1250-8bit.eml": Expected(
        "Štampač ne radi – hitno",
        "djordje@example.rs",
        ("štampač", "računovodstvu", "juče", "Đorđe", "pokušao", "grešku", "Ćirić", "Žarko Šušić"),
    ),
    "02-serbian-latin-iso8859-2-8bit.eml": Expected(
        "Šifra ne važi", "djuro@example.rs", ("šifra", "žiro", "račun", "važi", "Čekamo", "Žižić")
    ),
    "03-serbian-cyrillic-cp1251-8bit.eml": Expected(
        "Рачунар не ради",
        "ljiljana@example.rs",
        ("Поштовани", "рачунар", "Ђорђе", "љубазно", "њихов", "ћутање", "Џак", "Јовановић"),
    ),
    "04-russian-koi8r-8bit.eml": Expected(
        "Принтер не печатает",
        "ivan@example.ru",
        ("Здравствуйте", "печатает", "лампочка", "уважением"),
    ),
    "05-turkish-cp1254-8bit.eml": Expected(
        "Yazıcı çalışmıyor",
        "sukru@example.com.tr",
        ("yazıcı", "çalışmıyor", "Değişiklik", "şöyle", "İstanbul", "ışık", "Şükrü Öztürk"),
    ),
    "06-turkish-cp1254-qp.eml": Expected(
        "Fatura tutarı yanlış",
        "gul@example.com.tr",
        ("Günaydın", "tutarı", "görünüyor", "ığdır", "şubesinden", "Gül Çelik"),
    ),
    "07-utf8-base64.eml": Expected(
        "Disk pun na app01", "milica@example.rs", ("Здраво", "Ćao", "你好", "👋", "„app01“")
    ),
    "08-subject-b-encoded.eml": Expected(
        "Ne mogu da se prijavim – lozinka odbijena", "nenad@example.rs", ("Lozinka je odbijena",)
    ),
    "09-subject-split-encoded-words.eml": Expected(
        "Čačak – Užice: račun i što još plain tail", "ana@example.rs", ("Racun za Cacak",)
    ),
    "10-reply-chain-1.eml": Expected("VPN ne radi", "petar@example.com", ("grešku 809",)),
    "11-reply-chain-2.eml": Expected(
        "Re: [#1201] VPN ne radi", "podrska@helpdesk.example", ("port 1723",)
    ),
    "12-reply-chain-3.eml": Expected(
        "RE: Re: [#1201] VPN ne radi", "petar@example.com", ("port je otvoren",)
    ),
    "13-reply-subject-tag-only.eml": Expected(
        "Odg: [#1234] Licenca istekla", "marija@example.rs", ("obnovili",)
    ),
    "14-html-script-onerror.eml": Expected(
        "Please look at this", "mallory@example.org", ("error code E42",)
    ),
    "15-outlook-html-only.eml": Expected(
        "Ponuda za održavanje",
        "zoran@example.rs",
        ("Poštovani,", "održavanje", "- 10 korisnika", "- Čačak i Niš", "Zoran Đurić"),
    ),
    "16-inline-image.eml": Expected(
        "Screenshot greske", "jelena@example.rs", ("slici ispod",), attachments=("image-1.png",)
    ),
    "17-attachments-rfc2231.eml": Expected(
        "Racuni u prilogu",
        "racuni@example.rs",
        ("U prilogu",),
        attachments=("Šifra računa №1.pdf", "Izveštaj za žiro račun.xlsx", "Ponuda čišćenje.pdf"),
    ),
    "18-bounce-multipart-report.eml": Expected(
        "Undelivered Mail Returned to Sender",
        "bounces@mx.example.net",
        ("could not be delivered", "User unknown"),
        is_auto=True,
        auto_reason="report: delivery-status",
        attachments=("delivery-status-1.txt", "returned-message.eml"),
    ),
    "19-out-of-office.eml": Expected(
        "Automatski odgovor: [#1500] Ponuda",
        "ivana@example.rs",
        ("godišnjem",),
        is_auto=True,
        auto_reason="Auto-Submitted: auto-replied",
    ),
    "20-mailing-list.eml": Expected(
        "[announce] Release 4.2",
        "announce@lists.example.org",
        ("4.2 is out",),
        is_auto=True,
        auto_reason="List-Id header",
    ),
    "21-precedence-bulk.eml": Expected(
        "Spring sale",
        "news@shop.example.com",
        ("20% off",),
        is_auto=True,
        auto_reason="Precedence: bulk",
    ),
    "22-x-autoreply.eml": Expected(
        "Re: Vas upit",
        "goran@example.rs",
        ("odgovoricemo",),
        is_auto=True,
        auto_reason="x-autoreply header",
    ),
    "23-empty-return-path.eml": Expected(
        "Disk usage warning",
        "notify@monitor.example.com",
        ("/var is at 91%",),
        is_auto=True,
        auto_reason="empty Return-Path",
    ),
    "24-from-mailer-daemon.eml": Expected(
        "Delivery Status Notification (Failure)",
        "mailer-daemon@mx.example.net",
        ("failed permanently",),
        is_auto=True,
        auto_reason="sender mailer-daemon",
    ),
    "25-no-message-id.eml": Expected("Bez ID-a", "old@example.rs", ("nema Message-ID",)),
    "26-broken-multipart.eml": Expected(
        "Broken multipart", "broken@example.rs", ("server baze je pao",), attachments=("dump.bin",)
    ),
    "27-bad-base64.eml": Expected(
        "Bad base64",
        "b64@example.rs",
        ("lošim base64", "ćevapi i čorba"),
        attachments=("broken.pdf",),
    ),
    "28-charset-lie-utf8-is-cp1250.eml": Expected(
        "Ugovor ističe",
        "lie@example.rs",
        ("Poštovani", "održavanje", "ističe", "sledeće", "Ćirilica", "čćžšđ"),
    ),
    "29-unknown-charset.eml": Expected(
        "Naša firma", "milos@example.rs", ("šta se dešava", "našim", "Miloš")
    ),
    "30-forwarded-rfc822.eml": Expected(
        "Fwd: Greska pri izvozu",
        "sef@example.rs",
        ("Prosledjujem", "Forwarded message", "Subject: Greška pri izvozu", "greškom XL-500"),
        attachments=("Greška pri izvozu.eml",),
    ),
    "31-calendar-invite.eml": Expected(
        "Sastanak o migraciji", "dragan@example.rs", ("sastanak",), attachments=("invite-1.ics",)
    ),
    "32-tnef-winmail.eml": Expected(
        "Dokument u prilogu", "exchange@example.rs", ("u prilogu",), attachments=("winmail.dat",)
    ),
    "33-long-subject-folded.eml": Expected(
        " ".join(["Zahtev za proširenje licence na dodatnih pedeset korisnika"] * 6),
        "dugacak@example.rs",
        ("Long subject body",),
    ),
    "34-missing-headers.eml": Expected("", None, ("bez posiljaoca",)),
    "35-nested-multiparts.eml": Expected(
        "Nested parts",
        "nested@example.rs",
        ("Plain verzija",),
        attachments=("graf.png", "izvestaj.pdf", "log.txt"),
    ),
    "36-html-only-meta-charset.eml": Expected(
        "Obavestenje",
        "admin@example.rs",
        ("Обавештење", "Сервер ће бити недоступан", "1. бекап", "2. надоградња"),
    ),
    "37-format-flowed.eml": Expected(
        "Flowed text",
        "flowed@example.rs",
        ("prelomio na vise redova, ali ga treba citati kao jedan red.", "> citat koji je takodje"),
    ),
    "38-latin1-label-on-cp1250.eml": Expected(
        "Zahtev", "saban@example.rs", ("Šta je sa našim", "Već", "čekamo", "Šaban")
    ),
    "39-raw-utf8-headers.eml": Expected(
        "Ćao, imamo problem sa ključem", "dusan@example.rs", ("Ključ ne radi",)
    ),
    "40-read-receipt-mdn.eml": Expected(
        "Procitano: [#1300] Ponuda",
        "citac@example.rs",
        ("procitana",),
        is_auto=True,
        auto_reason="report: disposition-notification",
        attachments=("disposition-notification-1.txt",),
    ),
    "41-apple-split-body.eml": Expected(
        "Dve slike",
        "mac@example.rs",
        ("Prva recenica pre slike.", "Druga recenica posle slike."),
        attachments=("Screen Shot 2025-04-11.png",),
    ),
    "42-binary-garbage.eml": Expected("", None, ()),
    "43-pgp-signed.eml": Expected(
        "Signed request", "pgp@example.org", ("rotate the API key",), attachments=("signature.asc",)
    ),
    "44-date-minus-zero.eml": Expected("Date with -0000", "zone@example.rs", ("bez zone",)),
    "45-forwarded-html.eml": Expected(
        "Fw: Obavestenje o isporuci",
        "fwd2@example.rs",
        ("Subject: Isporuka 12345", "Paket 12345 je isporučen."),
        attachments=("Isporuka 12345.eml",),
    ),
}


def parse_file(name: str, **kwargs: object) -> ParsedMessage:
    return parse_message((CORPUS / name).read_bytes(), max_attachment_bytes=LIMIT, **kwargs)


def test_corpus_and_expectation_table_match() -> None:
    files = sorted(path.name for path in CORPUS.glob("*.eml"))
    assert len(files) >= 40
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_parses_as_expected(name: str) -> None:
    expected = EXPECTED[name]
    parsed = parse_file(name)
    assert parsed.subject == expected.subject
    assert parsed.from_addr == expected.from_addr
    for word in expected.words:
        assert word in parsed.text, f"{word!r} missing from {parsed.text!r}"
    assert parsed.is_auto is expected.is_auto
    assert parsed.auto_reason == expected.auto_reason
    assert [a.filename for a in parsed.attachments] == list(expected.attachments)
    assert parsed.message_id.startswith("<") and parsed.message_id.endswith(">")
    assert "\x00" not in parsed.text


DECLARED_CORRECTLY = [
    "01-serbian-latin-cp1250-8bit.eml",
    "02-serbian-latin-iso8859-2-8bit.eml",
    "03-serbian-cyrillic-cp1251-8bit.eml",
    "04-russian-koi8r-8bit.eml",
    "05-turkish-cp1254-8bit.eml",
    "06-turkish-cp1254-qp.eml",
    "07-utf8-base64.eml",
    "15-outlook-html-only.eml",
    "17-attachments-rfc2231.eml",
    "36-html-only-meta-charset.eml",
]


@pytest.mark.parametrize("name", DECLARED_CORRECTLY)
def test_correctly_declared_charsets_decode_without_replacement_or_fallback(name: str) -> None:
    parsed = parse_file(name)
    for value in (parsed.subject, parsed.from_name, parsed.text, parsed.html or ""):
        assert "\ufffd" not in value
    assert "\ufffd" not in "".join(a.filename for a in parsed.attachments)
    assert not [d for d in parsed.defects if d.startswith("Charset")]


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("28-charset-lie-utf8-is-cp1250.eml", "cp1250"),
        ("29-unknown-charset.eml", "cp1250"),
        ("38-latin1-label-on-cp1250.eml", "cp1250"),
    ],
)
def test_wrong_or_unknown_charset_falls_back_and_is_reported(name: str, fallback: str) -> None:
    parsed = parse_file(name)
    assert "\ufffd" not in parsed.text
    assert any(d.startswith("CharsetFallback") and fallback in d for d in parsed.defects)


def test_display_names_decode_from_encoded_words_in_every_charset() -> None:
    assert parse_file("01-serbian-latin-cp1250-8bit.eml").from_name == "Đorđe Ćirić"
    assert parse_file("03-serbian-cyrillic-cp1251-8bit.eml").from_name == "Љиљана Јовановић"
    assert parse_file("04-russian-koi8r-8bit.eml").from_name == "Иван Петров"
    assert parse_file("05-turkish-cp1254-8bit.eml").from_name == "Şükrü Öztürk"
    assert parse_file("39-raw-utf8-headers.eml").from_name == "Dušan Šćepanović"


def test_addresses_are_lower_cased_and_groups_and_quoted_commas_survive() -> None:
    parsed = parse_file("35-nested-multiparts.eml")
    assert parsed.to == ["podrska@helpdesk.example"]
    assert parsed.cc == ["john@example.com", "jane@example.com"]
    assert parsed.reply_to == "tim@example.rs"
    assert parse_file("01-serbian-latin-cp1250-8bit.eml").from_addr == "djordje@example.rs"


def test_reply_chain_links_by_in_reply_to_and_references() -> None:
    first, second, third = (
        parse_file(f"1{n}-reply-chain-{n + 1}.eml")
        for n in range(3)  # 10, 11, 12
    )
    assert first.message_id == "<chain-1@example.com>"
    assert first.in_reply_to is None and first.references == [] and first.thread_ids == []
    assert second.in_reply_to == first.message_id
    assert third.in_reply_to == second.message_id
    assert third.references == [first.message_id, second.message_id]
    assert third.thread_ids == [second.message_id, first.message_id]
    assert second.ticket_tag == third.ticket_tag == 1201


def test_subject_tag_alone_identifies_the_ticket() -> None:
    parsed = parse_file("13-reply-subject-tag-only.eml")
    assert parsed.ticket_tag == 1234
    assert parsed.in_reply_to is None and parsed.references == []


def test_ticket_tag_pattern_is_a_parameter() -> None:
    raw = b"From: a@example.com\nSubject: Re: [HD-77] printer [#5]\n\nbody\n"
    assert parse_message(raw, max_attachment_bytes=LIMIT).ticket_tag == 5
    custom = parse_message(raw, max_attachment_bytes=LIMIT, ticket_tag_pattern=r"\[HD-(\d+)\]")
    assert custom.ticket_tag == 77
    untagged = parse_message(b"Subject: no tag #12\n\nx", max_attachment_bytes=LIMIT)
    assert untagged.ticket_tag is None


def test_message_ids_are_normalised_with_brackets() -> None:
    parsed = parse_file("44-date-minus-zero.eml")
    assert parsed.message_id == "<zone-044@example.rs>"
    assert parsed.in_reply_to == "<chain-1@example.com>"


def test_missing_message_id_gets_a_stable_hash_id() -> None:
    raw = (CORPUS / "25-no-message-id.eml").read_bytes()
    first = parse_message(raw, max_attachment_bytes=LIMIT)
    again = parse_message(raw, max_attachment_bytes=LIMIT)
    other = parse_message(raw + b"\nP.S.\n", max_attachment_bytes=LIMIT)
    assert first.message_id == again.message_id
    assert first.message_id.endswith("@no-message-id>") and len(first.message_id) == 80
    assert other.message_id != first.message_id
    assert "MissingMessageId" in first.defects


def test_dates_are_aware_utc_across_a_month_boundary_in_belgrade() -> None:
    forwarded = parse_file("30-forwarded-rfc822.eml").date
    assert forwarded == datetime(2025, 3, 31, 22, 15, tzinfo=UTC)
    assert forwarded.utcoffset().total_seconds() == 0
    local = forwarded.astimezone(BELGRADE)
    assert (local.month, local.day, local.hour) == (4, 1, 0)  # already April locally (CEST)


def test_date_without_zone_is_taken_as_utc() -> None:
    parsed = parse_file("44-date-minus-zero.eml")
    assert parsed.date == datetime(2025, 3, 31, 23, 30, tzinfo=UTC)
    assert parsed.date.astimezone(BELGRADE).isoformat() == "2025-04-01T01:30:00+02:00"


def test_date_before_dst_change_keeps_winter_offset() -> None:
    parsed = parse_file("01-serbian-latin-cp1250-8bit.eml")  # 09:15 +0100 on 3 March
    assert parsed.date == datetime(2025, 3, 3, 8, 15, tzinfo=UTC)
    assert parsed.date.astimezone(BELGRADE).utcoffset().total_seconds() == 3600


def test_missing_and_broken_headers_give_none_not_errors() -> None:
    parsed = parse_file("34-missing-headers.eml")
    assert parsed.date is None and parsed.from_addr is None and parsed.to == []
    assert parsed.subject == "" and parsed.reply_to is None
    assert "MissingFrom" in parsed.defects
    odd = parse_message(b"Date: yesterday-ish\nFrom: nobody\n\nx", max_attachment_bytes=LIMIT)
    assert odd.date is None and "InvalidDate" in odd.defects
    assert odd.from_addr is None


def test_html_is_sanitised_and_text_comes_from_the_plain_part() -> None:
    parsed = parse_file("14-html-script-onerror.eml")
    html = parsed.html or ""
    for bad in ("<script", "onerror", "onclick", "javascript:", "<iframe", "style=", "evil"):
        assert bad not in html
    assert 'href="https://docs.example.com/faq"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert parsed.text == "Hello team, error code E42."


def test_html_only_mail_gets_readable_text_and_no_office_markup() -> None:
    parsed = parse_file("15-outlook-html-only.eml")
    assert parsed.html is not None
    assert "MsoNormal" not in parsed.html and "<o:p>" not in parsed.html
    assert "<style" not in parsed.html and "mso" not in parsed.text
    assert parsed.text.startswith("Poštovani,\n\nmolim vas")


def test_inline_image_is_an_inline_attachment_the_html_references() -> None:
    parsed = parse_file("16-inline-image.eml")
    (image,) = parsed.attachments
    assert image.inline and image.content_id == "shot1@example.rs"
    assert image.content_type == "image/png" and image.payload is not None
    assert image.payload.startswith(b"\x89PNG") and image.size == len(image.payload)
    assert f'src="cid:{image.content_id}"' in (parsed.html or "")


def test_attachment_bytes_survive_base64_exactly() -> None:
    parsed = parse_file("17-attachments-rfc2231.eml")
    pdf, xlsx, _ = parsed.attachments
    assert pdf.payload == b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert xlsx.payload == b"PK\x03\x04" + bytes(range(64))
    assert not pdf.inline and pdf.dropped_reason is None


def test_nested_multipart_keeps_plain_html_and_all_files() -> None:
    parsed = parse_file("35-nested-multiparts.eml")
    assert parsed.text == "Plain verzija: mreza pada svakih sat vremena."
    assert "<i>mreza</i>" in (parsed.html or "")
    graf, _pdf, log = parsed.attachments
    assert graf.inline and graf.content_id == "graf@nested"
    assert not log.inline and log.payload == b"ERROR link down"


def test_forwarded_message_is_kept_as_eml_that_parses_again() -> None:
    parsed = parse_file("30-forwarded-rfc822.eml")
    (eml,) = parsed.attachments
    assert eml.content_type == "message/rfc822" and eml.payload
    inner = parse_message(eml.payload, max_attachment_bytes=LIMIT)
    assert inner.subject == "Greška pri izvozu" and inner.message_id == "<inner-030@example.rs>"
    assert [a.filename for a in inner.attachments] == ["izvoz.csv"]
    assert inner.attachments[0].payload == b"a;b;c\n1;2;3"


def test_forwarded_text_can_be_left_out() -> None:
    parsed = parse_file("30-forwarded-rfc822.eml", include_forwarded_text=False)
    assert parsed.text == "Prosledjujem poruku kolege."
    assert len(parsed.attachments) == 1


def test_bounce_keeps_returned_message_and_status_as_files() -> None:
    parsed = parse_file("18-bounce-multipart-report.eml")
    status, returned = parsed.attachments
    assert b"Status: 5.1.1" in (status.payload or b"")
    assert b"Message-ID: <orig-77@helpdesk.example>" in (returned.payload or b"")
    assert parsed.ticket_tag is None  # the tag of the returned mail must not leak into this one


def test_calendar_invite_and_tnef_are_attachments_with_bytes() -> None:
    invite = parse_file("31-calendar-invite.eml").attachments[0]
    assert invite.content_type == "text/calendar"
    assert b"METHOD:REQUEST" in (invite.payload or b"")
    tnef = parse_file("32-tnef-winmail.eml").attachments[0]
    assert tnef.content_type == "application/ms-tnef" and tnef.payload[:4] == b"\x78\x9f\x3e\x22"


def test_broken_mime_is_reported_in_defects() -> None:
    assert "CloseBoundaryNotFoundDefect" in parse_file("26-broken-multipart.eml").defects
    bad = parse_file("27-bad-base64.eml")
    assert "InvalidBase64Body" in bad.defects
    assert bad.attachments[0].payload.startswith(b"%PDF-1.4")


def test_auto_submitted_no_is_a_human_mail() -> None:
    raw = b"From: a@example.com\nAuto-Submitted: no\nSubject: hi\n\nhello\n"
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert not parsed.is_auto and parsed.auto_reason is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (
            "Auto-Submitted: auto-generated; owner-email=x@example.com",
            "Auto-Submitted: auto-generated",
        ),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: list", "Precedence: list"),
        ("X-Autorespond: 8", "x-autorespond header"),
        ("Sender: Postmaster <POSTMASTER@example.com>", "sender postmaster"),
    ],
)
def test_auto_reply_rules(header: str, reason: str) -> None:
    raw = f"From: a@example.com\n{header}\nSubject: hi\n\nhello\n".encode()
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert parsed.is_auto and parsed.auto_reason == reason


def test_filenames_lose_paths_and_control_characters() -> None:
    names = ['"../../etc/passwd"', '"C:\\\\fakepath\\\\r.pdf"', '"a\x01b.pdf"', '"  . "']
    parts = "".join(
        f"--x\nContent-Type: application/pdf\n"
        f"Content-Disposition: attachment; filename={name}\n\nA\n"
        for name in names
    )
    raw = (
        "From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n"
        f"--x\nContent-Type: text/plain\n\nhi\n{parts}--x--\n"
    ).encode()
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert [a.filename for a in parsed.attachments] == [
        "passwd",
        "r.pdf",
        "ab.pdf",
        "attachment-1.pdf",
    ]


def test_nul_and_control_characters_are_removed_from_text_and_subject() -> None:
    raw = b"From: a@example.com\nSubject: bad\x00subject\x07\n\nline one\x00\nline two\x1b\n"
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert parsed.subject == "badsubject"
    assert parsed.text == "line one\nline two"


def test_raw_8bit_inside_an_encoded_word_does_not_break_the_subject() -> None:
    raw = "From: a@example.com\nSubject: Ugovor =?ut?Q?isti\u00f6E8e?= =?utf-8?B?w6Q=?=\n\nx\n"
    parsed = parse_message(raw.encode("cp1250", "replace"), max_attachment_bytes=LIMIT)
    assert parsed.subject.startswith("Ugovor ")
    assert parsed.subject.endswith("ä")
    assert not [d for d in parsed.defects if d.startswith("Unparseable")]


def test_deep_nesting_stops_without_raising() -> None:
    depth = 300
    head = "".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(depth)
    )
    tail = "".join(f"--b{i}--\n" for i in reversed(range(depth + 1)))
    raw = (
        "From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n"
        + head
        + f"--b{depth}\nContent-Type: text/plain\n\ndeep\n"
        + tail
    ).encode()
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert isinstance(parsed, ParsedMessage)
    assert "NestingTooDeep" in parsed.defects or "deep" in parsed.text


# -- the 20 MB attachment ---------------------------------------------------------------------

BIG_SIZE = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def big_raw() -> bytes:
    return big_attachment_message(BIG_SIZE)


def test_huge_attachment_over_the_limit_is_dropped_without_decoding(big_raw: bytes) -> None:
    tracemalloc.start()
    try:
        parsed = parse_message(big_raw, max_attachment_bytes=10 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (big,) = parsed.attachments
    assert big.filename == BIG_ATTACHMENT_NAME and big.payload is None
    assert big.size == BIG_SIZE
    assert big.dropped_reason == "larger than the 10485760 byte limit"
    assert parsed.text == "Šaljem arhivu baze, molim proverite."
    assert parsed.subject == "Velika arhiva – backup"
    assert peak < 2 * 1024 * 1024, f"dropping used {peak} bytes"


def test_huge_attachment_under_the_limit_is_decoded_once(big_raw: bytes) -> None:
    tracemalloc.start()
    try:
        parsed = parse_message(big_raw, max_attachment_bytes=32 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (big,) = parsed.attachments
    assert big.size == BIG_SIZE and big.dropped_reason is None
    assert big.payload == big_attachment_payload(BIG_SIZE)
    assert peak < 1.5 * BIG_SIZE, f"decoding used {peak} bytes for {BIG_SIZE}"


def test_huge_forwarded_message_is_dropped_as_a_whole(big_raw: bytes) -> None:
    outer = (
        b"From: boss@example.rs\r\nSubject: Fwd: arhiva\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n'
        b"\r\nvidi ispod\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n"
        + big_raw
        + b"\r\n--o--\r\n"
    )
    parsed = parse_message(outer, max_attachment_bytes=10 * 1024 * 1024)
    (eml,) = parsed.attachments
    assert eml.payload is None and eml.size > BIG_SIZE and eml.dropped_reason
    assert "Šaljem arhivu baze" in parsed.text


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_everyday_sized_attachment_set_aside_before_parsing_comes_back_exact(
    newline: bytes,
) -> None:
    """A 30 KB file (its base64 is set aside before the MIME parse, as for every mail over
    16 KB) comes back byte for byte, next to an 8-bit text that looks like base64 (a pasted
    key dump) and a base64 text part, both also set aside and read back from the mail."""
    rng = random.Random(30)
    data = rng.randbytes(30_000)
    key_dump = "\n".join(f"{rng.getrandbits(256):064x}" for _ in range(120))  # 7.8 KB
    note = ("Šaljem izvod i ključeve. " * 400).strip()
    note_b64 = base64.encodebytes(note.encode("utf-8")).decode("ascii")
    body = (
        "From: Ana <ana@firma.rs>\nSubject: Izvod\nMessage-ID: <mid-30k@firma.rs>\n"
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n"
        f"--b0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        f"Ključevi:\n{key_dump}\nKraj.\n"
        f"--b0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        f"{note_b64}"
        f"--b0\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{base64.encodebytes(data).decode('ascii')}"
        "--b0--\n"
    )
    raw = body.encode("utf-8").replace(b"\n", newline)
    assert 16 * 1024 < len(raw) < 1024 * 1024
    assert len(elide_large_runs(raw)[1]) == 3  # the key dump, the base64 text, the file
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    (pdf,) = parsed.attachments
    assert pdf.payload == data and pdf.size == len(data)
    assert f"Ključevi:\n{key_dump}\nKraj." in parsed.text
    assert note in parsed.text
    assert "helpdesk-elided" not in parsed.text and not parsed.defects


def test_bounce_returning_a_big_base64_text_still_names_our_mail() -> None:
    """A flat bounce that quotes the returned mail in a base64 text part of 12 KB: the
    returned Message-ID is read from the decoded text, not from what the parser saw."""
    quoted = (
        "This is the mail system at host mx.firma.rs.\n\nYour message could not be delivered."
        "\n\n--- returned message ---\nMessage-ID: <ticket-77.abc@helpdesk.example>\n"
        "Subject: [#77] Stampac\n\n" + "Poštovani, štampač ne radi.\n" * 400
    )
    encoded = base64.encodebytes(quoted.encode("utf-8")).decode("ascii")
    raw = (
        "From: MAILER-DAEMON@mx.firma.rs\nTo: support@helpdesk.example\n"
        "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <b-1@mx.firma.rs>\n"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: base64\n\n{encoded}"
    ).encode("ascii")
    assert len(raw) > 16 * 1024
    parsed = parse_message(raw, max_attachment_bytes=LIMIT)
    assert parsed.auto_kind == "bounce"
    assert parsed.bounce_of == ("<ticket-77.abc@helpdesk.example>",)
    assert "Poštovani, štampač ne radi." in parsed.text


def test_attachment_just_over_the_limit_is_dropped_and_at_the_limit_kept() -> None:
    raw = big_attachment_message(1000)
    kept = parse_message(raw, max_attachment_bytes=1000).attachments[0]
    dropped = parse_message(raw, max_attachment_bytes=999).attachments[0]
    assert kept.payload is not None and kept.size == 1000
    assert dropped.payload is None and dropped.size == 1000


# -- charset guessing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Поштовани, рачунар у магацину не ради већ два дана. Љубазно молимо помоћ.", "cp1251"),
        ("Здравствуйте, принтер не печатает уже второй день. Спасибо за помощь.", "koi8_r"),
        ("Poštovani, štampač u računovodstvu ne radi. Žurimo, Đorđe.", "cp1250"),
        ("Poštovani, štampač u računovodstvu ne radi. Žurimo, Đorđe.", "iso8859_2"),
        ("Merhaba, yazıcı çalışmıyor. Değişiklik şöyle oldu, ışık yanmıyor.", "cp1254"),
    ],
)
def test_undeclared_charset_is_guessed_from_the_text(text: str, encoding: str) -> None:
    defects: list[str] = []
    assert decode_text(text.encode(encoding), None, defects) == text
    assert defects and encoding in defects[0]


def test_valid_utf8_wins_over_a_single_byte_label() -> None:
    defects: list[str] = []
    assert decode_text("Čačak".encode(), "windows-1250", defects) == "Čačak"
    assert defects and "CharsetMismatch" in defects[0]


def test_ascii_is_never_reported_as_a_charset_problem() -> None:
    defects: list[str] = []
    assert decode_text(b"plain", "x-nonsense", defects) == "plain"
    assert defects == []


# -- never raise --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_message(raw, max_attachment_bytes=1000)
    assert parsed.message_id.startswith("<")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(EXPECTED)),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=30),
)
def test_mangled_corpus_messages_never_raise(name: str, seed: int, edits: int) -> None:
    data = bytearray((CORPUS / name).read_bytes())
    rng = random.Random(seed)
    for _ in range(edits):
        position = rng.randrange(len(data)) if data else 0
        action = rng.randrange(4)
        if action == 0 and data:
            data[position] = rng.randrange(256)
        elif action == 1:
            data[position:position] = rng.choice([b"\n--", b"=?utf-8?B?", b"\r\n\r\n", b"\x00"])
        elif action == 2:
            del data[position : position + rng.randrange(1, 50)]
        else:
            data = data[:position]
    parsed = parse_message(bytes(data), max_attachment_bytes=1000)
    assert isinstance(parsed, ParsedMessage)
    assert all(a.payload is None or len(a.payload) <= 1000 for a in parsed.attachments)


# -- sanitize.py ----------------------------------------------------------------------------------


def test_sanitize_html_keeps_formatting_and_strips_active_content() -> None:
    dirty = (
        '<p style="color:red" onmouseover="x()">Hi <b>bold</b> <i>it</i></p>'
        "<style>p{}</style><script>alert(1)</script>"
        '<a href="javascript:alert(1)">js</a><a href="https://ok.example/x">ok</a>'
        '<a href="data:text/html,<script>alert(1)</script>">data</a>'
        '<img src="cid:logo@x"><img src="https://img.example/a.png">'
        '<img src="http://img.example/b.png"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<img src="data:text/html;base64,PHNjcmlwdD4=">'
        "<table><tr><td colspan=2>cell</td></tr></table><form><input value=x></form>"
    )
    clean = sanitize_html(dirty)
    for bad in ("style", "onmouseover", "<script", "alert(1)", "javascript:", "http://img",
                "data:text", "<input", "<form"):  # fmt: skip
        assert bad not in clean, bad
    for good in ("<b>bold</b>", "<i>it</i>", 'src="cid:logo@x"', 'src="https://img.example/a.png"',
                 'src="data:image/png;base64,iVBORw0KGgo="', 'href="https://ok.example/x"',
                 '<td colspan="2">cell</td>'):  # fmt: skip
        assert good in clean, good
    assert clean.count('rel="noopener noreferrer nofollow"') == 3
    assert sanitize_html("") == ""


def test_html_to_text_reads_like_a_mail() -> None:
    html = (
        "<html><head><title>t</title><style>p {x:y}</style></head><body>"
        "<p>Dear&nbsp;customer,</p><p>line one<br>line two</p>"
        "<ul><li>first</li><li>second<ol start=3><li>three</li><li>four</li></ol></li></ul>"
        '<p>See <a href="https://example.com/kb/1">the article</a> or '
        '<a href="mailto:help@example.com">help@example.com</a>.</p>'
        "<blockquote><p>quoted</p><p>more</p></blockquote>"
        "<pre>  indented\n    code</pre><script>var x = 1;</script>"
        "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>"
        "<p>&lt;tag&gt; &amp; &#269;</p></body></html>"
    )
    assert html_to_text(html) == (
        "Dear customer,\n\n"
        "line one\nline two\n\n"
        "- first\n- second\n  3. three\n  4. four\n\n"
        "See the article (https://example.com/kb/1) or help@example.com.\n\n"
        "> quoted\n>\n> more\n\n"
        "  indented\n    code\n\n"
        "A\tB\n1\t2\n\n"
        "<tag> & č"
    )


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<p>open <b>bold <i>both</p> tail") == "open bold both\n\ntail"
    assert html_to_text("") == ""
    assert html_to_text("<<<>>>&&&") == "<<<>>>&&&"


_HTML_BITS = ["<p>", "</p>", "<br>", "<ul>", "<li>", "</ol>", "<a href='https://x'>", "</a>",
              "<blockquote>", "<pre>", "<script>", "</style>", "<!--", "<!", "<![CDATA[", "&#x",
              "&", "<", ">", "<td>", "<table>", "<img alt='a' onerror='x'>", "<svg>", "text", "č"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_HTML_BITS), st.text(max_size=5)), max_size=40))
def test_html_helpers_never_raise_and_never_leak_script(bits: list[str]) -> None:
    html = "".join(bits)
    assert isinstance(html_to_text(html), str)
    cleaned = sanitize_html(html)
    assert "<script" not in cleaned
    assert not re.search(r"<[^>]*\son\w+\s*=", cleaned)
