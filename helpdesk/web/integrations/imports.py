"""Imports in the console (admins and account managers): upload, mapping, preview, fixes,
import with a progress bar, history, undo, and the one-click ticket suggestions.

Thin: each view validates and calls one function of :mod:`helpdesk.integrations.imports`, then
commits; the rows are imported by the same code as ``flask import`` and the drop folders.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...accounting.imports import CdrColumns
from ...accounting.imports.reasons import row_reason
from ...auth.policy import require_roles
from ...extensions import db
from ...integrations import imports as service
from ...integrations.models import ImportBatch, ImportMapping, TicketSuggestion
from ...models import Client, Contact, ContactEmail, Role, Ticket, User
from . import bp
from .forms import ActionForm, FixForm, MappingForm, UploadForm

IMPORT_ROLES = (Role.ADMIN, Role.ACCOUNT_MANAGER)
#: Rows of a preview shown per page.
PAGE_ROWS = 200
LOGMEIN_FIELDS = ("customer", "technician", "technician_name", "start", "end", "work_time",
                  "session_id", "notes", "ticket")
CDR_FIELDS = CdrColumns.FIELDS


def _may_import() -> None:
    require_roles(current_user, *IMPORT_ROLES)


def _mapping_choices(form: UploadForm) -> None:
    mappings = db.session.scalars(select(ImportMapping).order_by(
        ImportMapping.source, ImportMapping.name)).all()
    form.mapping.choices = [(0, _("Standard columns"))] + [
        (m.id, f"{m.name} ({m.source})") for m in mappings]


def _batch_or_404(batch_id: int) -> ImportBatch:
    _may_import()
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        abort(404)
    return batch


@bp.route("/imports", methods=["GET", "POST"])
def imports():
    _may_import()
    form = UploadForm()
    _mapping_choices(form)
    if form.validate_on_submit():
        mapping = db.session.get(ImportMapping, form.mapping.data) if form.mapping.data else None
        if mapping is not None and mapping.source != form.source.data:
            form.mapping.errors.append(_("This mapping is for another source."))
        else:
            limit = int(current_app.config["IMPORT_MAX_UPLOAD_MB"]) << 20
            content = form.file.data.read(limit + 1)
            if len(content) > limit:
                form.file.errors.append(_("The file is too large."))
            else:
                try:
                    batch = service.new_batch(
                        content, form.file.data.filename, form.source.data, user=current_user,
                        mapping=mapping, skip_bad=form.skip_bad.data)
                except service.ImportRefused as exc:
                    db.session.rollback()
                    form.file.errors.append(str(exc))
                else:
                    db.session.commit()
                    service.submit(batch.id)  # the preview runs in the background
                    return redirect(url_for(".import_batch", batch_id=batch.id))
    history = db.session.scalars(select(ImportBatch).where(
        ImportBatch.status.not_in(service.OPEN)).order_by(ImportBatch.id.desc()).limit(50)).all()
    mappings = db.session.scalars(select(ImportMapping).order_by(
        ImportMapping.source, ImportMapping.name)).all()
    return render_template("integrations/imports.html", form=form, history=history,
                           mappings=mappings)


def _fix_form(row: dict[str, Any], clients: list[Client]) -> FixForm:
    form = FixForm(prefix=f"fix{row['line_no']}", formdata=None)
    form.client_id.choices = [(0, "—")] + [(c.id, c.name) for c in clients]
    form.client_id.data = row.get("client_id") or 0
    return form


@bp.route("/imports/<int:batch_id>")
def import_batch(batch_id: int):
    batch = _batch_or_404(batch_id)
    all_rows = (batch.report or {}).get("rows", [])
    counts: dict[str, int] = {}
    for r in all_rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    # A large file is shown a page of rows at a time, optionally one state only.
    state = request.args.get("state", "")
    shown = [r for r in all_rows if r["state"] == state] if state in counts else all_rows
    pages = max(1, -(-len(shown) // PAGE_ROWS))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    rows = shown[(page - 1) * PAGE_ROWS:page * PAGE_ROWS]
    clients = db.session.scalars(select(Client).where(Client.archived_at.is_(None))
                                 .order_by(Client.name)).all()
    names = {c.id: c.name for c in clients}
    ticket_ids = {r.get("ticket_id") for r in rows} | {r.get("suggested_ticket_id") for r in rows}
    tickets = {t.id: t for t in db.session.scalars(
        select(Ticket).where(Ticket.id.in_([i for i in ticket_ids if i])))}
    fix_forms = {r["line_no"]: _fix_form(r, clients) for r in rows
                 if batch.status == "preview" and r["state"] in ("unmatched", "imported",
                                                                 "skipped")}
    suggestions = db.session.scalars(select(TicketSuggestion).where(
        TicketSuggestion.batch_id == batch.id).order_by(TicketSuggestion.id)).all()
    warnings = [w if isinstance(w, str) else f"{_('line')} {w['line_no']} ({w['ref']}): "
                f"{row_reason(w)}" for w in (batch.report or {}).get("warnings", [])]
    return render_template(
        "integrations/import_batch.html", batch=batch, rows=rows, names=names, tickets=tickets,
        fix_forms=fix_forms, action=ActionForm(), suggestions=suggestions, counts=counts,
        who=db.session.get(User, batch.user_id) if batch.user_id else None,
        reasons={r["line_no"]: row_reason(r) for r in rows}, warnings=warnings,
        working=batch.status in service.WORKING, progress=service.progress_of(batch),
        page=page, pages=pages, state=state if state in counts else "",
    )


@bp.post("/imports/<int:batch_id>/fix")
def import_fix(batch_id: int):
    batch = _batch_or_404(batch_id)
    line = request.form.get("line_no", "")
    form = FixForm(prefix=f"fix{line}")
    form.client_id.choices = [(0, "—")] + [
        (c.id, c.name) for c in db.session.scalars(select(Client))]
    if not line.isdigit() or not form.validate_on_submit():
        flash(_("Choose a client, a contact or a ticket."), "error")
        return redirect(url_for(".import_batch", batch_id=batch.id))
    client_id = form.client_id.data or None
    ticket_id = None
    if form.ticket_number.data:
        ticket = db.session.scalar(select(Ticket).where(Ticket.number == form.ticket_number.data))
        if ticket is None:
            flash(_("No ticket #%(number)s.", number=form.ticket_number.data), "error")
            return redirect(url_for(".import_batch", batch_id=batch.id))
        ticket_id = ticket.id
        client_id = ticket.client_id or client_id
    elif form.contact_email.data:
        client_id = db.session.scalar(
            select(Contact.client_id).join(ContactEmail, ContactEmail.contact_id == Contact.id)
            .where(ContactEmail.email == form.contact_email.data.strip().lower()))
        if client_id is None:
            flash(_("No contact with the address %(email)s.", email=form.contact_email.data),
                  "error")
            return redirect(url_for(".import_batch", batch_id=batch.id))
    try:
        service.set_fix(batch, int(line), client_id=client_id, ticket_id=ticket_id,
                        user=current_user, recompute=False)
    except service.ImportRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Line %(line)s: match saved.", line=line), "success")
        service.submit(batch.id)  # the preview is redone in the background
    lines = [r["line_no"] for r in (batch.report or {}).get("rows", [])]
    page = lines.index(int(line)) // PAGE_ROWS + 1 if int(line) in lines else 1
    return redirect(url_for(".import_batch", batch_id=batch.id, page=page if page > 1 else None)
                    + f"#line-{line}")


@bp.post("/imports/<int:batch_id>/run")
def import_run(batch_id: int):
    batch = _batch_or_404(batch_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        service.request_import(batch)
    except service.ImportRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        service.submit(batch.id)  # the import runs in the background; the page shows it
    target = url_for(".import_batch", batch_id=batch.id)
    if request.accept_mimetypes.best == "application/json":
        return jsonify(redirect=target)
    return redirect(target)


@bp.get("/imports/<int:batch_id>/status")
def import_status(batch_id: int):
    batch = _batch_or_404(batch_id)
    return jsonify(service.progress_of(batch))


@bp.post("/imports/<int:batch_id>/undo")
def import_undo(batch_id: int):
    batch = _batch_or_404(batch_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        removed = service.undo(batch, current_user)
    except service.ImportRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Undone: %(count)s entries removed.", count=removed), "success")
    return redirect(url_for(".import_batch", batch_id=batch.id))


@bp.post("/suggestions/<int:suggestion_id>/<decision>")
def suggestion(suggestion_id: int, decision: str):
    _may_import()
    item = db.session.get(TicketSuggestion, suggestion_id)
    if item is None or decision not in ("confirm", "dismiss"):
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    batch_id = item.batch_id
    try:
        if decision == "confirm":
            service.confirm_suggestion(item, current_user)
        else:
            service.dismiss_suggestion(item, current_user)
    except service.ImportRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
    if batch_id:
        return redirect(url_for(".import_batch", batch_id=batch_id))
    return redirect(url_for(".imports"))


@bp.route("/imports/mappings/new", methods=["GET", "POST"], endpoint="mapping_new")
@bp.route("/imports/mappings/<int:mapping_id>", methods=["GET", "POST"])
def mapping_edit(mapping_id: int | None = None):
    _may_import()
    mapping = db.session.get(ImportMapping, mapping_id) if mapping_id else None
    if mapping_id and mapping is None:
        abort(404)
    form = MappingForm()
    if request.method == "GET":
        if mapping is not None:
            form.name.data, form.source.data = mapping.name, mapping.source
            form.is_default.data = mapping.is_default
            for name, value in (mapping.columns or {}).items():
                if mapping.source == "cdr" and name in CDR_FIELDS:
                    name = f"cdr_{name}"
                if hasattr(form, name) and name not in ("name", "source"):
                    getattr(form, name).data = ", ".join(value) if isinstance(value, list) \
                        else value
        else:
            defaults = service.LogmeinColumns().as_dict()
            for name in LOGMEIN_FIELDS:
                value = defaults[name]
                getattr(form, name).data = ", ".join(value) if isinstance(value, list) else value
    if form.validate_on_submit():
        columns = _columns(form)
        taken = db.session.scalar(select(ImportMapping.id).where(
            ImportMapping.source == form.source.data, ImportMapping.name == form.name.data,
            ImportMapping.id != (mapping.id if mapping else 0)))
        if taken:
            form.name.errors.append(_("A mapping of this source has this name already."))
        elif columns is not None:
            saved = service.save_mapping(mapping, source=form.source.data, name=form.name.data,
                                         columns=columns, is_default=form.is_default.data,
                                         user=current_user)
            db.session.commit()
            flash(_("Mapping %(name)s saved.", name=saved.name), "success")
            return redirect(url_for(".imports"))
    return render_template("integrations/import_mapping.html", form=form, mapping=mapping)


def _columns(form: MappingForm) -> dict[str, Any] | None:
    """The mapping's columns from the form, or None after marking the missing ones."""
    if form.source.data == "cdr":
        columns = {name: (getattr(form, f"cdr_{name}").data or "").strip()
                   for name in CDR_FIELDS}
        if any(columns.values()):  # a CSV export read by its headers: these are needed
            needed = [n for n in ("src", "dst", "start", "billsec") if not columns[n]]
            for name in needed:
                getattr(form, f"cdr_{name}").errors.append(_("This column is needed."))
            if needed:
                return None
        return {**columns, "extensions": (form.extensions.data or "").strip(),
                "outside_prefix": (form.outside_prefix.data or "").strip(),
                "timezone": (form.timezone.data or "").strip()}
    columns: dict[str, Any] = {}
    for name in LOGMEIN_FIELDS:
        value = (getattr(form, name).data or "").strip()
        if name in ("customer", "notes"):
            columns[name] = [v.strip() for v in value.split(",") if v.strip()]
        else:
            columns[name] = value
    ok = True
    for name in ("customer", "start", "work_time", "session_id"):
        if not columns[name]:
            getattr(form, name).errors.append(_("This column is needed."))
            ok = False
    if form.timezone.data.strip():
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(form.timezone.data.strip())
        except (ZoneInfoNotFoundError, ValueError):
            form.timezone.errors.append(_("Not a time zone (e.g. Europe/Belgrade)."))
            ok = False
    columns["timezone"] = form.timezone.data.strip()
    columns["day_first"] = bool(form.day_first.data)
    return columns if ok else None
