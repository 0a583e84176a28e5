"""API for the agent's day: link a triage ticket to a client, followers, away, who to @mention.

Staff only; the same domain functions as the console and the ``flask notifications`` commands.
"""

from __future__ import annotations

from flask import abort, g, jsonify, request

from ...assignment.service import set_away
from ...auth.policy import AGENT_ROLES, get_ticket_by_number_or_404
from ...extensions import db
from ...followers.service import FollowerError, add_follower, followers, remove_follower
from ...models import Client
from ...triage.service import TriageError, link_ticket
from . import bp
from .openapi import document

_ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
_FOLLOWERS = {"type": "object", "required": ["followers"], "properties": {"followers": {
    "type": "array", "items": {"type": "object", "required": ["id", "email"],
                               "properties": {"id": {"type": "integer"},
                                              "email": {"type": "string"}}}}}}


def _responses(ok: str, schema: dict | None = None) -> dict:
    body = {"description": ok}
    if schema:
        body["content"] = {"application/json": {"schema": schema}}
    return {"200": body, "400": {"description": "Refused; the message says why.", **_ERR},
            "401": {"description": "No or a bad bearer token.", **_ERR},
            "404": {"description": "No such ticket (or not staff).", **_ERR}}


document("/tickets/{number}/link", {"post": {
    "operationId": "linkTicketToClient",
    "summary": "Link an unknown sender's ticket to a client (the sender becomes a contact)",
    "parameters": [_NUMBER],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["client_id"],
        "properties": {"client_id": {"type": "integer"}, "add_domain": {"type": "boolean"}}}}}},
    "responses": _responses("Linked.", {"type": "object", "properties": {
        "client_id": {"type": "integer"}, "contact_id": {"type": ["integer", "null"]}}}),
}})
document("/tickets/{number}/followers", {
    "get": {"operationId": "listFollowers", "summary": "Who gets the ticket's replies in Cc",
            "parameters": [_NUMBER], "responses": _responses("The followers.", _FOLLOWERS)},
    "post": {"operationId": "addFollower", "summary": "Add a follower (not another client's)",
             "parameters": [_NUMBER],
             "requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "required": ["email"],
                 "properties": {"email": {"type": "string"}}}}}},
             "responses": _responses("The followers.", _FOLLOWERS)},
})
document("/tickets/{number}/followers/{follower_id}", {"delete": {
    "operationId": "removeFollower", "summary": "Remove a follower",
    "parameters": [_NUMBER, {"name": "follower_id", "in": "path", "required": True,
                             "schema": {"type": "integer"}}],
    "responses": _responses("The followers.", _FOLLOWERS),
}})
document("/me/away", {"put": {
    "operationId": "setAway", "summary": "Mark yourself away (new tickets go to colleagues) or back",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["away"], "properties": {"away": {"type": "boolean"}}}}}},
    "responses": _responses("Done.", {"type": "object", "properties": {
        "away": {"type": "boolean"}, "reassigned": {"type": "array", "items": {
            "type": "integer"}}}}),
}})

document("/staff/mentionable", {"get": {
    "operationId": "listMentionableStaff",
    "summary": "Active staff whose name or address starts with q, and the @handle naming them",
    "parameters": [{"name": "q", "in": "query", "required": False,
                    "schema": {"type": "string", "maxLength": 100}}],
    "responses": {k: v for k, v in _responses("Up to 8 people.", {
        "type": "object", "required": ["people"], "properties": {"people": {
            "type": "array", "items": {"type": "object", "required": ["name", "email", "handle"],
                                       "properties": {"name": {"type": "string"},
                                                      "email": {"type": "string"},
                                                      "handle": {"type": "string"}}}}}}
    ).items() if k != "400"},
}})


def _staff():
    if g.api_user.role not in AGENT_ROLES:
        abort(404)
    return g.api_user


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="send a JSON object")
    return data


def _followers_json(ticket):
    return jsonify(followers=[{"id": f.id, "email": f.email} for f in followers(ticket)])


@bp.post("/tickets/<int:number>/link")
def api_link_ticket(number: int):
    user = _staff()
    ticket = get_ticket_by_number_or_404(user, number)
    data = _body()
    client_id = data.get("client_id")
    client = db.session.get(Client, client_id) if isinstance(client_id, int) else None
    if client is None:
        abort(400, description="client_id: no such client")
    try:
        contact = link_ticket(ticket, client, user=user, add_domain=bool(data.get("add_domain")))
    except TriageError as exc:
        db.session.rollback()
        abort(400, description=str(exc))
    db.session.commit()
    return jsonify(client_id=client.id, contact_id=contact.id if contact else None)


@bp.get("/tickets/<int:number>/followers")
def api_followers(number: int):
    return _followers_json(get_ticket_by_number_or_404(_staff(), number))


@bp.post("/tickets/<int:number>/followers")
def api_add_follower(number: int):
    user = _staff()
    ticket = get_ticket_by_number_or_404(user, number)
    email = _body().get("email")
    try:
        add_follower(ticket, email if isinstance(email, str) else "", user=user)
    except FollowerError as exc:
        db.session.rollback()
        abort(400, description=str(exc))
    db.session.commit()
    return _followers_json(ticket)


@bp.delete("/tickets/<int:number>/followers/<int:follower_id>")
def api_remove_follower(number: int, follower_id: int):
    ticket = get_ticket_by_number_or_404(_staff(), number)
    if not remove_follower(ticket, follower_id):
        abort(404)
    db.session.commit()
    return _followers_json(ticket)


@bp.put("/me/away")
def api_set_away():
    user = _staff()
    away = _body().get("away")
    if not isinstance(away, bool):
        abort(400, description="away: true or false")
    moved = set_away(user, away, actor=user) if away != bool(user.away) else []
    db.session.commit()
    return jsonify(away=away, reassigned=[t.number for t in moved])


@bp.get("/staff/mentionable")
def api_mentionable_staff():
    from ...notifications.mentions import candidates

    _staff()
    return jsonify(people=[{"name": c.name, "email": c.email, "handle": c.handle}
                           for c in candidates(request.args.get("q", ""))])
