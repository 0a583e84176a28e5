"""Portal self-service of the contract: packages with prices, upgrade now (with a confirmation
showing the month's prorated fee and minutes), downgrade from next month, add-ons, cancelling
the renewal, the trial's choice. Only the company's portal administrator may change anything;
every operation is one call into :mod:`helpdesk.contracts.selfservice`."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...contracts import selfservice
from ...contracts.changes import ContractChangeError
from ...contracts.lifecycle import trial_last_day
from ...contracts.services import active_contract, addons_on, package_on
from ...extensions import db
from ...models import Addon, Package, PortalRole
from . import bp
from .forms import ActionForm
from .routes import _company_figures_client, _local_today


def _serving():
    client = _company_figures_client()
    today = _local_today(client)
    contract = active_contract(client.id, today)
    return client, contract, today


def _package(code: str | None) -> Package | None:
    if not code:
        return None
    return db.session.scalar(select(Package).where(Package.code == code,
                                                   Package.active.is_(True)))


def _refused(message: str, status: int = 400) -> ResponseReturnValue:
    db.session.rollback()
    client, contract, today = _serving()
    return _page(client, contract, today, error=message), status


def _page(client, contract, today, **extra) -> str:
    package = package_on(contract, today) if contract is not None else None
    current_addons = addons_on(contract, today) if contract is not None else []
    return render_template(
        "portal/contract_change.html", client=client, contract=contract, package=package,
        packages=selfservice.packages_offered(), addons=selfservice.addons_offered(),
        current_addon_ids={ca.addon_id for ca in current_addons}, today=today,
        is_admin=current_user.portal_role == PortalRole.ADMIN, form=ActionForm(),
        trial_last_day=trial_last_day(contract) if contract is not None
        and contract.status == "trial" else None, **extra,
    )


def _guard():
    """The contract being changed, after the CSRF check; None with a response when refused."""
    _client, contract, today = _serving()
    if not ActionForm().validate_on_submit():
        return None, None, _refused(_("The form expired. Please try again."))
    if contract is None:
        return None, None, _refused(_("You have no active contract to change."))
    if current_user.portal_role != PortalRole.ADMIN:
        return None, None, _refused(
            _("Only your company's portal administrator can change the contract."), 403)
    return contract, today, None


@bp.route("/contract/change")
def contract_change() -> ResponseReturnValue:
    client, contract, today = _serving()
    return _page(client, contract, today)


def _package_change(operation):
    """Guard, read the chosen package and call ``operation(user, contract, package, today)``.

    Returns ((contract, package, result), None), or (None, the refusal page) when the form, the
    user, the package or the change rules refuse; nothing is saved then.
    """
    contract, today, refused = _guard()
    if refused is not None:
        return None, refused
    package = _package(request.form.get("package"))
    if package is None:
        return None, _refused(_("Choose a package."))
    try:
        result = operation(current_user._get_current_object(), contract, package, today)
    except ContractChangeError as exc:
        return None, _refused(str(exc))
    return (contract, package, result), None


@bp.post("/contract/upgrade")
def contract_upgrade() -> ResponseReturnValue:
    """Step 1: the confirmation page with the month's figures after the upgrade."""
    done, refused = _package_change(selfservice.upgrade_preview)
    if refused is not None:
        return refused
    contract, _package_chosen, preview = done
    return render_template("portal/contract_upgrade_confirm.html", client=contract.client,
                           contract=contract, preview=preview, form=ActionForm())


@bp.post("/contract/upgrade/confirm")
def contract_upgrade_confirm() -> ResponseReturnValue:
    done, refused = _package_change(selfservice.self_upgrade)
    if refused is not None:
        return refused
    _contract, package, change = done
    db.session.commit()
    flash(_("Your contract is on %(package)s from %(date)s.", package=package.name,
            date=format_date(change.effective_date)), "info")
    return redirect(url_for("portal.contract"))


@bp.post("/contract/downgrade")
def contract_downgrade() -> ResponseReturnValue:
    done, refused = _package_change(selfservice.self_downgrade)
    if refused is not None:
        return refused
    _contract, package, _change = done
    db.session.commit()
    flash(_("Your downgrade to %(package)s is planned for next month.", package=package.name),
          "info")
    return redirect(url_for("portal.contract"))


@bp.post("/contract/addons/<code>/<action>")
def contract_addon(code: str, action: str) -> ResponseReturnValue:
    if action not in ("add", "remove"):
        abort(404)
    contract, today, refused = _guard()
    if refused is not None:
        return refused
    addon = db.session.scalar(select(Addon).where(Addon.code == code))
    if addon is None:
        abort(404)
    try:
        selfservice.self_addon(current_user._get_current_object(), contract, addon, today,
                               add=action == "add")
    except ContractChangeError as exc:
        return _refused(str(exc))
    db.session.commit()
    flash(_("%(addon)s added.", addon=addon.name) if action == "add"
          else _("%(addon)s removed.", addon=addon.name), "info")
    return redirect(url_for("portal.contract"))


@bp.post("/contract/cancel-renewal")
def contract_cancel_renewal() -> ResponseReturnValue:
    contract, today, refused = _guard()
    if refused is not None:
        return refused
    try:
        selfservice.self_cancel_renewal(current_user._get_current_object(), contract, today)
    except ContractChangeError as exc:
        return _refused(str(exc))
    db.session.commit()
    flash(_("The renewal is cancelled: your contract ends on %(date)s.",
            date=format_date(contract.end_date)), "info")
    return redirect(url_for("portal.contract"))


@bp.post("/contract/trial-choice")
def contract_trial_choice() -> ResponseReturnValue:
    contract, _today, refused = _guard()
    if refused is not None:
        return refused
    code = request.form.get("package") or ""
    package = _package(code) if code != "none" else None
    if code != "none" and package is None:
        return _refused(_("Choose a package."))
    try:
        selfservice.self_trial_choice(current_user._get_current_object(), contract, package)
    except ContractChangeError as exc:
        return _refused(str(exc))
    db.session.commit()
    flash(_("Your choice is saved."), "info")
    return redirect(url_for("portal.contract"))


@bp.app_template_global("contract_history")
def _contract_history_global(client):
    """The contract history for the shared partial (console client page, portal contract)."""
    from ...contracts.history import contract_history

    return contract_history(client)
