"""``GET /api/v1/mailboxes`` and ``POST /api/v1/mailboxes/{index}/test``: the admin Mailboxes page
for scripts (admins only)."""

from __future__ import annotations

from flask import abort, current_app, g, jsonify

from ...models import Role
from . import bp
from .openapi import document

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
_MAILBOX = {
    "index": {"type": "integer"},
    "name": {"type": "string"},
    "host": {"type": "string"},
    "port": {"type": "integer"},
    "security": {"type": "string"},
    "user": {"type": "string"},
    "folder": {"type": "string"},
    "queue": {"type": "string"},
    "last_poll_at": _NULL_TIME,
    "last_ok_at": _NULL_TIME,
    "last_error": {"type": ["string", "null"]},
    "last_error_at": _NULL_TIME,
    "taken_today": {"type": "integer"},
    "failed": {"type": "integer"},
}
_CHECK = {
    "ok": {"type": "boolean"},
    "kind": {"type": "string", "enum": ["ok", "auth", "tls", "connect", "protocol", "config"]},
    "detail": {"type": "string"},
    "messages": {"type": ["integer", "null"]},
}
document("/mailboxes", {"get": {
    "operationId": "listMailboxes",
    "summary": "Each configured support mailbox and how its last ingest pass went (admins)",
    "responses": {
        "200": {"description": "The mailboxes.", "content": {"application/json": {"schema": {
            "type": "array", "items": {"$ref": "#/components/schemas/Mailbox"}}}}},
        "401": {"description": "No or a bad bearer token.", **_ERROR},
        "403": {"description": "Not an admin.", **_ERROR},
        "409": {"description": "The mailbox settings cannot be read.", **_ERROR},
    },
}}, {"Mailbox": {"type": "object", "properties": _MAILBOX, "required": list(_MAILBOX)},
     "MailboxCheck": {"type": "object", "properties": _CHECK, "required": list(_CHECK)}})
document("/mailboxes/{index}/test", {"post": {
    "operationId": "testMailbox",
    "summary": "Log in to one mailbox now, as ingest would (admins)",
    "parameters": [{"name": "index", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "responses": {
        "200": {"description": "How the login went.", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/MailboxCheck"}}}},
        "401": {"description": "No or a bad bearer token.", **_ERROR},
        "403": {"description": "Not an admin.", **_ERROR},
        "404": {"description": "No mailbox with this index.", **_ERROR},
    },
}})


def _admin_only() -> None:
    if g.api_user.role != Role.ADMIN:
        abort(403, description="Only admins see the mailboxes.")


def _time(value):
    return value.isoformat() if value else None


@bp.get("/mailboxes")
def list_mailboxes():
    from mail_ingest.status import mailbox_overview  # ingest calls helpdesk, not the reverse

    _admin_only()
    rows, error = mailbox_overview(current_app.config)
    if error:
        abort(409, description=error)
    return jsonify([{
        "index": r.index, "name": r.name, "host": r.host, "port": r.port,
        "security": r.security, "user": r.user, "folder": r.folder, "queue": r.queue,
        "last_poll_at": _time(r.state.last_poll_at), "last_ok_at": _time(r.state.last_ok_at),
        "last_error": r.state.last_error, "last_error_at": _time(r.state.last_error_at),
        "taken_today": r.state.taken_today, "failed": r.state.failed,
    } for r in rows])


@bp.post("/mailboxes/<int:index>/test")
def test_mailbox(index: int):
    from mail_ingest.status import check_configured

    _admin_only()
    try:
        _config, check = check_configured(current_app.config, index)
    except LookupError:
        abort(404, description="No mailbox with this index.")
    return jsonify(ok=check.ok, kind=check.kind, detail=check.detail, messages=check.messages)
