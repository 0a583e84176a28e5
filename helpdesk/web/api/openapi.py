"""The OpenAPI 3.1 description of API v1, served at ``/api/v1/openapi.json``.

Written by hand next to the routes; ``tests/test_api.py`` checks that every route is described,
that nothing described is missing, and that real responses fit the documented schemas. Other
modules of the API describe their own paths with :func:`document`.
"""

from __future__ import annotations

import copy

from flask import jsonify

from ...models import Channel, Direction, Priority, SendStatus, TicketStatus
from . import bp

_EXTRA_PATHS: dict[str, dict] = {}
_EXTRA_SCHEMAS: dict[str, dict] = {}


def document(path: str, item: dict, schemas: dict[str, dict] | None = None) -> None:
    """Add a path (relative to /api/v1, e.g. ``/clients/{client_id}/usage``) to the description."""
    _EXTRA_PATHS[path] = item
    _EXTRA_SCHEMAS.update(schemas or {})


def _nullable(schema: dict) -> dict:
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


STRING = {"type": "string"}
DATETIME = {"type": "string", "format": "date-time"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required}


TICKET = {
    "number": INTEGER,
    "subject": STRING,
    "status": {"type": "string", "enum": TicketStatus.values()},
    "priority": {"type": "string", "enum": Priority.values()},
    "channel": {"type": "string", "enum": Channel.values()},
    "client_id": _nullable(INTEGER),
    "assignee_id": _nullable(INTEGER),
    "reserved": {**BOOLEAN, "description": "The client has an active contract (queue priority)."},
    "created_at": DATETIME,
    "last_activity_at": DATETIME,
    "first_response_due": _nullable(DATETIME),
    "resolution_due": _nullable(DATETIME),
    "first_response_at": _nullable(DATETIME),
    "resolved_at": _nullable(DATETIME),
}

