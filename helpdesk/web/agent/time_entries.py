"""Logging time from the ticket page (a phone call, time by hand) and editing or deleting an entry.

Views validate and call the ledger; the services flush and the view commits."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...accounting.importers.cdr import normalize_phone
from ...accounting.ledger import (
    LedgerError,
    delete_entry,
    log_entry,
    update_entry,
)
from ...auth.policy import (
    can_edit_time_entry,
    get_ticket_by_number_or_404,
)
from ...extensions import db
from ...models import (
    Client,
    Contact,
    ContactPhone,
    EntryKind,
    EntrySource,
    Ticket,
)
from . import bp
from .time_forms import (
    DeleteForm,
    EditEntryForm,
    ManualTimeForm,
    PhoneCallForm,
    _aware,
    _kind_choices,
    _viewer_zone,
)
from .time_panel import (
    _back_from_entry,
    _back_to_ticket,
    _entry_or_404,
    _ticket_client,
    _ticket_page_with,
)

# -- phone call and time by hand -------------------------------------------------------------


def _contact_by_number(number: str) -> Contact | None:
    normalized = normalize_phone(number, current_app.config.get("PHONE_COUNTRY_CODE", "381"))
    if not normalized:
        return None
    return db.session.scalar(
        select(Contact).join(ContactPhone, ContactPhone.contact_id == Contact.id)
        .where(ContactPhone.normalized == normalized)
    )


@bp.post("/tickets/<int:number>/time/call")
def log_call(number: int):
    """Record a phone call; the caller's number is matched to a contact."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    form = PhoneCallForm(prefix="call")
    if not form.validate_on_submit():
        return _ticket_page_with(number, 400, call=form)
    client = _ticket_client(ticket)
    contact = _contact_by_number(form.caller.data) if form.caller.data else None
    if contact is not None and client is not None and contact.client_id != client.id:
        form.caller.errors.append(_("This number is a contact of another client."))
        return _ticket_page_with(number, 400, call=form)
    if client is None and contact is not None:
        client = db.session.get(Client, contact.client_id)
    if client is None:
        form.caller.errors.append(_("The ticket has no client: give a known caller number."))
        return _ticket_page_with(number, 400, call=form)
    caller = form.caller.data.strip() if form.caller.data else ""
    who = (f"{contact.name} ({caller})" if contact else caller) if caller else ""
    note = "\n".join(t for t in (
        _("Call from %(who)s", who=who) if who else "", (form.note.data or "").strip()
    ) if t) or None
    try:
        log_entry(client=client, kind=EntryKind.PHONE, started_at=_aware(form.started_at.data),
                  minutes=form.minutes.data, ticket=ticket, agent=current_user,
                  source=EntrySource.MANUAL, note=note, user=current_user)
    except LedgerError as exc:
        db.session.rollback()
        form.started_at.errors.append(str(exc))
        return _ticket_page_with(number, 409, call=form)
    db.session.commit()
    if caller and contact is None:
        flash(_("Call recorded. The number %(n)s is not a known contact's.", n=caller), "info")
    else:
        flash(_("Call recorded."), "info")
    return _back_to_ticket(ticket)


@bp.post("/tickets/<int:number>/time")
def log_time(number: int):
    """Record time by hand: kind, start, minutes, note."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    form = ManualTimeForm(prefix="time")
    form.kind.choices = _kind_choices()
    if not form.validate_on_submit():
        return _ticket_page_with(number, 400, manual=form)
    client = _ticket_client(ticket)
    if client is None:
        form.kind.errors.append(_("The ticket has no client to bill: set the client first."))
        return _ticket_page_with(number, 400, manual=form)
    try:
        log_entry(client=client, kind=form.kind.data, started_at=_aware(form.started_at.data),
                  minutes=form.minutes.data, ticket=ticket, agent=current_user,
                  source=EntrySource.MANUAL, note=(form.note.data or "").strip() or None,
                  user=current_user)
    except LedgerError as exc:
        db.session.rollback()
        form.started_at.errors.append(str(exc))
        return _ticket_page_with(number, 409, manual=form)
    db.session.commit()
    flash(_("Time recorded."), "info")
    return _back_to_ticket(ticket)


# -- editing an entry ------------------------------------------------------------------------


@bp.route("/time/<int:entry_id>/edit", methods=["GET", "POST"])
def edit_entry(entry_id: int):
    """Edit an entry: an agent their own of an open month, an admin any of an open month."""
    entry = _entry_or_404(entry_id)
    if not can_edit_time_entry(current_user, entry):
        abort(403)
    if entry.is_adjustment:
        return redirect(url_for("agent.client_time", client_id=entry.client_id,
                                month=entry.period))
    zone = _viewer_zone()
    ticket = db.session.get(Ticket, entry.ticket_id) if entry.ticket_id else None
    form = EditEntryForm(
        prefix="edit", kind=entry.kind,
        started_at=entry.started_at.astimezone(zone).replace(tzinfo=None, second=0,
                                                             microsecond=0),
        minutes=entry.minutes,
        note=entry.note, ticket_number=ticket.number if ticket else None,
    )
    form.kind.choices = _kind_choices()
    status = 200
    if form.validate_on_submit():
        changes: dict[str, Any] = {
            "kind": form.kind.data,
            "note": (form.note.data or "").strip() or None,
        }
        new_start = _aware(form.started_at.data)
        old_local = entry.started_at.astimezone(zone).replace(second=0, microsecond=0)
        if new_start != old_local.astimezone(ZoneInfo("UTC")):
            changes["started_at"] = new_start
        if form.minutes.data != entry.minutes or "started_at" in changes:
            changes["minutes"] = form.minutes.data
        if form.ticket_number.data:
            target = db.session.scalar(
                select(Ticket).where(Ticket.number == form.ticket_number.data)
            )
            if target is None or target.client_id not in (None, entry.client_id):
                form.ticket_number.errors.append(_("No ticket of this client has that number."))
            else:
                changes["ticket_id"] = target.id
        else:
            changes["ticket_id"] = None
        if not form.ticket_number.errors:
            try:
                update_entry(entry, user=current_user, **changes)
            except LedgerError as exc:
                db.session.rollback()
                form.started_at.errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("Entry saved."), "info")
                return _back_from_entry(entry)
        status = 409 if form.started_at.errors else 400
    elif request.method == "POST":
        status = 400
    return render_template("agent/time_edit.html", entry=entry, form=form,
                           delete_form=DeleteForm(prefix="delete", formdata=None),
                           zone=str(zone)), status


@bp.post("/time/<int:entry_id>/delete")
def delete_time_entry(entry_id: int):
    """Delete an entry of an open month (the audit log keeps it)."""
    entry = _entry_or_404(entry_id)
    if not can_edit_time_entry(current_user, entry):
        abort(403)
    form = DeleteForm(prefix="delete")
    if not form.validate_on_submit():
        abort(400)
    back = _back_from_entry(entry)
    try:
        delete_entry(entry, user=current_user)
    except LedgerError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    db.session.commit()
    flash(_("Entry deleted."), "info")
    return back
