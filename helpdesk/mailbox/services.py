"""What agents and admins do with what mail intake kept aside: accept an unverified message,
read automatic mail, see duplicate deliveries and the acknowledgement backlog."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from ..audit_log.record import record
from ..extensions import db
from ..models import Article, Direction, SendStatus, User
from .models import AutomaticMail, MailDuplicate


class NotUnverified(ValueError):
    """The message is not waiting for acceptance."""


def accept_article(article: Article, *, user: User) -> Article:
    """An agent vouches for an unverified message: it becomes a normal message of the ticket
    (shown in the portal from now on). Nothing else changes: the ticket keeps its status."""
    if not article.unverified:
        raise NotUnverified("this message is not waiting to be accepted")
    article.unverified = False
    db.session.flush()
    record(
        article, "accept", user=user, after={"unverified": False, "ticket_id": article.ticket_id}
    )
    return article


def automatic_mail(kind: str | None = None, *, limit: int = 200) -> list[AutomaticMail]:
    """The newest automatic mail, of one kind or all."""
    stmt = select(AutomaticMail)
    if kind:
        stmt = stmt.where(AutomaticMail.kind == kind)
    return list(
        db.session.scalars(
            stmt.order_by(AutomaticMail.created_at.desc(), AutomaticMail.id.desc()).limit(limit)
        )
    )


def acknowledgement_backlog() -> int:
    """Acknowledgements waiting to be mailed (an SMTP outage shows here)."""
    return int(
        db.session.scalar(
            select(func.count(Article.id)).where(
                Article.direction == Direction.OUT,
                Article.is_auto.is_(True),
                Article.send_status == SendStatus.QUEUED,
            )
        )
        or 0
    )


@dataclass(frozen=True)
class IntakeOverview:
    duplicates: list[MailDuplicate]
    ack_backlog: int


def intake_overview(limit: int = 200) -> IntakeOverview:
    """For the admin's failed-mail page: duplicate deliveries and the acknowledgement backlog."""
    duplicates = db.session.scalars(
        select(MailDuplicate)
        .order_by(MailDuplicate.created_at.desc(), MailDuplicate.id.desc())
        .limit(limit)
    ).all()
    return IntakeOverview(list(duplicates), acknowledgement_backlog())
