"""Webhook subscriptions and their delivery: signed JSON POSTs, retries with back-off, a log.

Each body is signed with the subscription's secret: the header ``X-Helpdesk-Signature`` is
``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``; receivers recompute it (see
:func:`verify`) and refuse old timestamps. A failed try (no 2xx, or no answer within
``WEBHOOK_TIMEOUT_SECONDS``) is retried after ``WEBHOOK_RETRY_BASE_SECONDS`` x 2^(tries-1) until
``WEBHOOK_MAX_ATTEMPTS``; a subscription whose deliveries are given up on
``WEBHOOK_DISABLE_AFTER`` times in a row is disabled and its owner told by mail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..audit_log.record import record
from ..extensions import db
from ..models import User, utcnow
from ..notifications.once import send_once
from .events import EVENTS, forget_subscriptions
from .models import WebhookAttempt, WebhookDelivery, WebhookSubscription

SIGNATURE_HEADER = "X-Helpdesk-Signature"
#: Receivers should refuse signatures older than this (seconds).
TOLERANCE = 300


class WebhookError(ValueError):
    """A subscription that cannot be saved as given."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, now: float | None = None,
           tolerance: int = TOLERANCE) -> bool:
    """What a receiver does: the signature matches and is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _check(url: str, events: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookError(_("Give an http:// or https:// address."))
    if not events or any(e not in EVENTS for e in events):
        raise WebhookError(_("Choose at least one event."))


def create_subscription(owner: User, url: str, events: list[str]) -> WebhookSubscription:
    url = url.strip()
    _check(url, events)
    sub = WebhookSubscription(owner_id=owner.id, url=url, events=list(events),
                              secret="whsec_" + secrets.token_urlsafe(24))
    db.session.add(sub)
    db.session.flush()
    record(sub, "create", user=owner, after={"url": url, "events": list(events)})
    forget_subscriptions(db.session())
    return sub


def set_active(sub: WebhookSubscription, active: bool, user: User) -> None:
    sub.active = active
    if active:
        sub.consecutive_failures = 0
        sub.disabled_at = None
        sub.disabled_reason = None
    db.session.flush()
    record(sub, "update", user=user, after={"active": active})
    forget_subscriptions(db.session())


def delete_subscription(sub: WebhookSubscription, user: User | None) -> None:
    record(sub, "delete", user=user, before={"url": sub.url, "events": sub.events})
    db.session.delete(sub)
    db.session.flush()
    forget_subscriptions(db.session())


def replay(delivery: WebhookDelivery, user: User | None) -> WebhookDelivery:
    """Send a logged delivery again (a new delivery with the same body)."""
    again = WebhookDelivery(subscription_id=delivery.subscription_id, event=delivery.event,
                            body=delivery.body, next_attempt_at=utcnow(),
                            replay_of_id=delivery.id)
    db.session.add(again)
    db.session.flush()
    return again


def _post(sub: WebhookSubscription, delivery: WebhookDelivery) -> WebhookAttempt:
    body = delivery.body.encode()
    request = urllib.request.Request(sub.url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "helpdesk-webhooks/1",
        "X-Helpdesk-Event": delivery.event,
        "X-Helpdesk-Delivery": str(delivery.id),
        SIGNATURE_HEADER: sign(sub.secret, body, int(time.time())),
    })
    attempt = WebhookAttempt(delivery_id=delivery.id, at=utcnow())
    started = time.monotonic()
    try:
        with urllib.request.urlopen(
            request, timeout=current_app.config["WEBHOOK_TIMEOUT_SECONDS"]
        ) as response:
            attempt.status_code = response.status
            attempt.response = response.read(4000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        attempt.status_code = exc.code
        attempt.response = exc.read(4000).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        attempt.error = str(getattr(exc, "reason", exc))[:1000]
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    return attempt


def deliver(delivery: WebhookDelivery, now: datetime) -> bool:
    """One try of one delivery, logged; True when the receiver took it."""
    cfg = current_app.config
    sub = delivery.subscription
    attempt = _post(sub, delivery)
    db.session.add(attempt)
    delivery.attempts += 1
    ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
    if ok:
        delivery.status = "delivered"
        delivery.delivered_at = now
        sub.consecutive_failures = 0
    elif delivery.attempts >= cfg["WEBHOOK_MAX_ATTEMPTS"]:
        delivery.status = "failed"
        sub.consecutive_failures += 1
        if sub.consecutive_failures >= cfg["WEBHOOK_DISABLE_AFTER"] and sub.active:
            _disable(sub, now)
    else:
        delay = cfg["WEBHOOK_RETRY_BASE_SECONDS"] * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
    db.session.flush()
    return ok


def _disable(sub: WebhookSubscription, now: datetime) -> None:
    forget_subscriptions(db.session())
    sub.active = False
    sub.disabled_at = now
    sub.disabled_reason = f"{sub.consecutive_failures} deliveries in a row failed"
    owner = sub.owner
    with force_locale(owner.language or current_app.config.get("BABEL_DEFAULT_LOCALE", "en")):
        subject = _("Webhook disabled: %(url)s", url=sub.url)
        body = _("Your webhook subscription to %(url)s was disabled after %(count)s failed "
                 "deliveries in a row. Fix the receiver, then enable it again on the Webhooks "
                 "page; failed deliveries can be replayed from its log.",
                 url=sub.url, count=sub.consecutive_failures)
    send_once(f"webhook-disabled:{sub.id}:{now.isoformat()}", [owner.email], subject, body)


def deliver_due(now: datetime) -> str:
    """The scheduler's job: every due delivery of an active subscription, one commit each."""
    limit = current_app.config["WEBHOOK_BATCH"]
    stmt = (select(WebhookDelivery).join(WebhookSubscription)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now,
                   WebhookSubscription.active.is_(True))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    ids = [d.id for d in db.session.scalars(stmt)]
    db.session.commit()
    sent = failed = 0
    for delivery_id in ids:
        # Claimed one at a time: a second scheduler skips what this one holds.
        claim = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                              WebhookDelivery.status == "pending",
                                              WebhookDelivery.next_attempt_at <= now)
        if db.engine.dialect.name == "postgresql":
            claim = claim.with_for_update(skip_locked=True)
        delivery = db.session.scalar(claim)
        if delivery is None:
            continue
        if deliver(delivery, now):
            sent += 1
        else:
            failed += 1
        db.session.commit()
    return f"{sent} delivered, {failed} failed"
