"""Automatic mail recognised: what kind of machine sent it, so it is never acknowledged.

Kinds, checked in this order (the first that fits wins):

* ``bounce``: RFC 3464 delivery status notifications in any form (``multipart/report`` with
  or without ``report-type``, a nested ``message/delivery-status``), ``X-Failed-Recipients``,
  a non-empty ``Return-Path: <MAILER-DAEMON@…>``, daemon-like senders (``mailer-daemon``,
  ``postmaster``/``post_master``, ``ndr``…) and bounce subjects in English, Serbian and Turkish;
* ``feedback``: RFC 5965 abuse/complaint reports (``report-type=feedback-report``);
* ``vacation``: out-of-office replies (RFC 3834 ``Auto-Submitted: auto-replied``, vendor
  headers such as ``X-Autoreply``, ``X-Autorespond``, ``X-Apple-Action: VACATION``,
  ``X-MS-Exchange-Generated-Message-Source``, and subject patterns in the three languages);
* ``bulk``: ``Precedence: bulk/junk/list``, ``List-Id``/``List-Unsubscribe``;
* ``auto``: anything else machine-sent (``Auto-Submitted: auto-generated``, ``no-reply``
  senders, notification services).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

from mail_ingest.attachments import Walk, decoded_payload
from mail_ingest.headers import unfold

BOUNCE = "bounce"
FEEDBACK = "feedback"
VACATION = "vacation"
BULK = "bulk"
AUTO = "auto"
KINDS = (BOUNCE, FEEDBACK, VACATION, BULK, AUTO)

#: Local parts of senders that only machines use; the value is the kind they send.
_DAEMON_SENDERS: dict[str, str] = {
    "mailer-daemon": BOUNCE,
    "mailerdaemon": BOUNCE,
    "mail-daemon": BOUNCE,
    "postmaster": BOUNCE,
    "post_master": BOUNCE,
    "post-master": BOUNCE,
    "ndr": BOUNCE,
    "bounce": BOUNCE,
    "bounces": BOUNCE,
    "imss": AUTO,
    "antivirus": AUTO,
    "anti-virus": AUTO,
    "virusalert": AUTO,
    "quarantine": AUTO,
    "no-reply": AUTO,
    "noreply": AUTO,
    "no_reply": AUTO,
    "do-not-reply": AUTO,
    "donotreply": AUTO,
    "do_not_reply": AUTO,
    "notifications": AUTO,
    "notification": AUTO,
}
_DAEMON_PREFIX = re.compile(r"^(?:bounces?|mailer-daemon|no-?reply|do-?not-?reply)[+.\-_]")

#: Headers whose mere presence marks an auto-responder (vacation) reply.
_VACATION_HEADERS = (
    "x-autoreply",
    "x-autorespond",
    "x-autoreply-from",
    "x-mail-autoreply",
    "x-ms-exchange-generated-message-source",
    "x-ms-exchange-inbox-rules-loop",
)
_VACATION_VALUES = {"x-apple-action": "vacation", "x-auto-response-suppress": None}

_BOUNCE_SUBJECT = re.compile(
    r"(?i)^\s*(?:"
    r"undeliver(?:ed|able)|delivery (?:status notification|failure|has failed|report)|"
    r"returned mail|mail delivery (?:failed|failure|system)|failure notice|"
    r"non[- ]?delivery|delivery notification|message not delivered|"
    r"nedostavljen[ao]?|neisporučen[ao]?|isporuka (?:nije uspela|neuspešna)|vraćena pošta"
    r")|"
    r"(?:poruka|pošta) nije (?:isporučena|dostavljena)|"
    r"teslim edilemedi|iletilemedi|ulaştırılamadı|teslim hatası|iletim (?:hatası|başarısız)"
)
_VACATION_SUBJECT = re.compile(
    r"(?i)^\s*(?:"
    r"(?:automatic|auto)[- ]?(?:reply|response|answer)|autoreply|out of (?:the )?office\b|"
    r"on vacation|away from (?:the )?office|i am (?:out|away)|"
    r"automatski odgovor|odsutan|odsutna|van kancelarije|na godišnjem odmoru|"
    r"otomatik (?:yanıt|cevap)|ofis dışında|izindeyim|tatildeyim"
    r")"
)


@dataclass(frozen=True)
class AutoMail:
    """Why a mail is automatic: its kind and a short human-readable reason."""

    kind: str
    reason: str


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return unfold(str(value)).strip() if value is not None else ""


def _report_kind(msg: Message) -> AutoMail | None:
    """A delivery or feedback report anywhere in the MIME tree (also nested or mislabelled)."""
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "multipart/report":
            report = str(part.get_param("report-type") or "").strip().lower()
            if report == "feedback-report":
                return AutoMail(FEEDBACK, "report: feedback-report")
            if report == "disposition-notification":
                return AutoMail(AUTO, "report: disposition-notification")
            if report == "delivery-status":
                return AutoMail(BOUNCE, "report: delivery-status")
        elif content_type in ("message/delivery-status", "message/global-delivery-status"):
            return AutoMail(BOUNCE, f"part {content_type}")
        elif content_type == "message/feedback-report":
            return AutoMail(FEEDBACK, "part message/feedback-report")
    if msg.get_content_type() == "multipart/report":
        return AutoMail(BOUNCE, "report without a report-type")
    return None


def _senders(msg: Message, from_addr: str | None) -> list[str]:
    """From, Sender and a non-empty Return-Path (``<MAILER-DAEMON@…>`` marks a bounce)."""
    found = [from_addr or ""]
    for name in ("sender", "return-path"):
        value = _header(msg, name)
        if value:
            found.extend(addr for _, addr in getaddresses([value]))
    return [addr.lower() for addr in found if addr]


def classify(msg: Message, from_addr: str | None, subject: str) -> AutoMail | None:
    """What kind of automatic mail this is, or None for mail a person wrote."""
    report = _report_kind(msg)
    checks: tuple[Callable[[], AutoMail | None], ...] = (
        lambda: _auto_submitted(msg, subject),
        lambda: _precedence(msg),
        lambda: _vendor_vacation(msg),
        lambda: _list_headers(msg),
        lambda: _failure_headers(msg),
        lambda: report,
        lambda: _daemon_sender(msg, from_addr),
        lambda: _by_subject(subject),
    )
    for check in checks:
        found = check()
        if found is not None:
            if report is not None and found.kind != report.kind:  # a report says what it is
                return AutoMail(report.kind, found.reason)
            return found
    return None


def _failure_headers(msg: Message) -> AutoMail | None:
    if msg.get("x-failed-recipients") is not None:
        return AutoMail(BOUNCE, "X-Failed-Recipients header")
    if msg.get("return-path") is not None:
        local = _header(msg, "return-path").strip(" <>").partition("@")[0].lower()
        if local == "":
            return AutoMail(AUTO, "empty Return-Path")
    return None


def _auto_submitted(msg: Message, subject: str) -> AutoMail | None:
    value = _header(msg, "auto-submitted").split(";", 1)[0].strip().lower()
    if not value or value == "no":
        return None
    if value == "auto-replied":
        kind = BOUNCE if _BOUNCE_SUBJECT.search(subject) else VACATION
        return AutoMail(kind, f"Auto-Submitted: {value}")
    return AutoMail(AUTO, f"Auto-Submitted: {value}")


def _vendor_vacation(msg: Message) -> AutoMail | None:
    for name in _VACATION_HEADERS:
        if msg.get(name) is not None:
            return AutoMail(VACATION, f"{name} header")
    action = _header(msg, "x-apple-action").lower()
    if action == "vacation":
        return AutoMail(VACATION, "X-Apple-Action: VACATION")
    if _header(msg, "x-autogenerated").lower() in ("reply", "forward", "group", "mirror"):
        return AutoMail(VACATION, "X-Autogenerated header")
    return None


def _precedence(msg: Message) -> AutoMail | None:
    precedence = _header(msg, "precedence").lower()
    if precedence in ("bulk", "junk", "list"):
        return AutoMail(BULK, f"Precedence: {precedence}")
    if precedence == "auto_reply":
        return AutoMail(VACATION, "Precedence: auto_reply")
    return None


def _list_headers(msg: Message) -> AutoMail | None:
    for name in ("list-id", "list-unsubscribe"):
        if msg.get(name) is not None:
            return AutoMail(BULK, f"{name.title()} header")
    return None


def _daemon_sender(msg: Message, from_addr: str | None) -> AutoMail | None:
    for address in _senders(msg, from_addr):
        local = address.partition("@")[0]
        kind = _DAEMON_SENDERS.get(local)
        if kind is None and _DAEMON_PREFIX.match(local):
            kind = BOUNCE if local.startswith(("bounce", "mailer")) else AUTO
        if kind is not None:
            return AutoMail(kind, f"sender {local}")
    return None


def _by_subject(subject: str) -> AutoMail | None:
    if _BOUNCE_SUBJECT.search(subject):
        return AutoMail(BOUNCE, "bounce subject")
    if _VACATION_SUBJECT.search(subject):
        return AutoMail(VACATION, "out-of-office subject")
    return None


_MSGID_LINE = re.compile(r"(?im)^message-id:[ \t]*(<[^<>\s]+>)")
_DSN_FIELD = re.compile(r"(?im)^(diagnostic-code|status|action|final-recipient):[ \t]*(.+)$")


@dataclass(frozen=True)
class Bounce:
    """What a delivery report says about the mail it returns."""

    message_ids: tuple[str, ...]
    reason: str


def bounce_details(msg: Message, walk: Walk) -> Bounce:
    """The Message-IDs of the returned mail (its headers are in the report) and the reason.

    ``walk``: the parse's state, so parts whose base64 was set aside before parsing are read
    from the original bytes (mail_ingest.attachments.elide_large_runs)."""
    ids: list[str] = []
    fields: dict[str, str] = {}
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            value = inner.get("message-id") if isinstance(inner, Message) else None
            if value:
                ids.extend(_MSGID_LINE.findall(f"Message-ID: {unfold(str(value))}"))
        elif content_type in ("text/rfc822-headers", "message/rfc822-headers"):
            ids.extend(_MSGID_LINE.findall(_text(part, walk)))
        elif content_type in ("message/delivery-status", "message/global-delivery-status"):
            for name, value in _DSN_FIELD.findall(_text(part, walk)):
                fields.setdefault(name.lower(), value.strip())
    if not ids:  # a flat bounce quotes the returned headers in its text
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                ids.extend(_MSGID_LINE.findall(_text(part, walk)))
    reason = fields.get("diagnostic-code") or fields.get("status") or ""
    if not reason:
        failed = _header(msg, "x-failed-recipients")
        reason = f"failed recipients: {failed}" if failed else "delivery failed"
    if fields.get("final-recipient") and fields.get("diagnostic-code"):
        reason = f"{fields['final-recipient']}: {reason}"
    return Bounce(tuple(dict.fromkeys(ids)), reason[:500])


def _text(part: Message, walk: Walk) -> str:
    payload = None if part.is_multipart() else decoded_payload(part, walk)
    if payload is None:
        sub = part.get_payload()
        if isinstance(sub, list):  # message/delivery-status: parsed into header blocks
            return "\n".join(str(block) for block in sub if isinstance(block, Message))
        return str(sub or "")
    return payload.decode("utf-8", "replace")
