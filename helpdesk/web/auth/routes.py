"""Log in and out. Failed logins are throttled per account and per address."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ...auth import end_all_sessions, throttle
from ...auth.accounts import authenticate
from ...extensions import db
from ...hardening.redirects import safe_next
from ...models import utcnow
from .. import home_url
from . import bp
from .forms import LoginForm


def _client_ip() -> str:
    # The real client address: ProxyFix (PROXY_FIX_HOPS) has applied X-Forwarded-For.
    return request.remote_addr or "unknown"


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        ip = _client_ip()
        cfg = current_app.config
        if throttle.is_locked(
            email, ip, cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_FAILURE_WINDOW_SECONDS"]
        ):
            # Same answer whether or not the account exists: no user enumeration.
            form.password.errors.append(
                _("Too many failed attempts. Try again in a few minutes.")
            )
            status = 429
        else:
            # The same password-hash work whether or not the account exists: no timing leak.
            user = authenticate(email, form.password.data)
            ok = user is not None
            throttle.record_attempt(email, ip, ok)
            if ok:
                user.last_login_at = utcnow()
                db.session.commit()
                login_user(user, remember=form.remember.data)
                return redirect(_safe_next() or home_url(user))
            db.session.commit()
            form.password.errors.append(_("Wrong email or password."))
            status = 401
    return render_template("auth/login.html", form=form), status


def _safe_next() -> str | None:
    """Only local paths: never redirect to another site after login."""
    return safe_next(request.args.get("next"))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    """End every session and remember cookie of this user (other browsers and devices too)."""
    end_all_sessions(current_user._get_current_object())
    db.session.commit()
    logout_user()
    flash(_("You are signed out on every device."), "info")
    return redirect(url_for("auth.login"))
