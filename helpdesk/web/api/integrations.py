"""API v1 visits, monthly reports (PDF and figures) and the audit log (admins)."""

from __future__ import annotations

import io

from flask import abort, g, jsonify, request, send_file
from sqlalchemy import select

from ...accounting.periods import month_bounds
from ...accounting.usage import usage_json
from ...auth.policy import can_see_client_reports
from ...extensions import db
from ...models import AuditLog, Client, Role, Visit, VisitStatus
from . import bp
from .common import GET_RESPONSES, LIST_PARAMETERS, err, list_schema, ok, paginate, scoped_client_id
from .openapi import document
from .routes import Invalid


def visit_json(v: Visit) -> dict:
    return {"id": v.id, "client_id": v.client_id, "contract_id": v.contract_id,
            "sequence": v.sequence, "planned_date": v.planned_date.isoformat(),
            "status": v.status, "account_manager_id": v.account_manager_id,
            "time_entry_id": v.time_entry_id, "notes": v.notes,
            "created_at": v.created_at.isoformat()}


def _visible_client_ids():
    """None: every client; else the clients this caller may see visits of."""
    user = g.api_user
    scope = scoped_client_id()
    if scope is not None:
        return [scope]
    if user.is_staff:
        return None
    abort(403, description="Only staff and client users read visits.")


@bp.get("/visits")
def list_visits():
    stmt = select(Visit)
    ids = _visible_client_ids()
    if ids is not None:
        stmt = stmt.where(Visit.client_id.in_(ids))
    client_id = request.args.get("client_id")
    if client_id:
        if not (client_id.isascii() and client_id.isdigit()):
            raise Invalid({"client_id": "Must be a whole number."})
        stmt = stmt.where(Visit.client_id == int(client_id))
    if status := request.args.get("status"):
        if status not in VisitStatus.values():
            raise Invalid({"status": f"Use one of {', '.join(VisitStatus.values())}."})
        stmt = stmt.where(Visit.status == status)
    rows, cursor = paginate(stmt, Visit, Visit.created_at, since=Visit.created_at)
    return jsonify(items=[visit_json(v) for v in rows], next_cursor=cursor)


@bp.get("/visits/<int:visit_id>")
def get_visit(visit_id: int):
    visit = db.session.get(Visit, visit_id)
    ids = _visible_client_ids()
    if visit is None or (ids is not None and visit.client_id not in ids):
        abort(404)
    return jsonify(visit_json(visit))


def _report_client(client_id: int, month: str) -> Client:
    client = db.session.get(Client, client_id)
    if client is None or not can_see_client_reports(g.api_user, client):
        abort(404)
    try:
        month_bounds(month)
    except ValueError:
        abort(404)
    return client


@bp.get("/clients/<int:client_id>/reports/<month>")
def report_figures(client_id: int, month: str):
    """The figures of a client's monthly report (final once the month is closed)."""
    client = _report_client(client_id, month)
    return jsonify(usage_json(client, month))


@bp.get("/clients/<int:client_id>/reports/<month>/pdf")
def report_pdf_download(client_id: int, month: str):
    from reports.service import available_periods, report_pdf

    client = _report_client(client_id, month)
    if month not in available_periods(client):
        abort(404)
    content = report_pdf(client, month)
    db.session.commit()  # a closed month's first download stores the frozen report
    response = send_file(io.BytesIO(content), mimetype="application/pdf", as_attachment=True,
                         download_name=f"report-{client.id}-{month}.pdf", conditional=False,
                         etag=False)
    return response


def audit_json(a: AuditLog) -> dict:
    return {"id": a.id, "at": a.at.isoformat(), "user_id": a.user_id, "actor": a.actor,
            "entity_type": a.entity_type, "entity_id": a.entity_id, "action": a.action,
            "before": a.before, "after": a.after}


