"""What time about to be logged adds to the client's bill: asked for by the time forms
(static/js/cost_preview.js) before the agent saves, computed by :mod:`helpdesk.meter.service`."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from ...auth.policy import get_ticket_by_number_or_404
from ...models import utcnow
from . import bp
from .time_forms import _aware

# -- package meter and the cost of time ---------------------------------------------------------


def _hm(minutes: int) -> str:
    """H:MM, as the ``hm`` template filter writes it."""
    sign = "-" if minutes < 0 else ""
    minutes = abs(int(minutes))
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


@bp.route("/tickets/<int:number>/time/preview")
def time_preview(number: int):
    """What the time about to be logged adds to the client's bill (asked for by the time forms)."""
    from datetime import datetime as _datetime

    from ...accounting.ledger import LedgerError
    from ...meter.service import cost_preview

    t = get_ticket_by_number_or_404(current_user, number)
    if t.client is None:
        return jsonify({"message": _("Link the ticket to a client before logging time."),
                        "costs": False})
    try:
        minutes = int(request.args.get("minutes", ""))
        started = request.args.get("started", "")
        started_at = _aware(_datetime.strptime(started, "%Y-%m-%dT%H:%M")) if started else utcnow()
        kind = request.args.get("kind", "remote")
        if not 0 < minutes <= 24 * 60:
            raise ValueError(minutes)
        preview = cost_preview(t.client, t, kind, started_at, minutes)
    except (ValueError, LedgerError):
        return jsonify({"message": "", "costs": False})
    amount = f"{preview.amount:.2f} {preview.currency}"
    if preview.over_package_minutes and preview.out_of_hours:
        message = _("This is out of hours and adds %(over)s over the package: %(amount)s",
                    over=_hm(preview.over_package_minutes), amount=amount)
    elif preview.over_package_minutes:
        message = _("This adds %(over)s over the package: %(amount)s",
                    over=_hm(preview.over_package_minutes), amount=amount)
    elif preview.costs:
        message = _("This adds %(amount)s to the client's bill.", amount=amount)
    elif preview.out_of_hours:
        message = _("Out of hours: counts as %(billable)s of the package.",
                    billable=_hm(preview.billable_minutes))
    else:
        message = _("Covered by the package (%(billable)s).", billable=_hm(preview.billable_minutes))
    return jsonify({"message": message, "costs": preview.costs or preview.out_of_hours,
                    "amount": str(preview.amount), "currency": preview.currency,
                    "over_package_minutes": preview.over_package_minutes,
                    "billable_minutes": preview.billable_minutes,
                    "out_of_hours": preview.out_of_hours})
