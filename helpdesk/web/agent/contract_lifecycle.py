"""The account manager's part of the contract lifecycle on the client page: the package a trial
converts to. (Creating and ending contracts is the contract admin's screens.)"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from ...auth.policy import get_client_or_404
from ...contracts.changes import ContractChangeError, choose_next_package
from ...contracts.selfservice import packages_offered
from ...contracts.services import active_contract
from ...extensions import db
from ...models import Package, Role, utcnow
from ...visits.planner import local_today
from . import bp

CHOOSING_ROLES = (Role.ADMIN, Role.ACCOUNT_MANAGER)


@bp.app_template_global("offered_packages")
def _offered_packages():
    return packages_offered()


@bp.post("/clients/<int:client_id>/contract/trial-choice")
def client_trial_choice(client_id: int) -> ResponseReturnValue:
    client = get_client_or_404(current_user, client_id)
    if current_user.role not in CHOOSING_ROLES:
        abort(403)
    target = url_for("agent.client", client_id=client.id) + "#trial-choice"
    if not FlaskForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "error")
        return redirect(target)
    contract = active_contract(client.id, local_today(client, utcnow()))
    code = request.form.get("package") or "none"
    package = None
    if code != "none":
        package = db.session.scalar(select(Package).where(Package.code == code,
                                                          Package.active.is_(True)))
        if package is None:
            flash(_("Choose a package."), "error")
            return redirect(target)
    if contract is None:
        flash(_("You have no active contract to change."), "error")
        return redirect(target)
    try:
        choose_next_package(contract, package, user=current_user._get_current_object())
    except ContractChangeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(target)
    db.session.commit()
    flash(_("Your choice is saved."), "info")
    return redirect(target)
