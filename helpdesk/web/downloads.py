"""The one way a month's export becomes a download, for the console and the API alike.

Who may export what: admins everything; account managers their own clients; agents time
entries and tickets (the usage carries money: admins and account managers only). A client the
user may not see, or an export they may not have, is "not found" (None), so ids are not
confirmed. The rows stream from the database (:mod:`reports.export`): CSV chunk by chunk, XLSX
through openpyxl's write-only workbook spooled to a temporary file.
"""

from __future__ import annotations

import tempfile

from flask import Response, send_file, stream_with_context

from ..extensions import db
from ..models import Client, Role, User

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export_scope(user: User, what: str, client_id: int | None):
    """The rows ``user`` may export (an ExportScope), or None where they may not."""
    from reports.export import ExportScope

    if user.role not in (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.AGENT):
        return None
    if user.role == Role.AGENT and what == "usage":
        return None
    manager_id = user.id if user.role == Role.ACCOUNT_MANAGER else None
    if client_id is not None:
        client = db.session.get(Client, client_id)
        if client is None or (manager_id is not None and client.account_manager_id != manager_id):
            return None
    return ExportScope(client_id=client_id, manager_id=manager_id)


def export_download(user: User, what: str, fmt: str, period: str,
                    client_id: int | None) -> Response | None:
    """The streamed download, or None (not found) when the user may not have it."""
    from reports.export import csv_chunks, export, write_xlsx

    scope = export_scope(user, what, client_id)
    if scope is None:
        return None
    data = export(what, period, scope)
    suffix = f"_client-{client_id}" if client_id else ""
    filename = f"{data.filename_stem}{suffix}.{fmt}"
    if fmt == "csv":
        response = Response(stream_with_context(csv_chunks(data)), mimetype=CSV_TYPE)
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    # Write-only workbook: rows go to disk, not memory; send_file closes (and so deletes) it.
    spool = tempfile.TemporaryFile()  # noqa: SIM115
    write_xlsx(data, spool)
    spool.seek(0)
    return send_file(spool, mimetype=XLSX_TYPE, as_attachment=True, download_name=filename)
