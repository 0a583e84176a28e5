"""Console downloads of a month's time entries, tickets and usage as CSV or XLSX.

Access and streaming: :mod:`helpdesk.web.downloads` (the API serves the same files).
"""

from __future__ import annotations

import re

from flask import Response, abort, request
from flask_login import current_user

from ...hardening.bounds import MONTH_PATTERN
from ...models import utcnow
from ..downloads import export_download
from . import bp

PERIOD_RE = re.compile(MONTH_PATTERN)  # years 1970-2999: the ledger's range


@bp.route("/exports/<what>.<fmt>")
def export_download_view(what: str, fmt: str) -> Response:
    """``?month=YYYY-MM`` (default: this month) and optionally ``&client=ID``."""
    from reports.export import EXPORTS, FORMATS

    if what not in EXPORTS or fmt not in FORMATS:
        abort(404)
    period = request.args.get("month") or utcnow().strftime("%Y-%m")
    if not PERIOD_RE.match(period):
        abort(400, description="month must look like YYYY-MM (1970-2999)")
    response = export_download(current_user, what, fmt, period,
                               request.args.get("client", type=int))
    if response is None:
        abort(404)
    return response
