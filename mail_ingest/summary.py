"""What an ingest pass did (for the CLI, the scheduler's job log and the benchmark), and how
it fails."""

from __future__ import annotations

from dataclasses import dataclass, field


class IngestError(RuntimeError):
    """At least one mailbox could not be read; ``summary`` holds what the pass did anyway."""

    def __init__(self, summary: Summary) -> None:
        super().__init__("; ".join(summary.errors) + f" ({summary})")
        self.summary = summary


_COUNTS = (
    "fetched",
    "new_tickets",
    "replies",
    "unverified",
    "automatic",
    "bounces",
    "duplicates",
    "reused_ids",
    "acknowledgements",
    "failed",
)


@dataclass
class Summary:
    """What a pass did, for the CLI, the scheduler's job log and the benchmark."""

    fetched: int = 0
    new_tickets: int = 0
    replies: int = 0
    #: Replies from senders not entitled to the ticket they name: held for an agent.
    unverified: int = 0
    #: Automatic mail (bounces, out-of-office, reports, lists) that opened no ticket.
    automatic: int = 0
    #: Bounces of our own mail, marked on the reply they return.
    bounces: int = 0
    #: True copies of stored mail (recorded with their UID, see the failed-mail page).
    duplicates: int = 0
    #: Other mail reusing a stored Message-ID, stored as its own article.
    reused_ids: int = 0
    acknowledgements: int = 0
    failed: int = 0
    #: Acknowledgements still waiting to be mailed after the pass (an SMTP outage).
    ack_backlog: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: Summary) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ack_backlog = other.ack_backlog
        self.errors.extend(other.errors)

    @property
    def did_something(self) -> bool:
        return bool(self.fetched or self.acknowledgements or self.errors)

    def __str__(self) -> str:
        text = (
            f"fetched {self.fetched}, new tickets {self.new_tickets}, "
            f"threaded replies {self.replies}, acknowledgements sent {self.acknowledgements}, "
            f"failed {self.failed}"
        )
        for name, label in (
            ("unverified", "unverified replies"),
            ("automatic", "automatic mail"),
            ("bounces", "bounces of our mail"),
            ("duplicates", "already stored"),
            ("reused_ids", "reused Message-IDs"),
            ("ack_backlog", "acknowledgements queued"),
        ):
            if getattr(self, name):
                text += f", {label} {getattr(self, name)}"
        if self.errors:
            text += f", mailbox errors {len(self.errors)}"
        return text


class BatchAborted(Exception):
    """The batch could not be stored for reasons outside the mail; retry on the next pass."""
