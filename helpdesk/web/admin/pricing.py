"""The price list (``/admin/prices``): packages with their price history, SLA targets, add-ons."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...extensions import db
from ...models import Addon, Package, Priority
from ...pricelist import services as svc
from ...pricelist import sla_targets
from ...tickets.queues import local_today
from ..filters import label
from . import bp
from .common import saved
from .forms import (
    AddonEditForm,
    AddonFeeForm,
    AddonPriceForm,
    NewPackageForm,
    PackageForm,
    PriceForm,
    SlaTargetForm,
)


def _next_month():
    today = local_today()
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1)


@bp.route("/prices")
def prices():
    today = local_today()
    packages = db.session.scalars(select(Package).order_by(Package.rank)).all()
    addons = db.session.scalars(select(Addon).order_by(Addon.name)).all()
    return render_template("admin/prices.html", packages=packages, addons=addons,
                           in_force={p.id: svc.price_on(p, today) for p in packages},
                           addon_fees={a.id: svc.addon_price_on(a, today) for a in addons},
                           new_addon=AddonPriceForm(formdata=None))


def _package_or_404(package_id: int) -> Package:
    package = db.session.get(Package, package_id)
    if package is None:
        abort(404)
    return package


def _sla_form(formdata=None, **data) -> SlaTargetForm:
    form = SlaTargetForm(formdata=formdata, prefix="s", **data)
    form.priority.choices = [(p, label(p, "priority")) for p in Priority.values()]
    return form


@bp.route("/prices/packages/<int:package_id>", methods=["GET", "POST"])
def package(package_id: int):
    package = _package_or_404(package_id)
    form = PackageForm(obj=None if request.method == "POST" else package, prefix="p")
    today = local_today()
    current = svc.price_on(package, today)
    price_form = _price_form(current)
    if request.method == "GET" and package.sla_policy is not None:
        form.first_response_minutes.data = package.sla_policy.first_response_minutes
        form.resolution_minutes.data = package.sla_policy.resolution_minutes
    if request.method == "POST" and form.validate_on_submit() and saved(
            form, lambda: svc.update_package(
                current_user, package, name=form.name.data, rank=form.rank.data,
                active=form.active.data, first_response_minutes=form.first_response_minutes.data,
                resolution_minutes=form.resolution_minutes.data), _("Saved.")):
        return redirect(url_for(".package", package_id=package.id))
    return _package_page(package, form, price_form, current)


def _package_page(package, form, price_form, current, sla_form=None):
    sla_form = sla_form or _sla_form(priority="urgent", effective_from=local_today())
    status = 422 if form.errors or price_form.errors or sla_form.errors else 200
    return render_template("admin/package.html", package=package, form=form,
                           price_form=price_form, current=current, sla_form=sla_form,
                           history=svc.history(package),
                           targets=sla_targets.table(package, local_today()),
                           sla_changes=sla_targets.planned(package)), status


def _price_form(current) -> PriceForm:
    return PriceForm(formdata=None, prefix="x", effective_from=_next_month(),
                     included_minutes=current.included_minutes,
                     monthly_fee=current.monthly_fee, overage_rate=current.overage_rate,
                     visits_per_year=current.visits_per_year)


@bp.route("/prices/packages/<int:package_id>/sla", methods=["POST"])
def package_sla(package_id: int):
    """Own SLA targets for one priority, for tickets opened from a day on."""
    package = _package_or_404(package_id)
    sla_form = _sla_form(request.form)
    if sla_form.validate_on_submit() and saved(
            sla_form, lambda: sla_targets.set_targets(
                current_user, package, priority=sla_form.priority.data,
                effective_from=sla_form.effective_from.data,
                first_response_minutes=sla_form.first_response_minutes.data,
                resolution_minutes=sla_form.resolution_minutes.data),
            lambda row: _("New targets for tickets opened from %(day)s.",
                          day=format_date(row.effective_from, "medium"))):
        return redirect(url_for(".package", package_id=package.id))
    current = svc.price_on(package, local_today())
    return _package_page(package, PackageForm(obj=package, prefix="p"), _price_form(current),
                         current, sla_form)


def _price_values(form) -> dict:
    return {"included_minutes": form.included_minutes.data, "monthly_fee": form.monthly_fee.data,
            "overage_rate": form.overage_rate.data, "visits_per_year": form.visits_per_year.data}


def _new_prices(row) -> str:
    return _("New prices from %(day)s.", day=format_date(row.effective_from, "medium"))


@bp.route("/prices/packages/<int:package_id>/price", methods=["POST"])
def package_price(package_id: int):
    package = _package_or_404(package_id)
    price_form = PriceForm(prefix="x")
    if price_form.validate_on_submit() and saved(
            price_form, lambda: svc.change_price(
                current_user, package, effective_from=price_form.effective_from.data,
                **_price_values(price_form)), _new_prices):
        return redirect(url_for(".package", package_id=package.id))
    form = PackageForm(obj=package, prefix="p")
    return _package_page(package, form, price_form, svc.price_on(package, local_today()))


@bp.route("/prices/packages/new", methods=["GET", "POST"])
def new_package():
    form = NewPackageForm()
    if form.validate_on_submit() and (package := saved(form, lambda: svc.create_package(
            current_user, code=form.code.data, name=form.name.data, rank=form.rank.data,
            first_response_minutes=form.first_response_minutes.data,
            resolution_minutes=form.resolution_minutes.data, **_price_values(form)))):
        return redirect(url_for(".package", package_id=package.id))
    return render_template("admin/package_new.html", form=form), (422 if form.errors else 200)


@bp.route("/prices/addons/<int:addon_id>", methods=["GET", "POST"])
@bp.route("/prices/addons/new", methods=["GET", "POST"], defaults={"addon_id": None})
def addon(addon_id: int | None):
    addon = db.session.get(Addon, addon_id) if addon_id else None
    if addon_id and addon is None:
        abort(404)
    form_class = AddonEditForm if addon is not None else AddonPriceForm
    form = form_class(obj=None if request.method == "POST" else addon)
    if form.validate_on_submit() and saved(form, lambda: svc.save_addon(
            current_user, addon, code=getattr(form, "code", None) and form.code.data,
            name=form.name.data, active=form.active.data,
            monthly_fee=getattr(form, "monthly_fee", None) and form.monthly_fee.data),
            _("Saved.")):
        return redirect(url_for(".prices"))
    return _addon_page(form, addon)


def _addon_page(form, addon, fee_form=None):
    if addon is not None and fee_form is None:
        fee_form = AddonFeeForm(formdata=None, prefix="x", effective_from=_next_month(),
                                monthly_fee=svc.addon_price_on(addon, local_today()))
    status = 422 if form.errors or (fee_form is not None and fee_form.errors) else 200
    return render_template(
        "admin/addon_form.html", form=form, addon=addon, fee_form=fee_form,
        current=svc.addon_price_on(addon, local_today()) if addon else None,
        history=svc.addon_history(addon) if addon else []), status


@bp.route("/prices/addons/<int:addon_id>/price", methods=["POST"])
def addon_price(addon_id: int):
    """A new fee of an add-on from the first day of a month, like a package's prices."""
    addon = db.session.get(Addon, addon_id)
    if addon is None:
        abort(404)
    fee_form = AddonFeeForm(prefix="x")
    if fee_form.validate_on_submit() and saved(
            fee_form, lambda: svc.change_addon_price(
                current_user, addon, effective_from=fee_form.effective_from.data,
                monthly_fee=fee_form.monthly_fee.data), _new_prices):
        return redirect(url_for(".addon", addon_id=addon.id))
    return _addon_page(AddonEditForm(obj=addon), addon, fee_form)
