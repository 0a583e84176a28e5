"""API v1 time entries: list with filters, get, create, update and delete in open months.

Staff log and change time through the ledger (as the console does): billing is computed there and
every change is audited. An entry of a closed month is not changed: 409 ``month_closed`` with the
reason (record an adjustment in the console instead). Client users (and client-scoped tokens)
read their company's entries only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, g, jsonify, request
from sqlalchemy import select

from ...accounting.ledger import LedgerError, MonthClosed, delete_entry, log_entry, update_entry
from ...auth.policy import can_edit_time_entry
from ...extensions import db
from ...models import Client, EntryKind, EntrySource, Ticket, TimeEntry, User
from . import bp
from .common import (
    GET_RESPONSES,
    LIST_PARAMETERS,
    allowed_client,
    body,
    err,
    list_schema,
    ok,
    paginate,
    require_client,
    scoped_client_id,
)
from .openapi import document
from .routes import Invalid


def entry_json(e: TimeEntry) -> dict[str, Any]:
    ticket_number = db.session.scalar(select(Ticket.number).where(Ticket.id == e.ticket_id)) \
        if e.ticket_id else None
    return {
        "id": e.id, "client_id": e.client_id, "ticket_number": ticket_number,
        "agent_id": e.agent_id, "kind": e.kind, "source": e.source,
        "started_at": e.started_at.isoformat(),
        "ended_at": e.ended_at.isoformat() if e.ended_at else None,
        "minutes": e.minutes, "billable_minutes": e.billable_minutes,
        "out_of_hours": bool(e.out_of_hours), "out_of_hours_minutes": e.out_of_hours_minutes,
        "needs_review": bool(e.needs_review), "period": e.period,
        "external_ref": e.external_ref, "note": e.note, "is_adjustment": bool(e.is_adjustment),
        "updated_at": e.updated_at.isoformat(),
    }


def _conflict(exc: LedgerError):
    return jsonify(error="month_closed", message=str(exc)), 409


def _staff() -> User:
    user: User = g.api_user
    if not user.is_staff:
        abort(403, description="Only staff log and change time.")
    return user


def _entry_or_404(entry_id: int) -> TimeEntry:
    entry = db.session.get(TimeEntry, entry_id)
    user: User = g.api_user
    if entry is None or not allowed_client(entry.client_id) or (
        user.is_client_user and entry.client_id != user.client_id
    ):
        abort(404)
    return entry


def _int_arg(name: str) -> int | None:
    value = request.args.get(name)
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise Invalid({name: "Must be a whole number."})
    return int(value)


@bp.get("/time-entries")
def list_time_entries():
    stmt = select(TimeEntry)
    scope = scoped_client_id()
    if scope is not None:
        stmt = stmt.where(TimeEntry.client_id == scope)
    if (client_id := _int_arg("client_id")) is not None:
        stmt = stmt.where(TimeEntry.client_id == client_id)
    if (number := _int_arg("ticket_number")) is not None:
        stmt = stmt.join(Ticket, Ticket.id == TimeEntry.ticket_id).where(Ticket.number == number)
    if (agent_id := _int_arg("agent_id")) is not None:
        stmt = stmt.where(TimeEntry.agent_id == agent_id)
    for name, values in (("kind", EntryKind.values()), ("source", EntrySource.values())):
        if value := request.args.get(name):
            if value not in values:
                raise Invalid({name: f"Use one of {', '.join(values)}."})
            stmt = stmt.where(getattr(TimeEntry, name) == value)
    if period := request.args.get("period"):
        stmt = stmt.where(TimeEntry.period == period)
    rows, cursor = paginate(stmt, TimeEntry, TimeEntry.updated_at, since=TimeEntry.updated_at)
    return jsonify(items=[entry_json(e) for e in rows], next_cursor=cursor)


@bp.get("/time-entries/<int:entry_id>")
def get_time_entry(entry_id: int):
    return jsonify(entry_json(_entry_or_404(entry_id)))


def _moment(data: dict, name: str, required: bool = False) -> datetime | None:
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid({name: "This field is required."})
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid({name: "An ISO 8601 date-time with its offset."}) from None
    if moment.tzinfo is None:
        raise Invalid({name: "Give the offset (e.g. +01:00 or Z)."})
    return moment.astimezone(UTC)


def _ticket(data: dict, client_id: int) -> Ticket | None:
    number = data.get("ticket_number")
    if number is None:
        return None
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number)) \
        if isinstance(number, int) else None
    if ticket is None or ticket.client_id not in (None, client_id):
        raise Invalid({"ticket_number": "No such ticket of this client."})
    return ticket


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid({"body": "Send a JSON object with Content-Type: application/json."})
    return data


@bp.post("/time-entries")
def create_time_entry():
    user = _staff()
    data = _body()
    client_id = data.get("client_id")
    client = db.session.get(Client, client_id) if isinstance(client_id, int) else None
    if client is None:
        raise Invalid({"client_id": "No such client."})
    require_client(client.id)
    kind = data.get("kind")
    if kind not in EntryKind.values():
        raise Invalid({"kind": f"Use one of {', '.join(EntryKind.values())}."})
    started_at = _moment(data, "started_at", required=True)
    ended_at = _moment(data, "ended_at")
    minutes = data.get("minutes")
    if ended_at is None and (not isinstance(minutes, int) or minutes < 0):
        raise Invalid({"minutes": "Give minutes (a whole number) or ended_at."})
    agent = user
    if data.get("agent_id") is not None:
        agent = db.session.get(User, data["agent_id"]) if isinstance(data["agent_id"], int) \
            else None
        if agent is None or not agent.is_staff:
            raise Invalid({"agent_id": "No such staff member."})
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise Invalid({"note": "Must be a string."})
    try:
        entry = log_entry(client=client, kind=kind, started_at=started_at, ended_at=ended_at,
                          minutes=None if ended_at else minutes, ticket=_ticket(data, client.id),
                          agent=agent, source=EntrySource.API, note=note, user=user)
    except MonthClosed as exc:
        db.session.rollback()
        return _conflict(exc)
    except LedgerError as exc:
        db.session.rollback()
        raise Invalid({"started_at": str(exc)}) from None
    db.session.commit()
    return jsonify(entry_json(entry)), 201


@bp.patch("/time-entries/<int:entry_id>")
def update_time_entry(entry_id: int):
    user = _staff()
    entry = _entry_or_404(entry_id)
    data = _body()
    changes: dict[str, Any] = {}
    if "kind" in data:
        if data["kind"] not in EntryKind.values():
            raise Invalid({"kind": f"Use one of {', '.join(EntryKind.values())}."})
        changes["kind"] = data["kind"]
    for name in ("started_at", "ended_at"):
        if name in data:
            changes[name] = _moment(data, name, required=True)
    if "minutes" in data:
        if not isinstance(data["minutes"], int) or data["minutes"] < 0:
            raise Invalid({"minutes": "A whole number, not negative."})
        changes["minutes"] = data["minutes"]
    if "note" in data:
        if data["note"] is not None and not isinstance(data["note"], str):
            raise Invalid({"note": "Must be a string."})
        changes["note"] = data["note"]
    if "ticket_number" in data:
        ticket = _ticket(data, entry.client_id)
        changes["ticket_id"] = ticket.id if ticket else None
    if not can_edit_time_entry(user, entry, month_closed=False):
        abort(403, description="Agents change their own entries; admins any.")
    if not changes:  # every field is optional: an empty object changes nothing, as elsewhere
        return jsonify(entry_json(entry))
    try:
        update_entry(entry, user=user, **changes)
    except MonthClosed as exc:
        db.session.rollback()
        return _conflict(exc)
    except LedgerError as exc:
        db.session.rollback()
        raise Invalid({"body": str(exc)}) from None
    db.session.commit()
    return jsonify(entry_json(entry))


@bp.delete("/time-entries/<int:entry_id>")
def delete_time_entry(entry_id: int):
    user = _staff()
    entry = _entry_or_404(entry_id)
    if not can_edit_time_entry(user, entry, month_closed=False):
        abort(403, description="Agents delete their own entries; admins any.")
    try:
        delete_entry(entry, user=user)
    except MonthClosed as exc:
        db.session.rollback()
        return _conflict(exc)
    db.session.commit()
    return "", 204


_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_DT = {"type": "string", "format": "date-time"}
_ENTRY = {
    "id": {"type": "integer"}, "client_id": {"type": "integer"}, "ticket_number": _NULL_INT,
    "agent_id": _NULL_INT, "kind": {"type": "string", "enum": EntryKind.values()},
    "source": {"type": "string", "enum": EntrySource.values()}, "started_at": _DT,
    "ended_at": {"type": ["string", "null"], "format": "date-time"},
    "minutes": {"type": "integer"}, "billable_minutes": {"type": "integer"},
    "out_of_hours": {"type": "boolean"}, "out_of_hours_minutes": {"type": "integer"},
    "needs_review": {"type": "boolean"},
    "period": {"type": "string", "description": "Billing month YYYY-MM (client's zone)."},
    "external_ref": _NULL_STR, "note": _NULL_STR, "is_adjustment": {"type": "boolean"},
    "updated_at": _DT,
}
_NEW = {
    "client_id": {"type": "integer"}, "kind": {"type": "string", "enum": EntryKind.values()},
    "started_at": _DT, "ended_at": {**_DT, "description": "Or give minutes."},
    "minutes": {"type": "integer", "minimum": 0}, "ticket_number": _NULL_INT,
    "agent_id": {**_NULL_INT, "description": "Default: the token's user."}, "note": _NULL_STR,
}
_CHANGE = {k: v for k, v in _NEW.items() if k not in ("client_id", "agent_id")}
_ID = {"name": "entry_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_CLOSED = err("The entry's month is closed: `message` says why (add an adjustment instead).")
_404 = err("No such entry, or not one you may see.")
_422 = err("Invalid request data; `fields` says what is wrong.")

document("/time-entries", {
    "get": {
        "operationId": "listTimeEntries", "summary": "Time entries, oldest change first",
        "parameters": [
            {"name": n, "in": "query", "required": False, "schema": s, "description": d}
            for n, s, d in (
                ("client_id", {"type": "integer"}, "Only this client's entries."),
                ("ticket_number", {"type": "integer"}, "Only entries of this ticket."),
                ("agent_id", {"type": "integer"}, "Only this agent's entries."),
                ("kind", {"type": "string", "enum": EntryKind.values()}, "Kind of work."),
                ("source", {"type": "string", "enum": EntrySource.values()}, "Where from."),
                ("period", {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"}, "YYYY-MM."),
            )
        ] + LIST_PARAMETERS,
        "responses": {"200": ok("A page of entries.", "TimeEntryList"), **GET_RESPONSES,
                      "422": _422},
    },
    "post": {
        "operationId": "createTimeEntry", "summary": "Log time (staff; billed by the rules)",
        "requestBody": body("NewTimeEntry"),
        "responses": {"201": ok("The new entry.", "TimeEntry"), "401": GET_RESPONSES["401"],
                      "403": GET_RESPONSES["403"], "404": err("No such client for this token."),
                      "409": _CLOSED, "422": _422, "429": GET_RESPONSES["429"]},
    },
}, {"TimeEntry": {"type": "object", "properties": _ENTRY, "required": list(_ENTRY)},
    "TimeEntryList": list_schema("TimeEntry"),
    "NewTimeEntry": {"type": "object", "properties": _NEW,
                     "required": ["client_id", "kind", "started_at"]},
    "TimeEntryChange": {"type": "object", "properties": _CHANGE, "required": []}})
document("/time-entries/{entry_id}", {
    "get": {"operationId": "getTimeEntry", "summary": "One entry", "parameters": [_ID],
            "responses": {"200": ok("The entry.", "TimeEntry"), **GET_RESPONSES, "404": _404}},
    "patch": {"operationId": "updateTimeEntry",
              "summary": "Change an entry of an open month (billing is recomputed)",
              "parameters": [_ID], "requestBody": body("TimeEntryChange"),
              "responses": {"200": ok("The entry after the change.", "TimeEntry"),
                            "401": GET_RESPONSES["401"], "403": GET_RESPONSES["403"],
                            "404": _404, "409": _CLOSED, "422": _422,
                            "429": GET_RESPONSES["429"]}},
    "delete": {"operationId": "deleteTimeEntry", "summary": "Remove an entry of an open month",
               "parameters": [_ID],
               "responses": {"204": {"description": "Removed."}, "401": GET_RESPONSES["401"],
                             "403": GET_RESPONSES["403"], "404": _404, "409": _CLOSED,
                             "429": GET_RESPONSES["429"]}},
})
