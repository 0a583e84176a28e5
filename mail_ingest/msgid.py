"""Our Message-IDs: they name the ticket, and carry an HMAC of its number so they cannot be made up.

Form: ``<ticket-1234-<mac>.<part>.<random>@our-domain>``, where ``mac`` is the first 16 hex
digits of HMAC-SHA256(SECRET_KEY, "ticket-1234"). Ticket numbers are public (they are in every
subject), so an id without a valid mac, like the older ``<ticket-1234.<part>.<random>@domain>``,
proves nothing: it is honoured only for a sender entitled to the ticket anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_MAC_HEX = 16
_OURS = re.compile(r"<ticket-(\d{1,18})(?:-([0-9a-f]{16}))?\.[^@<>\s]+@([^<>\s]+)>")


def _secret(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def ticket_mac(number: int, secret: str | bytes) -> str:
    """The HMAC part of our Message-IDs for ticket ``number``."""
    digest = hmac.new(_secret(secret), f"ticket-{number}".encode("ascii"), hashlib.sha256)
    return digest.hexdigest()[:_MAC_HEX]


def make_message_id(number: int, part: str, domain: str, secret: str | bytes) -> str:
    """A fresh Message-ID of ours for a mail about ticket ``number`` (``part``: ack, article-7)."""
    return (
        f"<ticket-{number}-{ticket_mac(number, secret)}.{part}.{secrets.token_hex(8)}@{domain}>"
    )


@dataclass(frozen=True)
class OurId:
    """A Message-ID in our form: the ticket number it names and whether its HMAC is valid."""

    number: int
    verified: bool


def read_message_id(message_id: str, domain: str | None, secret: str | bytes) -> OurId | None:
    """The ticket a Message-ID of ours names (verified or not), or None if it is not ours."""
    if not domain:
        return None
    match = _OURS.fullmatch(message_id)
    if match is None or match.group(3).lower() != domain.lower():
        return None
    number = int(match.group(1))
    mac = match.group(2)
    verified = mac is not None and hmac.compare_digest(mac, ticket_mac(number, secret))
    return OurId(number, verified)
