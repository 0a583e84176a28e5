"""API v1 imports (admins, account managers): send a LogMeIn report or a CDR file, get the
per-row outcome; the history. The same functions as the console and the drop folders.

``POST /imports`` takes JSON: ``source``, ``filename``, ``content_base64`` (the file's bytes,
whatever its encoding), and optionally ``mapping`` (a saved mapping's name), ``skip_bad`` and
``dry_run``. A dry run is the console's preview.
"""

from __future__ import annotations

import base64
import binascii

from flask import abort, current_app, g, jsonify, request
from sqlalchemy import select

from ...extensions import db
from ...integrations import imports as service
from ...integrations.models import ImportBatch
from ...models import Role
from . import bp
from .common import GET_RESPONSES, LIST_PARAMETERS, err, list_schema, ok, paginate
from .openapi import document
from .routes import Invalid


def batch_json(b: ImportBatch) -> dict:
    report = b.report or {}
    return {"id": b.id, "source": b.source, "origin": b.origin, "filename": b.filename,
            "status": b.status, "user_id": b.user_id, "created_at": b.created_at.isoformat(),
            "imported_at": b.imported_at.isoformat() if b.imported_at else None,
            "rows": b.rows, "created": b.created, "created_minutes": b.created_minutes,
            "duplicates": b.duplicates, "unmatched": b.unmatched, "skipped": b.skipped,
            "bad": b.bad, "summary": report.get("summary", ""),
            "outcomes": [{"line": r["line_no"], "ref": r["ref"], "state": r["state"],
                          "message": r["message"], "client_id": r["client_id"],
                          "ticket_id": r["ticket_id"], "entry_id": r["entry_id"]}
                         for r in report.get("rows", [])]}


def _importer():
    user = g.api_user
    if user.role not in (Role.ADMIN, Role.ACCOUNT_MANAGER) or (
        g.get("api_token") is not None and g.api_token.client_id is not None
    ):
        abort(403, description="Imports are for admins and account managers.")
    return user


@bp.post("/imports")
def create_import():
    user = _importer()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid({"body": "Send a JSON object with Content-Type: application/json."})
    source = data.get("source")
    if source not in service.SOURCES:
        raise Invalid({"source": f"Use one of {', '.join(service.SOURCES)}."})
    name = data.get("mapping")
    if name is not None and not isinstance(name, str):
        raise Invalid({"mapping": "A saved mapping's name."})
    mapping = service.mapping_by_name(source, name) if name else service.default_mapping(source)
    if name and mapping is None:
        raise Invalid({"mapping": "No saved mapping of this source has this name."})
    try:
        content = base64.b64decode(str(data.get("content_base64", "")), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid({"content_base64": "The file's bytes in base64."}) from None
    if len(content) > int(current_app.config["IMPORT_MAX_UPLOAD_MB"]) << 20:
        raise Invalid({"content_base64": "The file is too large."})
    filename = data.get("filename") if isinstance(data.get("filename"), str) else None
    flags = {k: data.get(k, False) for k in ("skip_bad", "dry_run")}
    if any(not isinstance(v, bool) for v in flags.values()):
        raise Invalid({k: "true or false." for k, v in flags.items() if not isinstance(v, bool)})
    try:
        batch = service.new_batch(content, (filename or f"{source}.csv")[:255], source,
                                  user=user, mapping=mapping, skip_bad=flags["skip_bad"],
                                  origin="api")
        if flags["dry_run"]:
            service.preview(batch, user)
        else:
            service.run_import(batch, user)
    except service.ImportRefused as exc:
        db.session.rollback()
        raise Invalid({"content_base64": str(exc)}) from None
    db.session.commit()
    return jsonify(batch_json(batch)), 201


@bp.get("/imports")
def list_imports():
    _importer()
    rows, cursor = paginate(select(ImportBatch), ImportBatch, ImportBatch.created_at,
                            since=ImportBatch.created_at)
    return jsonify(items=[batch_json(b) for b in rows], next_cursor=cursor)


@bp.get("/imports/<int:batch_id>")
def get_import(batch_id: int):
    _importer()
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        abort(404)
    return jsonify(batch_json(batch))


_INT = {"type": "integer"}
_NULL_INT = {"type": ["integer", "null"]}
_DT = {"type": "string", "format": "date-time"}
_OUTCOME = {"line": _INT, "ref": {"type": "string"},
            "state": {"type": "string",
                      "enum": ["imported", "duplicate", "unmatched", "skipped", "bad"]},
            "message": {"type": "string"}, "client_id": _NULL_INT, "ticket_id": _NULL_INT,
            "entry_id": _NULL_INT}
_BATCH = {"id": _INT, "source": {"type": "string", "enum": list(service.SOURCES)},
          "origin": {"type": "string"}, "filename": {"type": "string"},
          "status": {"type": "string",
                     "enum": ["queued", "previewing", "preview", "import_queued", "running",
                              "imported", "rejected", "failed", "undone", "abandoned"]},
          "user_id": _NULL_INT, "created_at": _DT,
          "imported_at": {"type": ["string", "null"], "format": "date-time"},
          "rows": _INT, "created": _INT, "created_minutes": _INT, "duplicates": _INT,
          "unmatched": _INT, "skipped": _INT, "bad": _INT, "summary": {"type": "string"},
          "outcomes": {"type": "array", "items": {"type": "object", "properties": _OUTCOME,
                                                  "required": list(_OUTCOME)}}}


document("/imports", {
    "post": {
        "operationId": "createImport",
        "summary": "Import a LogMeIn report or a CDR file (admins, account managers)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/NewImport"}}}},
        "responses": {"201": ok("What the import did, row by row.", "ImportBatch"),
                      "422": err("Unknown source or mapping, an empty or too large file.")},
    },
    "get": {"operationId": "listImports", "summary": "The import history",
            "parameters": LIST_PARAMETERS,
            "responses": {"200": ok("A page of imports.", "ImportList"), **GET_RESPONSES,
                          "422": err("Invalid parameters.")}},
}, {"ImportBatch": {"type": "object", "properties": _BATCH, "required": list(_BATCH)},
    "NewImport": {"type": "object", "required": ["source", "content_base64"], "properties": {
        "source": {"type": "string", "enum": list(service.SOURCES)},
        "filename": {"type": "string", "maxLength": 255, "description": "For the history."},
        "content_base64": {"type": "string", "description": "The file, base64-encoded."},
        "mapping": {"type": "string", "description": "A saved mapping's name (default: the "
                                                     "source's default mapping)."},
        "skip_bad": {"type": "boolean", "default": False,
                     "description": "Import the good rows of a file with bad ones."},
        "dry_run": {"type": "boolean", "default": False,
                    "description": "Only the preview: nothing is imported."}}},
    "ImportList": list_schema("ImportBatch")})
document("/imports/{batch_id}", {"get": {
    "operationId": "getImport", "summary": "One import with its rows",
    "parameters": [{"name": "batch_id", "in": "path", "required": True, "schema": _INT}],
    "responses": {"200": ok("The import.", "ImportBatch"), **GET_RESPONSES,
                  "404": err("No such import.")}}})
