"""``/admin/mailboxes``: each support mailbox's last poll, last error, mail taken today, failed
mail, and a button that tries its login now."""

from __future__ import annotations

from flask import abort, current_app, render_template
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf import FlaskForm

from . import bp


def _result_text(name: str, user: str, folder: str, check) -> str:
    """The one line the admin reads after "Test connection"."""
    if check.ok:
        return ngettext(
            "%(name)s: signed in as %(user)s; %(num)d message in %(folder)s.",
            "%(name)s: signed in as %(user)s; %(num)d messages in %(folder)s.",
            check.messages or 0, name=name, user=user, folder=folder,
        )
    if check.kind == "auth":
        return _("%(name)s: the server refused the user name or password for %(user)s.",
                 name=name, user=user)
    if check.kind == "tls":
        return _("%(name)s: no secure connection: %(detail)s", name=name, detail=check.detail)
    if check.kind == "connect":
        return _("%(name)s: the server cannot be reached: %(detail)s", name=name,
                 detail=check.detail)
    if check.kind == "config":
        return _("The mailbox settings are wrong: %(detail)s", detail=check.detail)
    return _("%(name)s: the server answered with an error: %(detail)s", name=name,
             detail=check.detail)


def _page(result: dict | None = None, status: int = 200):
    from mail_ingest.status import mailbox_overview  # ingest calls helpdesk, not the reverse

    rows, config_error = mailbox_overview(current_app.config)
    return render_template("admin/mailboxes.html", rows=rows, config_error=config_error,
                           result=result, form=FlaskForm()), status


@bp.route("/mailboxes")
def mailboxes():
    return _page()


@bp.post("/mailboxes/<int:index>/test")
def test_mailbox(index: int):
    """Log in to the mailbox now (what ingest does first) and say how it went."""
    from mail_ingest.status import check_configured

    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        config, check = check_configured(current_app.config, index)
    except LookupError:
        abort(404)
    if config is None:
        text = _result_text("", "", "", check)
    else:
        text = _result_text(config.name, config.user, config.folder, check)
    return _page({"index": index, "ok": check.ok, "text": text}, 200 if check.ok else 422)
