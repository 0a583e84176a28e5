"""``GET /api/v1/clients/<id>/contract-history``: terms, upgrades, downgrades, add-ons, trial
conversion and end, as the console client page, the portal and the monthly PDF list them.

The same access rule as the usage endpoint: admins any client, account managers their own."""

from __future__ import annotations

from flask import abort, g, jsonify

from ...contracts.history import KINDS, contract_history
from ...extensions import db
from ...models import Client
from . import bp
from .openapi import document
from .usage import _may_see_usage

_EVENT = {
    "day": {"type": "string", "format": "date"},
    "kind": {"type": "string", "enum": list(KINDS)},
    "name": {"type": "string", "description": "The package or add-on."},
    "before": {"type": ["string", "null"], "description": "The package before a change."},
}
_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

document(
    "/clients/{client_id}/contract-history",
    {"get": {
        "operationId": "clientContractHistory",
        "summary": "A client's contract history, oldest first (admins; account managers: own "
                   "clients)",
        "parameters": [
            {"name": "client_id", "in": "path", "required": True, "schema": {"type": "integer"}},
        ],
        "responses": {
            "200": {"description": "The history.",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["client_id", "events"],
                        "properties": {"client_id": {"type": "integer"}, "events": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/ContractEvent"}}}}}}},
            "401": {"description": "No or a bad bearer token.", **_ERROR},
            "404": {"description": "No such client, or not one you may see.", **_ERROR},
        },
    }},
    {"ContractEvent": {"type": "object", "properties": _EVENT, "required": list(_EVENT)}},
)


@bp.get("/clients/<int:client_id>/contract-history")
def client_contract_history(client_id: int):
    client = db.session.get(Client, client_id)
    if client is None or not _may_see_usage(g.api_user, client):
        abort(404)
    events = [{"day": e.day.isoformat(), "kind": e.kind, "name": e.name, "before": e.before}
              for e in contract_history(client)]
    return jsonify(client_id=client.id, events=events)
