"""``GET /api/v1/exports/<what>?month=YYYY-MM&format=csv|xlsx[&client=ID]``: the console's
exports for scripts (time entries, tickets, usage per client), streamed, same access rules."""

from __future__ import annotations

import re

from flask import abort, g, request

from ...hardening.bounds import MONTH_PATTERN
from ..downloads import export_download
from . import bp
from .openapi import document

PERIOD_RE = re.compile(MONTH_PATTERN)  # years 1970-2999: the ledger's range

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
document(
    "/exports/{what}",
    {"get": {
        "operationId": "monthExport",
        "summary": "A month's time entries, tickets or usage per client as CSV or XLSX "
                   "(admins; account managers: own clients; agents: no usage)",
        "parameters": [
            {"name": "what", "in": "path", "required": True,
             "schema": {"type": "string", "enum": ["time-entries", "tickets", "usage"]}},
            {"name": "month", "in": "query", "required": True,
             "schema": {"type": "string", "pattern": MONTH_PATTERN}},
            {"name": "format", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"}},
            {"name": "client", "in": "query", "required": False, "schema": {"type": "integer"}},
        ],
        "responses": {
            "200": {"description": "The file, streamed.", "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}}}},
            "400": {"description": "A malformed month or format.", **_ERROR},
            "401": {"description": "No or a bad bearer token.", **_ERROR},
            "404": {"description": "No such export or client, or not one you may see.", **_ERROR},
        },
    }},
)


@bp.get("/exports/<what>")
def month_export(what: str):
    from reports.export import EXPORTS, FORMATS

    if what not in EXPORTS:
        abort(404)
    period = request.args.get("month", "")
    fmt = request.args.get("format", "csv")
    if not PERIOD_RE.match(period):
        abort(400, description="month must look like YYYY-MM (1970-2999)")
    if fmt not in FORMATS:
        abort(400, description="format must be csv or xlsx")
    response = export_download(g.api_user, what, fmt, period, request.args.get("client", type=int))
    if response is None:
        abort(404)
    return response
