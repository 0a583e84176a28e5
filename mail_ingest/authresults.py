"""What the receiving server found out about the sender: ``Authentication-Results`` (RFC 8601).

Anyone can write an ``Authentication-Results`` header into a mail, so only the ones our own
receiving server added count: those whose authserv-id is ``INGEST_AUTHSERV_ID``. Without that
setting nothing is believed and every verdict is "none" (not checked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from mail_ingest.headers import unfold

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"(?i)\b(spf|dkim|dmarc|arc)\s*=\s*([a-z]+)")
_HEADER_FROM = re.compile(r"(?i)\bheader\.from\s*=\s*([^\s;]+)")


@dataclass(frozen=True)
class SenderAuth:
    """The verdicts of our receiving server for one mail ("none" when not checked)."""

    dmarc: str = "none"
    spf: str = "none"
    dkim: str = "none"
    #: The From domain DMARC was evaluated for.
    header_from: str | None = None

    @property
    def dmarc_failed(self) -> bool:
        return self.dmarc == "fail"

    def summary(self) -> str:
        return f"dmarc={self.dmarc} spf={self.spf} dkim={self.dkim}"


def sender_auth(msg: Message, from_addr: str | None, authserv_id: str | None) -> SenderAuth:
    """The verdicts in the topmost Authentication-Results header of ``authserv_id``."""
    if not authserv_id:
        return SenderAuth()
    wanted = authserv_id.strip().lower()
    for value in msg.get_all("authentication-results") or []:
        text = _COMMENT.sub(" ", unfold(str(value)))
        authserv, _, results = text.partition(";")
        first = authserv.split()
        if not first or first[0].lower() != wanted:  # another server's (or a forged) header
            continue
        verdicts: dict[str, str] = {}
        for method, result in _RESULT.findall(results):
            verdicts.setdefault(method.lower(), result.lower())  # the first result per method
        header_from = _HEADER_FROM.search(results)
        domain = header_from.group(1).lower() if header_from else None
        if domain is None and from_addr:
            domain = from_addr.rpartition("@")[2].lower()
        return SenderAuth(
            dmarc=verdicts.get("dmarc", "none"),
            spf=verdicts.get("spf", "none"),
            dkim=verdicts.get("dkim", "none"),
            header_from=domain,
        )
    return SenderAuth()
