"""Console downloads of a month's time entries, tickets and usage as CSV or XLSX.

Admins export everything; account managers their own clients; agents time entries and tickets
(the usage carries money: admins and account managers only). The rows stream from the database
(:mod:`reports.export`), so a year of entries downloads without filling the worker's memory.
"""

from __future__ import annotations

import re
import tempfile

from flask import Response, abort, request, send_file, stream_with_context
from flask_login import current_user

from ...extensions import db
from ...models import Client, Role, utcnow
from . import bp

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CSV = "text/csv; charset=utf-8"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_scope(what: str, client_id: int | None):
    """Whose rows the current user may export; 404 where they may not."""
    from reports.export import ExportScope

    if current_user.role == Role.AGENT and what == "usage":
        abort(404)
    manager_id = current_user.id if current_user.role == Role.ACCOUNT_MANAGER else None
    if client_id is not None:
        client = db.session.get(Client, client_id)
        if client is None or (manager_id is not None and client.account_manager_id != manager_id):
            abort(404)
    return ExportScope(client_id=client_id, manager_id=manager_id)


@bp.route("/exports/<what>.<fmt>")
def export_download(what: str, fmt: str) -> Response:
    """``?month=YYYY-MM`` (default: this month) and optionally ``&client=ID``."""
    from reports.export import EXPORTS, FORMATS, csv_chunks, export, write_xlsx

    if what not in EXPORTS or fmt not in FORMATS:
        abort(404)
    period = request.args.get("month") or utcnow().strftime("%Y-%m")
    if not PERIOD_RE.match(period):
        abort(400, description="month must look like YYYY-MM")
    client_id = request.args.get("client", type=int)
    data = export(what, period, export_scope(what, client_id))
    suffix = f"_client-{client_id}" if client_id else ""
    filename = f"{data.filename_stem}{suffix}.{fmt}"
    if fmt == "csv":
        response = Response(stream_with_context(csv_chunks(data)), mimetype=_CSV)
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    # Write-only workbook: rows go to disk, not memory; send_file closes (and so deletes) it.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    write_xlsx(data, spool)
    spool.seek(0)
    return send_file(spool, mimetype=_XLSX, as_attachment=True, download_name=filename)