SCHEMAS = {
    "Error": _object({
        "type": STRING,
        "title": STRING,
        "status": INTEGER,
        "detail": STRING,
        "error": STRING,
        "message": STRING,
        "fields": {"type": "object", "additionalProperties": STRING,
                   "description": "Per invalid field, what is wrong (422 only)."},
    }, required=["type", "title", "status", "error", "message"]),
    "Me": _object({"id": INTEGER, "email": STRING, "role": STRING,
                   "client_id": _nullable(INTEGER)}),
    "Ticket": _object(TICKET),
    "Attachment": _object({"id": INTEGER, "filename": STRING, "content_type": STRING,
                           "size": INTEGER}),
    "Article": _object({
        "id": INTEGER,
        "direction": {"type": "string", "enum": Direction.values()},
        "internal": BOOLEAN,
        "channel": {"type": "string", "enum": Channel.values()},
        "from": _nullable(STRING),
        "to": _nullable(STRING),
        "subject": _nullable(STRING),
        "body_text": STRING,
        "created_at": DATETIME,
        "send_status": {"type": ["string", "null"], "enum": [*SendStatus.values(), None]},
        "attachments": {"type": "array", "items": _ref("Attachment")},
    }),
    "SlaClock": _object({
        "target": {"type": "string", "enum": ["first_response", "resolution"]},
        "target_minutes": INTEGER,
        "due": DATETIME,
        "elapsed": {"type": "number", "description": "Share of the target used (1.0 = due)."},
        "state": {"type": "string",
                  "enum": ["met", "late", "paused", "ok", "warning", "breached"]},
        "met_at": _nullable(DATETIME),
        "warned_at": _nullable(DATETIME),
        "breached_at": _nullable(DATETIME),
    }),
    "TicketDetail": _object({
        **TICKET,
        "merged_into": {**_nullable(INTEGER), "description": "Number of the ticket it lives on."},
        "articles": {"type": "array", "items": _ref("Article"),
                     "description": "Internal notes are left out for client users."},
        "sla": {"type": "array", "items": _ref("SlaClock")},
    }),
    "TicketList": _object({
        "items": {"type": "array", "items": _ref("Ticket")},
        "next_cursor": {**_nullable(STRING), "description": "Pass as `cursor` for the next page."},
        "count": {**INTEGER, "description": "Matching tickets, counted up to 1000."},
        "count_capped": {**BOOLEAN, "description": "True when there are more than `count`."},
    }),
    "NewTicket": _object({
        "subject": {**STRING, "maxLength": 500},
        "body": {**STRING, "description": "The request, as the client put it."},
        "priority": {"type": "string", "enum": Priority.values(), "default": "normal"},
        "client_id": {**_nullable(INTEGER),
                      "description": "Staff: the client (null: unknown). Client users: omit."},
        "contact_id": {**_nullable(INTEGER), "description": "Staff: a contact of the client."},
        "channel": {"type": "string", "enum": Channel.values(), "default": "phone",
                    "description": "Staff only; client users' tickets come from the portal."},
        "requester_email": _nullable(STRING),
    }, required=["subject", "body"]),
    "NewArticle": _object({
        "body": STRING,
        "internal": {**BOOLEAN, "default": False, "description": "Staff: an internal note."},
        "to": {**_nullable(STRING), "description": "Staff replies: default the requester."},
        "cc": _nullable(STRING),
    }, required=["body"]),
    "StatusChange": _object({"status": {"type": "string", "enum": TicketStatus.values()}}),
}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def _body(schema: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


NUMBER_PARAM = {"name": "number", "in": "path", "required": True, "schema": INTEGER,
                "description": "The ticket number (as in [#1234])."}
UNAUTHORIZED = _error("No or a bad bearer token.")
NOT_FOUND = _error("No such ticket, or not one you may see.")
INVALID = _error("Invalid request data; `fields` says what is wrong.")


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


PATHS = {
    "/me": {"get": {
        "operationId": "me", "summary": "Who the token belongs to",
        "responses": {"200": _ok("The caller.", "Me"), "401": UNAUTHORIZED},
    }},
    "/tickets": {
        "get": {
            "operationId": "listTickets",
            "summary": "Tickets you may see, filtered, a keyset page at a time",
            "description": "Open statuses only: reserved-priority queue order (contract clients "
                           "first by SLA due time, then priority; then the rest oldest first). "
                           "Otherwise, and with `q`, newest first.",
            "parameters": [
                _query("status", STRING, "Comma-separated statuses (default: all)."),
                _query("client_id", INTEGER, "Only this client's tickets."),
                _query("assignee_id", INTEGER, "Only tickets assigned to this user."),
                _query("q", STRING, "Full-text search over number, subject, messages and "
                       "client name: every word must match somewhere in the ticket; `word*` "
                       "matches word beginnings, `\"two words\"` a phrase, `#1234` a number."),
                _query("order", {"type": "string", "enum": ["queue", "newest"]},
                       "Override the order."),
                _query("cursor", STRING, "`next_cursor` of the previous page."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 200,
                                 "default": 50}, "Page size."),
            ],
            "responses": {"200": _ok("A page of tickets.", "TicketList"),
                          "401": UNAUTHORIZED, "422": INVALID},
        },
        "post": {
            "operationId": "createTicket", "summary": "Open a ticket",
            "requestBody": _body("NewTicket"),
            "responses": {
                "201": {**_ok("The new ticket.", "TicketDetail"),
                        "headers": {"Location": {"schema": STRING,
                                                 "description": "URL of the ticket."}}},
                "401": UNAUTHORIZED, "422": INVALID,
            },
        },
    },
    "/tickets/{number}": {"get": {
        "operationId": "getTicket", "summary": "A ticket with its messages and SLA clocks",
        "parameters": [NUMBER_PARAM],
        "responses": {"200": _ok("The ticket.", "TicketDetail"), "401": UNAUTHORIZED,
                      "404": NOT_FOUND},
    }},
    "/tickets/{number}/articles": {"post": {
        "operationId": "replyToTicket",
        "summary": "Reply (staff: by email to the requester, or an internal note; clients: a "
                   "message)",
        "parameters": [NUMBER_PARAM],
        "requestBody": _body("NewArticle"),
        "responses": {"201": _ok("The new message.", "Article"), "401": UNAUTHORIZED,
                      "404": NOT_FOUND, "422": INVALID},
    }},
    "/tickets/{number}/status": {"post": {
        "operationId": "changeTicketStatus",
        "summary": "Change the status (staff only); pending pauses the SLA clock",
        "parameters": [NUMBER_PARAM],
        "requestBody": _body("StatusChange"),
        "responses": {"200": _ok("The ticket after the change.", "Ticket"),
                      "401": UNAUTHORIZED, "403": _error("Client users cannot."),
                      "404": NOT_FOUND, "422": INVALID},
    }},
    "/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This description", "security": [],
        "responses": {"200": {"description": "The OpenAPI document.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }},
}


def spec() -> dict:
    """The whole OpenAPI document (a fresh copy each time)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Helpdesk API",
            "version": "1",
            "description": "Tickets of the helpdesk. Create a token with `flask user token EMAIL` "
                           "and send it as `Authorization: Bearer <token>`. Client users see "
                           "only their company's tickets (sub-agents only their own).",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": copy.deepcopy({**SCHEMAS, **_EXTRA_SCHEMAS}),
        },
        "paths": _errors_as_problems(copy.deepcopy({**PATHS, **_EXTRA_PATHS})),
    }


def _errors_as_problems(paths: dict) -> dict:
    """Every 4xx/5xx is answered as ``application/problem+json`` (helpdesk/hardening/errors.py):
    error responses that modules described as plain JSON are described as the problem document."""
    for item in paths.values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for status, response in (operation.get("responses") or {}).items():
                if not str(status)[:1] in ("4", "5") or "content" not in response:
                    continue
                content = response["content"]
                if "application/json" in content and "application/problem+json" not in content:
                    content.pop("application/json")
                    content["application/problem+json"] = {"schema": _ref("Error")}
    return paths


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(spec())
