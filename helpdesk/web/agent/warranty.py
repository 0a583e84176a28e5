"""Marking a ticket as a warranty defect (and unmarking it, with a reason) from the ticket page."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from ...auth.policy import get_ticket_by_number_or_404
from ...contracts.warranty import WarrantyError, client_today, set_warranty_defect, under_warranty
from ...extensions import db
from ...models import Client
from . import bp


@bp.app_template_global("warranty_state")
def _warranty_state(ticket):
    """(client under warranty today, warranty's last day) for the ticket page's partial."""
    client = db.session.get(Client, ticket.client_id) if ticket.client_id else None
    if client is None:
        return False, None
    return under_warranty(client, client_today(client)), client.warranty_until


@bp.post("/tickets/<int:number>/warranty")
def ticket_warranty(number: int) -> ResponseReturnValue:
    ticket = get_ticket_by_number_or_404(current_user, number)
    target = url_for("agent.ticket", number=ticket.number) + "#warranty"
    if not FlaskForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(target)
    defect = request.form.get("defect") == "1"
    try:
        set_warranty_defect(ticket, defect, user=current_user._get_current_object(),
                            reason=request.form.get("reason", ""))
    except WarrantyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(target)
    db.session.commit()
    flash(_("Marked as a warranty defect: its work is not billed.") if defect
          else _("No longer marked as a warranty defect."), "info")
    return redirect(target)
