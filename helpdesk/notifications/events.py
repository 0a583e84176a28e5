"""Events → who wants them: each call records one bell/mail item per interested person.

The ticket services call these (a ticket was created, a client wrote, an agent was assigned, an
internal note mentions someone, a reply could not be sent); the SLA sweep calls ``sla_event``.
Every item has an ``event_key`` (unique), so an event reported twice still lands once. Only flushes.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..i18n import N_
from ..models import STAFF_ROLES, Article, Ticket, User
from .models import NotificationSetting, QueueWatch, StaffNotification

NEW_TICKET = "new_ticket"
CLIENT_REPLY = "client_reply"
ASSIGNED = "assigned"
MENTION = "mention"
SLA = "sla"
SEND_FAILED = "send_failed"

#: Every kind with its label for the preferences page (translated where shown).
KINDS = {
    NEW_TICKET: N_("New ticket in a queue I watch"),
    CLIENT_REPLY: N_("Client reply on a ticket assigned to me (or unassigned in my queue)"),
    ASSIGNED: N_("A ticket was assigned to me"),
    MENTION: N_("I was @mentioned in an internal note"),
    SLA: N_("SLA warning or breach on my ticket"),
    SEND_FAILED: N_("A reply of mine could not be sent"),
}

_MENTION_RE = re.compile(r"(?<![\w.@])@([\w.\-]+(?:@[\w.\-]+)?)", re.UNICODE)


def wants(user: User, kind: str) -> tuple[bool, bool]:
    """(mail, bell) for this person and kind; both on unless they switched it off."""
    setting = db.session.scalar(
        select(NotificationSetting).where(
            NotificationSetting.user_id == user.id, NotificationSetting.kind == kind
        )
    )
    return (True, True) if setting is None else (setting.email, setting.bell)


def _staff(user: User | None) -> bool:
    return user is not None and user.active and user.role in STAFF_ROLES


def notify(
    user: User | None,
    kind: str,
    ticket: Ticket | None,
    *,
    event: str,
    article: Article | None = None,
    params: dict | None = None,
    actor: User | None = None,
) -> StaffNotification | None:
    """One item for ``user`` unless it is the actor, off in both channels, or already there."""
    if not _staff(user) or (actor is not None and actor.id == user.id):
        return None
    mail_on, bell_on = wants(user, kind)
    if not (mail_on or bell_on):
        return None
    key = f"{kind}:{event}:{user.id}"[:200]
    if db.session.scalar(select(StaffNotification.id).where(StaffNotification.event_key == key)):
        return None
    item = StaffNotification(
        event_key=key, user_id=user.id, kind=kind,
        ticket_id=ticket.id if ticket else None,
        article_id=article.id if article else None,
        params={k: v for k, v in (params or {}).items() if v not in (None, "")},
        mail_wanted=mail_on, bell_wanted=bell_on,
    )
    try:
        with db.session.begin_nested():
            db.session.add(item)
            db.session.flush()
    except IntegrityError:  # a concurrent report of the same event won
        return None
    return item


def queue_watchers(queue: str) -> list[User]:
    return list(db.session.scalars(
        select(User).join(QueueWatch, QueueWatch.user_id == User.id)
        .where(QueueWatch.queue == queue, User.active.is_(True)).order_by(User.id)
    ))


def ticket_created(ticket: Ticket, actor: User | None = None) -> None:
    for user in queue_watchers(ticket.queue):
        notify(user, NEW_TICKET, ticket, event=f"t{ticket.id}", actor=actor,
               params={"queue": ticket.queue, "from": ticket.requester_email})


def client_replied(ticket: Ticket, article: Article) -> None:
    """The assignee hears; an unassigned ticket tells the people watching its queue.

    The message that opened the ticket is not a reply (that is the "new ticket" event)."""
    earlier = db.session.scalar(
        select(Article.id).where(Article.ticket_id == ticket.id, Article.id < article.id).limit(1)
    )
    if earlier is None:
        return
    people = [ticket.assignee] if ticket.assignee_id else queue_watchers(ticket.queue)
    for user in people:
        notify(user, CLIENT_REPLY, ticket, event=f"a{article.id}", article=article,
               params={"from": article.from_addr})


def assigned(ticket: Ticket, assignee_id: int | None, actor: User | None = None,
             *, stamp: str = "") -> None:
    if assignee_id is None:
        return
    user = db.session.get(User, assignee_id)
    notify(user, ASSIGNED, ticket, event=f"t{ticket.id}:{stamp}", actor=actor,
           params={"by": actor.name if actor else None})


def mentioned_users(text: str) -> list[User]:
    """Staff named in ``text`` as @email, @local-part or @first-name (each once)."""
    tokens = {m.group(1).rstrip(".").lower() for m in _MENTION_RE.finditer(text or "")}
    if not tokens:
        return []
    staff = db.session.scalars(
        select(User).where(User.role.in_([r.value for r in STAFF_ROLES]),
                           User.active.is_(True)).order_by(User.id)
    ).all()
    found = []
    for user in staff:
        names = {user.email.lower(), user.email.partition("@")[0].lower(),
                 (user.name or "").split(" ")[0].lower(),
                 (user.name or "").replace(" ", ".").lower()}
        if tokens & names:
            found.append(user)
    return found


def note_added(ticket: Ticket, article: Article, author: User | None) -> None:
    for user in mentioned_users(article.body_text):
        notify(user, MENTION, ticket, event=f"a{article.id}", article=article, actor=author,
               params={"by": author.name if author else None})


def sla_event(ticket: Ticket, user: User, event_key: str, *, target: str, event: str,
              fraction: float | None = None) -> None:
    """A bell item for an SLA warning/breach of ``target`` (the sweep mails it itself)."""
    item = notify(user, SLA, ticket, event=event_key,
                  params={"target": target, "event": event, "fraction": fraction})
    if item is not None:
        item.mail_wanted = False  # the sweep has mailed it, in the same savepoint


def send_failed(article: Article) -> None:
    """The author of a reply that could not be sent (else the assignee) hears about it."""
    ticket = article.ticket
    user = article.author or ticket.assignee
    notify(user, SEND_FAILED, ticket, event=f"a{article.id}:{article.send_error or ''}"[:120],
           article=article, params={"error": (article.send_error or "")[:500]})


def unread_count(user: User) -> int:
    return db.session.scalar(
        select(func.count(StaffNotification.id)).where(
            StaffNotification.user_id == user.id, StaffNotification.read_at.is_(None),
            StaffNotification.bell_wanted.is_(True))
    ) or 0
