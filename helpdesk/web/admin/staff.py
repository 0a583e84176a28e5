"""Staff administration (``/admin/staff``): agents, account managers, admins. Admins only."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...auth.accounts import send_later
from ...clients.validate import FieldError
from ...extensions import db
from ...models import STAFF_ROLES, User
from ...staff import services as svc
from . import bp
from .common import keyset_page, like, saved, show_error
from .forms import ArchiveForm, StaffForm


def _staff_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.is_staff:
        abort(404)
    return user


@bp.route("/staff")
def staff():
    q = (request.args.get("q") or "").strip()
    stmt = select(User).where(User.role.in_([r.value for r in STAFF_ROLES]))
    if q:
        stmt = stmt.where(User.name.ilike(like(q), escape="\\")
                          | User.email.ilike(like(q), escape="\\")
                          | (User.extension == q))
    rows, nxt = keyset_page(stmt, User.name, User.id, request.args.get("cursor"))
    return render_template("admin/staff.html", people=rows, next_cursor=nxt, q=q)


def _staff_values(form) -> dict:
    return {"email": form.email.data, "role": form.role.data, "name": form.name.data,
            "language": form.language.data, "extension": form.extension.data,
            "logmein_email": form.logmein_email.data}


@bp.route("/staff/new", methods=["GET", "POST"])
def new_staff():
    form = StaffForm()
    if form.validate_on_submit():
        try:
            user = svc.create_staff(current_user, **_staff_values(form))
            message = svc.reset_link(current_user, user)
        except FieldError as exc:
            db.session.rollback()
            show_error(form, exc)
        else:
            db.session.commit()
            send_later(message)
            flash(_("%(name)s created; a link to choose a password was mailed to %(email)s.",
                    name=user.name, email=user.email), "success")
            return redirect(url_for(".staff"))
    return render_template("admin/staff_form.html", form=form, person=None), (
        422 if form.errors else 200)


@bp.route("/staff/<int:user_id>", methods=["GET", "POST"])
def edit_staff(user_id: int):
    person = _staff_or_404(user_id)
    form = StaffForm(obj=None if request.method == "POST" else person)
    if request.method == "GET":
        form.language.data = person.language or "en"
    elif form.validate_on_submit() and saved(
            form, lambda: svc.update_staff(current_user, person, **_staff_values(form)),
            _("Saved.")):
        return redirect(url_for(".staff"))
    return render_template("admin/staff_form.html", form=form, person=person,
                           action_form=ArchiveForm()), (422 if form.errors else 200)


@bp.route("/staff/<int:user_id>/<any(deactivate, reactivate, reset):action>", methods=["POST"])
def staff_action(user_id: int, action: str):
    person = _staff_or_404(user_id)
    if not ArchiveForm().validate_on_submit():
        abort(400)
    message = None
    try:
        if action == "deactivate":
            svc.deactivate_staff(current_user, person)
            text = _("%(name)s can no longer sign in; their history stays.", name=person.name)
        elif action == "reactivate":
            svc.reactivate_staff(current_user, person)
            text = _("%(name)s can sign in again.", name=person.name)
        else:
            message = svc.reset_link(current_user, person)
            text = _("A password-reset link was mailed to %(email)s.", email=person.email)
    except FieldError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".edit_staff", user_id=person.id))
    db.session.commit()
    if message is not None:
        send_later(message)
    flash(text, "success")
    return redirect(url_for(".edit_staff", user_id=person.id))
