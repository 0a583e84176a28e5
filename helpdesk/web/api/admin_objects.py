"""``/api/v1`` administration objects: clients, contacts, contracts (and package changes)
and staff; the price list is in :mod:`.admin_prices`. The same domain functions as the admin pages and the CLI.

Admin tokens may do everything. Account-manager tokens see and change the contacts and contracts
of their own clients (other clients answer 404). Agents and client users get 403.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import abort, g, jsonify, request
from sqlalchemy import select

from ...clients import services as clients
from ...clients.validate import FieldError
from ...contracts import admin as contracts
from ...extensions import db
from ...models import (
    STAFF_ROLES,
    Client,
    Contact,
    Contract,
    Package,
    Role,
    User,
)
from ...pricelist import services as pricelist
from ...staff import services as staff
from ...tickets.queues import local_today
from . import bp

PAGE_LIMIT = 200


# -- helpers --------------------------------------------------------------------------------


def _user() -> User:
    user = g.api_user
    if user.role not in (Role.ADMIN, Role.ACCOUNT_MANAGER):
        abort(403, description="Administration needs an admin or account-manager token.")
    return user


def _admin() -> User:
    user = _user()
    if user.role != Role.ADMIN:
        abort(403, description="Only admins may do this.")
    return user


def _client(client_id: int) -> Client:
    user = _user()
    client = db.session.get(Client, client_id)
    if client is None or not clients.can_manage_client(user, client):
        abort(404, description="No such client.")
    return client


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="Send a JSON object.")
    return body


def _invalid(exc: FieldError):
    db.session.rollback()
    return jsonify(error="invalid", message=exc.message, fields={exc.field: exc.message}), 422


def _answer(operation, to_json, status: int = 200):
    """Run one domain ``operation()``: 422 naming the field on bad input (nothing saved), else
    commit and answer the object it returns as JSON."""
    try:
        obj = operation()
    except FieldError as exc:
        return _invalid(exc)
    db.session.commit()
    return jsonify(to_json(obj)), status


def _day(body: dict, key: str, default: date | None = None) -> date | None:
    value = body.get(key)
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise FieldError(key, f"{value!r} is not a date YYYY-MM-DD") from None


def _after_id() -> int:
    value = request.args.get("after", "0")
    if not value.isdigit():
        abort(400, description="'after' is the last id of the previous page.")
    return int(value)


def _money(value) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def client_json(c: Client) -> dict:
    return {"id": c.id, "name": c.name, "tax_id": c.tax_id, "country": c.country,
            "timezone": c.timezone, "language": c.language,
            "domains": sorted(d.domain for d in c.domains),
            "account_manager_id": c.account_manager_id,
            "warranty_until": c.warranty_until.isoformat() if c.warranty_until else None,
            "notes": c.notes, "archived": c.archived_at is not None}


def contact_json(c: Contact) -> dict:
    return {"id": c.id, "client_id": c.client_id, "name": c.name, "language": c.language,
            "is_primary": c.is_primary, "active": c.active,
            "emails": [e.email for e in c.emails], "phones": [p.number for p in c.phones]}


def contract_json(c: Contract) -> dict:
    return {"id": c.id, "client_id": c.client_id, "package": c.package.code,
            "status": c.status, "start_date": c.start_date.isoformat(),
            "end_date": c.end_date.isoformat() if c.end_date else None,
            "auto_renew": c.auto_renew, "monthly_fee": _money(c.monthly_fee),
            "addons": [{"code": a.addon.code, "start_date": a.start_date.isoformat(),
                        "end_date": a.end_date.isoformat() if a.end_date else None}
                       for a in c.addons],
            "changes": [{"effective_date": ch.effective_date.isoformat(), "kind": ch.kind,
                         "package": ch.package.code} for ch in c.changes]}


def staff_json(u: User) -> dict:
    return {"id": u.id, "email": u.email, "name": u.name, "role": u.role,
            "language": u.language, "extension": u.extension,
            "logmein_email": u.logmein_email, "active": u.active}


def _manager(body: dict) -> tuple[bool, User | None]:
    if "account_manager_id" not in body:
        return False, None
    value = body["account_manager_id"]
    if value is None:
        return True, None
    person = db.session.get(User, value) if isinstance(value, int) else None
    if person is None:
        raise FieldError("account_manager_id", "No such account manager.")
    return True, person


# -- clients --------------------------------------------------------------------------------


@bp.get("/clients")
def api_clients():
    user = _user()
    stmt = select(Client).where(Client.id > _after_id()).order_by(Client.id).limit(PAGE_LIMIT)
    if user.role != Role.ADMIN:
        stmt = stmt.where(Client.account_manager_id == user.id)
    q = (request.args.get("q") or "").strip()
    if q:
        stmt = stmt.where(Client.name.ilike(f"%{q}%"))
    return jsonify(items=[client_json(c) for c in db.session.scalars(stmt)])


@bp.post("/clients")
def api_create_client():
    user = _admin()
    body = _body()

    def operation():
        _, manager = _manager(body)
        client = clients.create_client(
            user, name=str(body.get("name") or ""), domains=list(body.get("domains") or []),
            country=str(body.get("country") or "RS"),
            timezone=str(body.get("timezone") or "Europe/Belgrade"),
            language=str(body.get("language") or "sr_Latn"), account_manager=manager,
            tax_id=body.get("tax_id"), warranty_until=_day(body, "warranty_until"),
            notes=body.get("notes"))
        return client

    return _answer(operation, client_json, 201)


@bp.get("/clients/<int:client_id>")
def api_client(client_id: int):
    return jsonify(client_json(_client(client_id)))


@bp.patch("/clients/<int:client_id>")
def api_update_client(client_id: int):
    client = _client(client_id)
    user = _admin()
    body = _body()
    fields = {k: body[k] for k in ("name", "tax_id", "country", "timezone", "language", "notes")
              if k in body}

    def operation():
        given, manager = _manager(body)
        if given:
            fields["account_manager"] = manager
        if "warranty_until" in body:
            fields["warranty_until"] = _day(body, "warranty_until")
        clients.update_client(user, client, domains=body.get("domains"), **fields)
        if body.get("archived") is True and client.archived_at is None:
            clients.archive_client(user, client, confirm=bool(body.get("confirm")))
        elif body.get("archived") is False and client.archived_at is not None:
            clients.unarchive_client(user, client)
        return client

    return _answer(operation, client_json)


# -- contacts -------------------------------------------------------------------------------


@bp.get("/clients/<int:client_id>/contacts")
def api_contacts(client_id: int):
    client = _client(client_id)
    rows = db.session.scalars(select(Contact).where(Contact.client_id == client.id)
                              .order_by(Contact.id))
    return jsonify(items=[contact_json(c) for c in rows])


@bp.post("/clients/<int:client_id>/contacts")
def api_create_contact(client_id: int):
    client = _client(client_id)
    body = _body()

    def operation():
        contact = clients.add_contact(g.api_user, client, name=body.get("name"),
                                      emails=list(body.get("emails") or []),
                                      phones=list(body.get("phones") or []),
                                      language=body.get("language"),
                                      is_primary=bool(body.get("is_primary")))
        return contact

    return _answer(operation, contact_json, 201)


@bp.patch("/contacts/<int:contact_id>")
def api_update_contact(contact_id: int):
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        abort(404, description="No such contact.")
    _client(contact.client_id)
    body = _body()

    def operation():
        clients.update_contact(
            g.api_user, contact, name=body.get("name", contact.name),
            emails=body.get("emails", [e.email for e in contact.emails]),
            phones=body.get("phones", [p.number for p in contact.phones]),
            language=body.get("language", contact.language),
            is_primary=bool(body.get("is_primary", contact.is_primary)))
        if body.get("active") is False and contact.active:
            clients.deactivate_contact(g.api_user, contact)
        return contact

    return _answer(operation, contact_json)


# -- contracts ------------------------------------------------------------------------------


def _package(code) -> Package:
    package = db.session.scalar(select(Package).where(Package.code == str(code or "")))
    if package is None:
        raise FieldError("package", f"No package {code!r}.")
    return package


@bp.get("/clients/<int:client_id>/contracts")
def api_contracts(client_id: int):
    client = _client(client_id)
    rows = db.session.scalars(select(Contract).where(Contract.client_id == client.id)
                              .order_by(Contract.start_date))
    return jsonify(items=[contract_json(c) for c in rows])


@bp.post("/clients/<int:client_id>/contracts")
def api_create_contract(client_id: int):
    client = _client(client_id)
    body = _body()

    def operation():
        term = body.get("term_months", 12)
        if not isinstance(term, int) or isinstance(term, bool):
            raise FieldError("term_months", "term_months is a whole number of months.")
        fee = pricelist.money("monthly_fee", body["monthly_fee"]) if body.get(
            "monthly_fee") is not None else None
        contract = contracts.create_contract(
            g.api_user, client, _package(body.get("package")),
            start=_day(body, "start", local_today()), term_months=term,
            auto_renew=bool(body.get("auto_renew", True)), trial=bool(body.get("trial")),
            monthly_fee=fee)
        return contract

    return _answer(operation, contract_json, 201)


def _contract(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        abort(404, description="No such contract.")
    _client(contract.client_id)
    return contract


@bp.get("/contracts/<int:contract_id>")
def api_contract(contract_id: int):
    return jsonify(contract_json(_contract(contract_id)))


@bp.post("/contracts/<int:contract_id>/package")
def api_change_package(contract_id: int):
    contract = _contract(contract_id)
    body = _body()

    def operation():
        contracts.change_contract_package(g.api_user, contract, _package(body.get("package")),
                                          on=_day(body, "on"))
        return contract

    return _answer(operation, contract_json)


@bp.post("/contracts/<int:contract_id>/end")
def api_end_contract(contract_id: int):
    contract = _contract(contract_id)
    body = _body()

    def operation():
        on = _day(body, "end")
        if on is None:
            raise FieldError("end", "Give the last day: end YYYY-MM-DD.")
        contracts.end_contract(g.api_user, contract, on=on, today=local_today())
        return contract

    return _answer(operation, contract_json)


# -- staff ----------------------------------------------------------------------------------


@bp.get("/staff")
def api_staff():
    _admin()
    rows = db.session.scalars(select(User).where(
        User.role.in_([r.value for r in STAFF_ROLES]), User.id > _after_id())
        .order_by(User.id).limit(PAGE_LIMIT))
    return jsonify(items=[staff_json(u) for u in rows])


@bp.post("/staff")
def api_create_staff():
    user = _admin()
    body = _body()

    def operation():
        person = staff.create_staff(user, email=str(body.get("email") or ""),
                                    role=str(body.get("role") or ""), name=body.get("name"),
                                    language=body.get("language"),
                                    extension=body.get("extension"),
                                    logmein_email=body.get("logmein_email"))
        return person

    return _answer(operation, staff_json, 201)


def _person(user_id: int) -> User:
    person = db.session.get(User, user_id)
    if person is None or not person.is_staff:
        abort(404, description="No such staff member.")
    return person


@bp.get("/staff/<int:user_id>")
def api_person(user_id: int):
    _admin()
    return jsonify(staff_json(_person(user_id)))


@bp.patch("/staff/<int:user_id>")
def api_update_person(user_id: int):
    user = _admin()
    person = _person(user_id)
    body = _body()
    fields = {k: body[k] for k in ("email", "role", "name", "language", "extension",
                                   "logmein_email") if k in body}

    def operation():
        staff.update_staff(user, person, **fields)
        if body.get("active") is False and person.active:
            staff.deactivate_staff(user, person)
        elif body.get("active") is True and not person.active:
            staff.reactivate_staff(user, person)
        return person

    return _answer(operation, staff_json)


from . import admin_objects_doc, admin_prices  # noqa: F401  (the price list; descriptions)
