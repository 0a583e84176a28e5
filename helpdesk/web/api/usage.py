"""``GET /api/v1/clients/<id>/usage?month=YYYY-MM``: a client's month, as every other view shows it.

Admins may ask about any client and account managers about their own clients; for anyone else
the client does not exist (404), so ids of other companies are not confirmed.
"""

from __future__ import annotations

from flask import abort, g, jsonify, request

from ...accounting.periods import month_bounds, period_of
from ...accounting.usage import usage_json
from ...extensions import db
from ...hardening.bounds import MONTH_PATTERN, check_month
from ...models import Client, Role, utcnow
from . import bp
from .openapi import document

_MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$",
          "description": "A decimal amount with two places."}
_MINUTES = {"type": "integer"}
_BY_KIND = {"type": "object", "additionalProperties": _MINUTES,
            "description": "Billable minutes by kind of work (remote, phone, email, visit, "
                           "consulting, development), before free visits and warranty."}
_USAGE = {
    "client_id": {"type": "integer"},
    "month": {"type": "string", "pattern": MONTH_PATTERN},
    "status": {"type": "string", "enum": ["active", "trial", "expired", "cancelled", "none"]},
    "currency": {"type": "string"},
    "included_minutes": _MINUTES,
    "used_minutes": _BY_KIND,
    "used_minutes_by_kind": _BY_KIND,
    "billable_minutes": {**_MINUTES, "description": "Minutes counted against the package."},
    "remaining_minutes": _MINUTES,
    "out_of_hours_minutes": _MINUTES,
    "overage_minutes": _MINUTES,
    "overage_amount": _MONEY,
    "development_minutes": _MINUTES,
    "development_amount": _MONEY,
    "no_contract_amount": _MONEY,
    "fee": _MONEY,
    "addons": {"type": "array", "items": {
        "type": "object", "required": ["name", "amount"],
        "properties": {"name": {"type": "string"}, "amount": _MONEY}}},
    "free_visit_minutes": _MINUTES,
    "visits_used": _MINUTES,
    "warranty_minutes": _MINUTES,
    "worked_minutes": {**_MINUTES, "description": "Minutes really worked (logged), all entries."},
    "out_of_hours_surcharge_minutes": {
        **_MINUTES, "description": "Of billable_minutes: what the out-of-hours weighting added."},
    "adjustment_minutes": {
        **_MINUTES, "description": "Of billable_minutes: corrections booked this month (signed)."},
    "total": _MONEY,
    "closed": {"type": "boolean", "description": "The month is closed (its figures are final)."},
}
#: Present only when it applies (so the usage of earlier months reads as it always did).
_USAGE_OPTIONAL = {
    "outside_contract_minutes": {
        **_MINUTES, "description": "Minutes worked on days of the month no contract served (after "
        "the contract's end, before its start), not in billable_minutes: charged at the "
        "no-contract rate in no_contract_amount."},
}
document(
    "/clients/{client_id}/usage",
    {"get": {
        "operationId": "clientUsage",
        "summary": "A client's hours and charges for a month (admins; account managers: own "
                   "clients)",
        "parameters": [
            {"name": "client_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "month", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": MONTH_PATTERN},
             "description": "YYYY-MM in the client's time zone (default: the current month)."},
        ],
        "responses": {
            "200": {"description": "The month's usage.",
                    "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Usage"}}}},
            "400": {"description": "A malformed month.",
                    "content": {"application/problem+json": {"schema": {
                        "$ref": "#/components/schemas/Error"}}}},
            "401": {"description": "No or a bad bearer token.",
                    "content": {"application/problem+json": {"schema": {
                        "$ref": "#/components/schemas/Error"}}}},
            "404": {"description": "No such client, or not one you may see.",
                    "content": {"application/problem+json": {"schema": {
                        "$ref": "#/components/schemas/Error"}}}},
        },
    }},
    {"Usage": {"type": "object", "properties": {**_USAGE, **_USAGE_OPTIONAL},
               "required": list(_USAGE)}},
)


def _may_see_usage(user, client: Client) -> bool:
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.ACCOUNT_MANAGER and client.account_manager_id == user.id


@bp.get("/clients/<int:client_id>/usage")
def client_usage(client_id: int):
    """The usage JSON of one month (default: the client's current month)."""
    client = db.session.get(Client, client_id)
    if client is None or not _may_see_usage(g.api_user, client):
        abort(404)
    month = request.args.get("month") or period_of(utcnow(), client.timezone)
    try:
        month_bounds(check_month(month))
    except ValueError:
        abort(400, description="month must look like YYYY-MM")
    return jsonify(usage_json(client, month))
