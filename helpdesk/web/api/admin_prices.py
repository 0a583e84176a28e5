"""``/api/v1`` price list: packages with their dated prices and per-priority SLA targets, and
add-ons with their dated fees. The same domain functions as the admin pages and the CLI."""

from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from ...clients.validate import FieldError
from ...extensions import db
from ...models import Addon, Package
from ...pricelist import services as pricelist
from ...pricelist import sla_targets
from ...tickets.queues import local_today
from . import bp
from .admin_objects import _admin, _answer, _body, _day, _money, _user


def package_json(p: Package) -> dict:
    today = local_today()
    now = pricelist.price_on(p, today)
    policy = p.sla_policy
    return {"id": p.id, "code": p.code, "name": p.name, "rank": p.rank, "active": p.active,
            "included_minutes": now.included_minutes, "monthly_fee": _money(now.monthly_fee),
            "overage_rate": _money(now.overage_rate), "visits_per_year": now.visits_per_year,
            "first_response_minutes": policy.first_response_minutes if policy else None,
            "resolution_minutes": policy.resolution_minutes if policy else None,
            "sla_targets": [
                {"priority": t.priority,
                 "first_response_minutes": t.targets.first_response_minutes,
                 "resolution_minutes": t.targets.resolution_minutes, "own": t.own,
                 "since": t.since.isoformat() if t.since else None}
                for t in sla_targets.table(p, today)]}


def addon_json(a: Addon) -> dict:
    return {"id": a.id, "code": a.code, "name": a.name, "active": a.active,
            "monthly_fee": _money(pricelist.addon_price_on(a, local_today())),
            "prices": [{"effective_from": h.effective_from.isoformat(),
                        "monthly_fee": _money(h.monthly_fee)}
                       for h in pricelist.addon_history(a)]}


# -- packages -------------------------------------------------------------------------------


@bp.get("/packages")
def api_packages():
    _user()
    rows = db.session.scalars(select(Package).order_by(Package.rank))
    return jsonify(items=[package_json(p) for p in rows])


def _package_or_404(package_id: int) -> Package:
    return db.get_or_404(Package, package_id, description="No such package.")


@bp.get("/packages/<int:package_id>")
def api_package(package_id: int):
    _user()
    return jsonify(package_json(_package_or_404(package_id)))


@bp.patch("/packages/<int:package_id>")
def api_update_package(package_id: int):
    user = _admin()
    package = _package_or_404(package_id)
    body = _body()
    policy = package.sla_policy

    def operation():
        pricelist.update_package(
            user, package, name=body.get("name", package.name), rank=body.get("rank", package.rank),
            active=bool(body.get("active", package.active)),
            first_response_minutes=body.get("first_response_minutes",
                                            policy.first_response_minutes if policy else None),
            resolution_minutes=body.get("resolution_minutes",
                                        policy.resolution_minutes if policy else None))
        return package

    return _answer(operation, package_json)


def _first_of_month(body: dict):
    on = _day(body, "effective_from")
    if on is None:
        raise FieldError("effective_from", "Give effective_from YYYY-MM-01.")
    return on


@bp.post("/packages/<int:package_id>/prices")
def api_package_price(package_id: int):
    user = _admin()
    package = _package_or_404(package_id)
    body = _body()

    def operation():
        pricelist.change_price(user, package, effective_from=_first_of_month(body),
                               included_minutes=body.get("included_minutes"),
                               monthly_fee=body.get("monthly_fee"),
                               overage_rate=body.get("overage_rate"),
                               visits_per_year=body.get("visits_per_year"))
        return package

    return _answer(operation, package_json, 201)


@bp.post("/packages/<int:package_id>/sla_targets")
def api_package_sla_targets(package_id: int):
    """Own targets of one priority for tickets opened from ``effective_from`` (default today)."""
    user = _admin()
    package = _package_or_404(package_id)
    body = _body()

    def operation():
        sla_targets.set_targets(
            user, package, priority=str(body.get("priority") or ""),
            effective_from=_day(body, "effective_from", local_today()),
            first_response_minutes=body.get("first_response_minutes"),
            resolution_minutes=body.get("resolution_minutes"))
        return package

    return _answer(operation, package_json, 201)


# -- add-ons --------------------------------------------------------------------------------


@bp.get("/addons")
def api_addons():
    _user()
    rows = db.session.scalars(select(Addon).order_by(Addon.code))
    return jsonify(items=[addon_json(a) for a in rows])


@bp.get("/addons/<int:addon_id>")
def api_addon(addon_id: int):
    _user()
    return jsonify(addon_json(db.get_or_404(Addon, addon_id, description="No such add-on.")))


@bp.post("/addons/<int:addon_id>/prices")
def api_addon_price(addon_id: int):
    user = _admin()
    addon = db.get_or_404(Addon, addon_id, description="No such add-on.")
    body = _body()

    def operation():
        pricelist.change_addon_price(user, addon, effective_from=_first_of_month(body),
                                     monthly_fee=body.get("monthly_fee"))
        return addon

    return _answer(operation, addon_json, 201)
