"""API v1 webhook subscriptions (staff): list, create, delete, the delivery log, replay.

The same functions as the console's Webhooks page (:mod:`helpdesk.integrations.webhooks`). The
secret is returned once, when the subscription is created.
"""

from __future__ import annotations

from flask import abort, g, jsonify, request
from sqlalchemy import select

from ...extensions import db
from ...integrations import webhooks
from ...integrations.events import EVENTS
from ...integrations.models import WebhookDelivery, WebhookSubscription
from ...models import Role
from . import bp
from .common import GET_RESPONSES, LIST_PARAMETERS, body, err, list_schema, ok, paginate
from .openapi import document
from .routes import Invalid


def subscription_json(s: WebhookSubscription) -> dict:
    return {"id": s.id, "url": s.url, "events": list(s.events or []), "active": bool(s.active),
            "disabled_reason": s.disabled_reason, "created_at": s.created_at.isoformat()}


def delivery_json(d: WebhookDelivery) -> dict:
    return {"id": d.id, "event": d.event, "status": d.status, "attempts": d.attempts,
            "created_at": d.created_at.isoformat(), "replay_of": d.replay_of_id,
            "tries": [{"at": a.at.isoformat(), "status_code": a.status_code,
                       "response": a.response, "error": a.error} for a in d.tries]}


def _staff():
    user = g.api_user
    if not user.is_staff:
        abort(403, description="Webhooks are for staff.")
    return user


def _mine(sub_id: int) -> WebhookSubscription:
    user = _staff()
    sub = db.session.get(WebhookSubscription, sub_id)
    if sub is None or (sub.owner_id != user.id and user.role != Role.ADMIN):
        abort(404)
    return sub


@bp.get("/webhooks")
def list_webhooks():
    user = _staff()
    stmt = select(WebhookSubscription)
    if user.role != Role.ADMIN:
        stmt = stmt.where(WebhookSubscription.owner_id == user.id)
    rows, cursor = paginate(stmt, WebhookSubscription, WebhookSubscription.created_at,
                            since=WebhookSubscription.created_at)
    return jsonify(items=[subscription_json(s) for s in rows], next_cursor=cursor)


@bp.post("/webhooks")
def create_webhook():
    user = _staff()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid({"body": "Send a JSON object with Content-Type: application/json."})
    url, events = data.get("url"), data.get("events")
    if not isinstance(url, str) or len(url) > 1000:
        raise Invalid({"url": "An http:// or https:// address."})
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise Invalid({"events": f"A list of {', '.join(EVENTS)}."})
    try:
        sub = webhooks.create_subscription(user, url, events)
    except webhooks.WebhookError as exc:
        db.session.rollback()
        raise Invalid({"url" if "address" in str(exc) else "events": str(exc)}) from None
    db.session.commit()
    return jsonify({**subscription_json(sub), "secret": sub.secret}), 201


@bp.delete("/webhooks/<int:sub_id>")
def delete_webhook(sub_id: int):
    webhooks.delete_subscription(_mine(sub_id), g.api_user)
    db.session.commit()
    return "", 204


@bp.get("/webhooks/<int:sub_id>/deliveries")
def webhook_deliveries(sub_id: int):
    sub = _mine(sub_id)
    rows, cursor = paginate(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == sub.id), WebhookDelivery, WebhookDelivery.created_at,
        since=WebhookDelivery.created_at)
    return jsonify(items=[delivery_json(d) for d in rows], next_cursor=cursor)


@bp.post("/webhooks/deliveries/<int:delivery_id>/replay")
def replay_webhook(delivery_id: int):
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        abort(404)
    _mine(delivery.subscription_id)
    again = webhooks.replay(delivery, g.api_user)
    db.session.commit()
    return jsonify(delivery_json(again)), 201


_DT = {"type": "string", "format": "date-time"}
_SUB = {"id": {"type": "integer"}, "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": list(EVENTS)}},
        "active": {"type": "boolean"}, "disabled_reason": {"type": ["string", "null"]},
        "created_at": _DT}
_TRY = {"at": _DT, "status_code": {"type": ["integer", "null"]},
        "response": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]}}
_DELIVERY = {"id": {"type": "integer"}, "event": {"type": "string"},
             "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
             "attempts": {"type": "integer"}, "created_at": _DT,
             "replay_of": {"type": ["integer", "null"]},
             "tries": {"type": "array", "items": {"type": "object", "properties": _TRY,
                                                  "required": list(_TRY)}}}
_ID = {"name": "sub_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_404 = err("No such subscription, or not yours.")
document("/webhooks", {
    "get": {"operationId": "listWebhooks", "summary": "Your webhook subscriptions (admins: all)",
            "parameters": LIST_PARAMETERS,
            "responses": {"200": ok("A page of subscriptions.", "WebhookList"), **GET_RESPONSES,
                          "422": err("Invalid parameters.")}},
    "post": {"operationId": "createWebhook",
             "summary": "Subscribe a receiver to events; the signing secret is shown once",
             "requestBody": body("NewWebhook"),
             "responses": {"201": ok("The subscription with its secret.", "WebhookCreated"),
                           "422": err("Invalid URL or events.")}},
}, {"Webhook": {"type": "object", "properties": _SUB, "required": list(_SUB)},
    "WebhookCreated": {"type": "object", "properties": {**_SUB, "secret": {"type": "string"}},
                       "required": [*_SUB, "secret"]},
    "WebhookList": list_schema("Webhook"),
    "NewWebhook": {"type": "object", "required": ["url", "events"], "properties": {
        "url": {"type": "string", "maxLength": 1000},
        "events": {"type": "array", "items": {"type": "string", "enum": list(EVENTS)}}}},
    "WebhookDelivery": {"type": "object", "properties": _DELIVERY, "required": list(_DELIVERY)},
    "WebhookDeliveryList": list_schema("WebhookDelivery")})
document("/webhooks/{sub_id}", {"delete": {
    "operationId": "deleteWebhook", "summary": "Remove a subscription", "parameters": [_ID],
    "responses": {"204": {"description": "Removed."}, "404": _404}}})
document("/webhooks/{sub_id}/deliveries", {"get": {
    "operationId": "listWebhookDeliveries", "summary": "The delivery log, every try included",
    "parameters": [_ID, *LIST_PARAMETERS],
    "responses": {"200": ok("A page of deliveries.", "WebhookDeliveryList"), **GET_RESPONSES,
                  "404": _404, "422": err("Invalid parameters.")}}})
document("/webhooks/deliveries/{delivery_id}/replay", {"post": {
    "operationId": "replayWebhookDelivery", "summary": "Queue a logged delivery again",
    "parameters": [{"name": "delivery_id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "responses": {"201": ok("The new delivery.", "WebhookDelivery"),
                  "404": err("No such delivery, or not yours.")}}})
