"""The first run (``/setup``): while no admin exists every page leads here. Also applies the
stored vendor settings to each request and serves the vendor's logo."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_user

from ...clients.validate import FieldError
from ...extensions import db
from ...settings import apply_settings, setup_needed
from ...settings.setup import run_setup
from .common import show_error
from .forms import SetupForm
from .settings_views import uploaded_logo, vendor_values

bp = Blueprint("setup", __name__)
_OPEN_ENDPOINTS = {"static", "setup.setup", "setup.logo", "i18n.set_language"}


def _still_needed() -> bool:
    app = current_app
    if app.extensions.get("helpdesk_setup_done"):
        return False
    needed = setup_needed()
    if not needed:
        app.extensions["helpdesk_setup_done"] = True
    return needed


@bp.before_app_request
def _settings_and_first_run():
    apply_settings(current_app)
    if not current_app.config.get("SETUP_REDIRECT", True):
        return None
    if request.endpoint in _OPEN_ENDPOINTS or request.path.startswith("/api/"):
        return None
    if _still_needed():
        return redirect(url_for("setup.setup"))
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if not setup_needed():
        return redirect(url_for("auth.login"))
    form = SetupForm()
    if not form.is_submitted():
        form.timezone.data = current_app.config.get("TIMEZONE")
        form.currency.data = current_app.config.get("CURRENCY")
        form.holiday_country.data = current_app.config.get("HOLIDAY_COUNTRY")
        form.workday_start.data = current_app.config.get("WORKDAY_START")
        form.workday_end.data = current_app.config.get("WORKDAY_END")
    elif form.validate_on_submit():
        try:
            admin = run_setup(settings=vendor_values(form), admin_email=form.admin_email.data,
                              admin_name=form.admin_name.data, password=form.password.data,
                              logo=uploaded_logo(form))
        except FieldError as exc:
            db.session.rollback()
            show_error(form, exc)
        else:
            db.session.commit()
            current_app.extensions["helpdesk_setup_done"] = True
            login_user(admin)
            from flask import flash

            flash(_("Your helpdesk is ready. Next: add your team and your first client."),
                  "success")
            return redirect(url_for("admin.index"))
    return render_template("admin/setup.html", form=form), (422 if form.errors else 200)


@bp.route("/vendor-logo")
def logo():
    """The configured logo: stored uploads live in the instance folder (relative path)."""
    from pathlib import Path

    value = current_app.config.get("VENDOR_LOGO")
    if not value:
        abort(404)
    path = Path(value)
    if not path.is_absolute():
        path = Path(current_app.instance_path) / path
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".gif") or not path.is_file():
        abort(404)
    return send_from_directory(path.parent, path.name, max_age=3600)