@bp.get("/audit")
def list_audit():
    if g.api_user.role != Role.ADMIN or scoped_client_id() is not None:
        abort(403, description="The audit log is for admins (with a token not tied to a client).")
    stmt = select(AuditLog)
    if entity := request.args.get("entity_type"):
        stmt = stmt.where(AuditLog.entity_type == entity)
    entity_id = request.args.get("entity_id")
    if entity_id:
        if not (entity_id.isascii() and entity_id.isdigit()):
            raise Invalid({"entity_id": "Must be a whole number."})
        stmt = stmt.where(AuditLog.entity_id == int(entity_id))
    if user_id := request.args.get("user_id"):
        if not (user_id.isascii() and user_id.isdigit()):
            raise Invalid({"user_id": "Must be a whole number."})
        stmt = stmt.where(AuditLog.user_id == int(user_id))
    rows, cursor = paginate(stmt, AuditLog, AuditLog.at, since=AuditLog.at)
    return jsonify(items=[audit_json(a) for a in rows], next_cursor=cursor)


_INT = {"type": "integer"}
_NULL_INT = {"type": ["integer", "null"]}
_VISIT = {"id": _INT, "client_id": _INT, "contract_id": _NULL_INT, "sequence": _INT,
          "planned_date": {"type": "string", "format": "date"},
          "status": {"type": "string", "enum": VisitStatus.values()},
          "account_manager_id": _NULL_INT, "time_entry_id": _NULL_INT,
          "notes": {"type": ["string", "null"]},
          "created_at": {"type": "string", "format": "date-time"}}
_AUDIT = {"id": _INT, "at": {"type": "string", "format": "date-time"}, "user_id": _NULL_INT,
          "actor": {"type": "string"}, "entity_type": {"type": "string"}, "entity_id": _INT,
          "action": {"type": "string"},
          "before": {"type": ["object", "null"], "description": "Values before the change."},
          "after": {"type": ["object", "null"], "description": "Values after the change."}}


def _q(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_CLIENT = {"name": "client_id", "in": "path", "required": True, "schema": _INT}
_MONTH = {"name": "month", "in": "path", "required": True,
          "schema": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
          "description": "YYYY-MM in the client's zone."}
_404 = err("No such client or month, or not one you may see.")

document("/visits", {"get": {
    "operationId": "listVisits", "summary": "On-site visits (`updated_since`: created since)",
    "parameters": [_q("client_id", _INT, "Only this client's visits."),
                   _q("status", {"type": "string", "enum": VisitStatus.values()}, "Status.")]
    + LIST_PARAMETERS,
    "responses": {"200": ok("A page of visits.", "VisitList"), **GET_RESPONSES,
                  "422": err("Invalid parameters.")},
}}, {"Visit": {"type": "object", "properties": _VISIT, "required": list(_VISIT)},
     "VisitList": list_schema("Visit"),
     "AuditEntry": {"type": "object", "properties": _AUDIT, "required": list(_AUDIT)},
     "AuditList": list_schema("AuditEntry")})
document("/visits/{visit_id}", {"get": {
    "operationId": "getVisit", "summary": "One visit",
    "parameters": [{"name": "visit_id", "in": "path", "required": True, "schema": _INT}],
    "responses": {"200": ok("The visit.", "Visit"), **GET_RESPONSES,
                  "404": err("No such visit, or not one you may see.")},
}})
document("/clients/{client_id}/reports/{month}", {"get": {
    "operationId": "reportFigures",
    "summary": "The figures of a client's monthly report (admins, the account manager, the "
               "client's users)",
    "parameters": [_CLIENT, _MONTH],
    "responses": {"200": ok("The month's figures (final when `closed`).", "Usage"),
                  **GET_RESPONSES, "404": _404},
}})
document("/clients/{client_id}/reports/{month}/pdf", {"get": {
    "operationId": "reportPdf", "summary": "The monthly report as PDF (frozen once closed)",
    "parameters": [_CLIENT, _MONTH],
    "responses": {"200": {"description": "The PDF.", "content": {"application/pdf": {
        "schema": {"type": "string", "format": "binary"}}}},
        **GET_RESPONSES, "404": _404},
}})
document("/audit", {"get": {
    "operationId": "listAudit", "summary": "The audit log, oldest first (admins)",
    "parameters": [_q("entity_type", {"type": "string"}, "Table, e.g. time_entries."),
                   _q("entity_id", _INT, "Row id."), _q("user_id", _INT, "Who acted.")]
    + LIST_PARAMETERS,
    "responses": {"200": ok("A page of audit entries.", "AuditList"), **GET_RESPONSES,
                  "422": err("Invalid parameters.")},
}})
