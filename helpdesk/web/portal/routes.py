"""Portal pages; every query goes through the access policy's company scope."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from ...auth.policy import get_client_or_404, get_ticket_by_number_or_404, ticket_scope
from ...extensions import db
from ...models import Ticket
from . import bp


@bp.route("/")
def home():
    tickets = db.session.scalars(
        ticket_scope(current_user, select(Ticket)).order_by(Ticket.created_at.desc()).limit(50)
    ).all()
    return render_template("portal/home.html", tickets=tickets, client=current_user.client)


@bp.route("/tickets/<int:number>")
def ticket(number: int):
    t = get_ticket_by_number_or_404(current_user, number)
    articles = [a for a in t.articles if not a.internal]
    return render_template("portal/ticket.html", ticket=t, articles=articles)


@bp.route("/contract")
def contract():
    client = get_client_or_404(current_user, current_user.client_id)
    return render_template("portal/contract.html", client=client)
