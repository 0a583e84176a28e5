"""Console downloads of clients' monthly usage reports (PDF) and the list on the client page.

Admins see every client's reports, account managers their own clients' (the access policy's
``can_see_client_reports``); anyone else gets 404, so client ids are not confirmed by guessing.
The reports package renders and freezes the PDFs; this module only checks access and serves.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from flask import Response, abort, send_file
from flask_login import current_user
from sqlalchemy import select

from ...auth.policy import can_see_client_reports
from ...extensions import db
from ...models import Client, ClosedMonth
from . import bp

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class ReportLink:
    """One month of the client page's report list."""

    period: str
    closed: bool


def _reports_client_or_404(client_id: int) -> Client:
    client = db.session.get(Client, client_id)
    if client is None or not can_see_client_reports(current_user, client):
        abort(404)
    return client


def client_report_links(client: Client) -> list[ReportLink] | None:
    """The client's report months for the current user, newest first; None if not theirs to see."""
    if not can_see_client_reports(current_user, client):
        return None
    # The reports package calls helpdesk services; helpdesk imports it only where it serves it.
    from reports.service import available_periods

    closed = set(db.session.scalars(select(ClosedMonth.period)))
    return [ReportLink(period, period in closed) for period in available_periods(client)]


@bp.context_processor
def _report_helpers() -> dict:
    return {"client_report_links": client_report_links}


@bp.route("/clients/<int:client_id>/reports/<period>.pdf")
def client_report_pdf(client_id: int, period: str) -> Response:
    """A client's monthly report: the frozen file of a closed month, a preliminary one else."""
    from reports.service import available_periods, report_pdf

    client = _reports_client_or_404(client_id)
    if not PERIOD_RE.match(period) or period not in available_periods(client):
        abort(404)
    body = report_pdf(client, period)
    db.session.commit()  # a closed month's first download stores the report
    response = send_file(
        io.BytesIO(body),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"{client.name} {period}.pdf",  # non-ASCII names go as filename*
        conditional=False,
        etag=False,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
