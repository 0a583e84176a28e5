"""Vendor settings and the business calendar (``/admin/settings``). Admins only."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...audit_log.record import record
from ...clients.validate import FieldError, check_country
from ...extensions import db
from ...settings import EDITABLE, SettingsError, locked_keys, save_settings
from ...settings.models import ClosingDay
from ...settings.setup import store_logo
from . import bp
from .common import show_error
from .forms import ArchiveForm, ClosingDayForm, VendorForm


def vendor_values(form: VendorForm) -> dict:
    return {d.key: getattr(form, d.key.lower()).data for d in EDITABLE if d.key != "VENDOR_LOGO"}


def uploaded_logo(form: VendorForm) -> bytes | None:
    upload = form.vendor_logo.data
    if upload is None or not getattr(upload, "filename", ""):
        return None
    return upload.read()


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    from flask import current_app

    form = VendorForm()
    locked = locked_keys()
    if not form.is_submitted():
        for d in EDITABLE:
            if d.key != "VENDOR_LOGO":
                getattr(form, d.key.lower()).data = current_app.config.get(d.key)
    elif form.validate_on_submit():
        values = {k: v for k, v in vendor_values(form).items() if k not in locked}
        try:
            logo = uploaded_logo(form)
            if logo is not None:
                values["VENDOR_LOGO"] = store_logo(logo)
            save_settings(values, user=current_user)
        except SettingsError as exc:
            db.session.rollback()
            show_error(form, FieldError(exc.field, exc.message))
        except FieldError as exc:
            db.session.rollback()
            show_error(form, exc)
        else:
            db.session.commit()
            flash(_("Settings saved."), "success")
            return redirect(url_for(".settings"))
    days = db.session.scalars(select(ClosingDay).order_by(ClosingDay.day.desc())).all()
    return render_template("admin/settings.html", form=form, locked=locked, days=days,
                           day_form=ClosingDayForm(formdata=None), delete_form=ArchiveForm()), (
        422 if form.errors else 200)


@bp.route("/settings/closing-days", methods=["POST"])
def add_closing_day():
    form = ClosingDayForm()
    if form.validate_on_submit():
        country = (form.country.data or "").strip().upper() or None
        message = check_country(country) if country else None
        clash = db.session.scalar(select(ClosingDay).where(
            ClosingDay.day == form.day.data,
            ClosingDay.country.is_(None) if country is None else ClosingDay.country == country))
        if message:
            form.country.errors = [message]
        elif clash is not None:
            form.day.errors = [_("That day is a closing day already.")]
        else:
            row = ClosingDay(day=form.day.data, country=country, name=form.name.data.strip())
            db.session.add(row)
            db.session.flush()
            record(row, "create", user=current_user)
            db.session.commit()
            _forget_calendars()
            flash(_("Closing day added."), "success")
            return redirect(url_for(".settings"))
    days = db.session.scalars(select(ClosingDay).order_by(ClosingDay.day.desc())).all()
    return render_template("admin/settings.html", form=_filled_vendor_form(), locked=locked_keys(),
                           days=days, day_form=form, delete_form=ArchiveForm()), 422


def _filled_vendor_form() -> VendorForm:
    from flask import current_app

    form = VendorForm(formdata=None)
    for d in EDITABLE:
        if d.key != "VENDOR_LOGO":
            getattr(form, d.key.lower()).data = current_app.config.get(d.key)
    return form


@bp.route("/settings/closing-days/<int:day_id>/delete", methods=["POST"])
def delete_closing_day(day_id: int):
    row = db.session.get(ClosingDay, day_id)
    if row is None:
        abort(404)
    if not ArchiveForm().validate_on_submit():
        abort(400)
    from ...audit_log.record import snapshot

    record(row, "delete", user=current_user, before=snapshot(row))
    db.session.delete(row)
    db.session.commit()
    _forget_calendars()
    return redirect(url_for(".settings"))


def _forget_calendars() -> None:
    from flask import g

    g.pop("_helpdesk_closing_days", None)
