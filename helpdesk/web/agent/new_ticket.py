"""``/console/tickets/new``: an agent opens a ticket for a client (a phone call with no email)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ...auth.policy import get_client_or_404
from ...extensions import db
from ...models import Client, Contact, User
from ...tickets.opening import OpeningError, open_for_client
from . import bp
from .forms import NewTicketForm
from .routes import _translate_once, assignee_choices


def _open_clients() -> list[Client]:
    return list(db.session.scalars(
        select(Client).where(Client.archived_at.is_(None)).order_by(Client.name)))


def _contacts(client: Client) -> list[Contact]:
    return list(db.session.scalars(
        select(Contact).where(Contact.client_id == client.id)
        .order_by(Contact.is_primary.desc(), Contact.name, Contact.id)))


def _page(form: NewTicketForm | None, client: Client | None, status: int = 200):
    if form is not None:
        contacts = _contacts(client)
        form.contact.choices = [SelectChoice("", _("Nobody in particular"))] + [
            SelectChoice(str(c.id), f"{c.name} <{c.email}>" if c.email else c.name)
            for c in contacts
        ]
        form.assignee.choices = assignee_choices()
        for select_field in (form.channel, form.priority):
            _translate_once(select_field)
    return render_template("agent/new_ticket.html", form=form, client=client,
                           clients=_open_clients()), status


@bp.route("/tickets/new", methods=["GET", "POST"])
def new_ticket():
    """Pick the client (a GET form), then the ticket form for that client."""
    client_arg = request.values.get("client", "")
    if not client_arg.isdigit():
        if request.method == "POST":
            abort(400)
        return _page(None, None)
    client = get_client_or_404(current_user, int(client_arg))
    if client.archived_at is not None:
        # Archived clients take no new work; their tickets stay readable (issue 12).
        flash(_("%(name)s is archived: it takes no new tickets.", name=client.name), "error")
        return _page(None, None, 200 if request.method == "GET" else 400)
    if request.method == "GET":
        return _page(NewTicketForm(formdata=None, assignee=str(current_user.id)), client)
    form = NewTicketForm()
    if not form.validate_on_submit():
        return _page(form, client, 400)
    contact = None
    if form.contact.data:
        contact = db.session.get(Contact, int(form.contact.data)) if form.contact.data.isdigit() \
            else None
        if contact is None or contact.client_id != client.id:
            form.contact.errors.append(
                _("This person is not a contact of %(name)s.", name=client.name))
            return _page(form, client, 400)
    assignee_id = None
    if form.assignee.data:
        staff = db.session.get(User, int(form.assignee.data)) if form.assignee.data.isdigit() \
            else None
        if staff is None or not staff.is_staff or not staff.active:
            form.assignee.errors.append(_("Choose someone from the list."))
            return _page(form, client, 400)
        assignee_id = staff.id
    try:
        ticket = open_for_client(
            current_user, client=client, contact=contact, subject=form.subject.data,
            description=form.description.data, channel=form.channel.data,
            priority=form.priority.data, assignee_id=assignee_id,
        )
    except OpeningError as exc:
        db.session.rollback()
        target = getattr(form, exc.field, None)
        if target is None:
            flash(str(exc.message), "error")
        else:
            target.errors = [*target.errors, str(exc.message)]
        return _page(form, client, 400)
    db.session.commit()
    flash(_("Ticket #%(n)s opened for %(client)s.", n=ticket.number, client=client.name), "info")
    return redirect(url_for(".ticket", number=ticket.number))
