"""Password reset by email: ask for a link, then choose a new password through it.

The request page answers the same way, and takes as long, whether or not the address has an
account; the link is signed, expires, and works once (helpdesk/auth/links.py).
"""

from __future__ import annotations

from flask import Response, flash, make_response, redirect, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from ...auth import accounts as portal_accounts
from ...extensions import db
from ...models import User
from .. import home_url
from . import bp


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), Length(min=portal_accounts.MIN_PASSWORD_LENGTH, max=200)],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


def _no_referrer(response: Response) -> Response:
    """The token is in the URL: do not hand it to other sites as a Referer."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/reset", methods=["GET", "POST"])
def reset_request() -> ResponseReturnValue:
    """Ask for a reset link by email."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        message = portal_accounts.request_password_reset(form.email.data)
        try:
            db.session.commit()
        except IntegrityError:  # the same address asked twice at once: one mail is enough
            db.session.rollback()
            message = None
        if message is not None:
            portal_accounts.send_later(message)
        return render_template("auth/reset_sent.html")
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    """Choose a new password through a link from a reset or invitation mail (usable once)."""
    link = portal_accounts.link_for_token(token)
    if link is None:
        return _invalid()
    user = db.session.get(User, link.user_id)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            portal_accounts.set_password_through_link(link, form.password.data)
        except portal_accounts.LinkUsed:
            db.session.rollback()
            return _invalid()
        db.session.commit()
        login_user(user)
        flash(_("Your new password is saved. You are signed in."), "info")
        return redirect(home_url(user))
    return _no_referrer(
        make_response(render_template("auth/reset_password.html", form=form, user=user,
                                      min_length=portal_accounts.MIN_PASSWORD_LENGTH))
    )


def _invalid() -> Response:
    return _no_referrer(make_response(render_template("auth/reset_invalid.html"), 400))
