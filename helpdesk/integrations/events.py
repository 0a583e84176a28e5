"""Domain events for webhooks: ``emit(event, obj)`` queues a delivery per subscriber.

The deliveries are rows written in the caller's transaction (an outbox): an event of work that
is rolled back is never sent, and a committed one is sent by the ``webhooks`` job even if the
process dies right after the commit. Domain functions call it with one line.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import utcnow

_CACHE = "webhook_subscriptions"


def forget_subscriptions(session: Session, transaction: Any = None) -> None:
    """Subscriptions are looked up again after a transaction or a change of them."""
    session.info.pop(_CACHE, None)


event.listen(Session, "after_commit", forget_subscriptions)
event.listen(Session, "after_rollback", forget_subscriptions)

EVENTS = (
    "ticket.created",
    "ticket.updated",
    "ticket.replied",
    "time.logged",
    "month.closed",
    "contract.changed",
)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def payload(event: str, obj: Any) -> dict[str, Any]:
    """The ``data`` of an event: the object's fields integrators need."""
    table = getattr(obj, "__tablename__", "")
    if table == "tickets":
        return {"number": obj.number, "subject": obj.subject, "status": obj.status,
                "priority": obj.priority, "client_id": obj.client_id,
                "assignee_id": obj.assignee_id, "created_at": _iso(obj.created_at)}
    if table == "articles":
        ticket = obj.ticket
        return {"ticket_number": ticket.number if ticket else None, "article_id": obj.id,
                "direction": obj.direction, "channel": obj.channel,
                "created_at": _iso(obj.created_at)}
    if table == "time_entries":
        return {"id": obj.id, "client_id": obj.client_id, "ticket_id": obj.ticket_id,
                "agent_id": obj.agent_id, "kind": obj.kind, "source": obj.source,
                "started_at": _iso(obj.started_at), "minutes": obj.minutes,
                "billable_minutes": obj.billable_minutes, "out_of_hours": obj.out_of_hours,
                "period": obj.period}
    if table == "closed_months":
        return {"period": obj.period, "closed_at": _iso(obj.closed_at)}
    if table == "contracts":
        return {"id": obj.id, "client_id": obj.client_id, "package_id": obj.package_id,
                "status": obj.status}
    if table == "contract_changes":
        return {"id": obj.id, "contract_id": obj.contract_id, "package_id": obj.package_id,
                "kind": obj.kind, "from_package_id": obj.from_package_id,
                "effective_date": _iso(obj.effective_date)}
    return {"id": getattr(obj, "id", None)}


def emit(event: str, obj: Any) -> int:
    """Queue ``event`` about ``obj`` for every active subscription to it; how many."""
    from .models import WebhookDelivery, WebhookSubscription

    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    info = db.session.info
    if _CACHE not in info:  # one look-up per transaction (an import logs thousands of entries)
        info[_CACHE] = [(s.id, tuple(s.events or ())) for s in db.session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))]
    subscriptions = [sub_id for sub_id, events in info[_CACHE] if event in events]
    if not subscriptions:
        return 0
    if getattr(obj, "id", 1) is None:
        db.session.flush()
    now = utcnow()
    data = payload(event, obj)
    for sub_id in subscriptions:
        body = json.dumps({"id": str(uuid.uuid4()), "event": event, "created_at": now.isoformat(),
                           "data": data}, separators=(",", ":"), sort_keys=True)
        db.session.add(WebhookDelivery(subscription_id=sub_id, event=event, body=body,
                                       next_attempt_at=now, created_at=now))
    return len(subscriptions)  # flushed with the caller's next query or commit
