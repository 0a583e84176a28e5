"""Client administration (``/admin/clients``): companies, domains, contacts, contracts.

Staff read; admins change everything; an account manager changes the contacts and contracts of
the clients they look after. Other changes answer 403, unknown ids 404, like the console.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ...audit_log.record import record  # noqa: F401  (domain functions audit; kept for symmetry)
from ...auth.accounts import send_later
from ...auth.policy import AGENT_ROLES, require_roles
from ...clients import services as svc
from ...clients.validate import FieldError
from ...contracts import admin as contracts
from ...extensions import db
from ...models import (
    Addon,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    Contract,
    ContractAddon,
    Package,
    Role,
    User,
)
from ...tickets.queues import local_today
from .common import keyset_page, like, saved, show_error
from .forms import (
    AddonForm,
    ArchiveForm,
    ClientForm,
    ContactForm,
    ContractForm,
    EndContractForm,
    PackageChangeForm,
    PortalForm,
    options,
    split_lines,
)

bp = Blueprint("manage", __name__)


@bp.before_request
def _staff_only():
    if not current_user.is_authenticated:
        from ...extensions import login_manager

        return login_manager.unauthorized()
    require_roles(current_user, *AGENT_ROLES)


def _client_or_404(client_id: int) -> Client:
    client = db.session.get(Client, client_id)
    if client is None:
        abort(404)
    return client


def _need_admin() -> None:
    if not svc.can_edit_client_record(current_user):
        abort(403)


def _need_manager(client: Client) -> None:
    if not svc.can_manage_client(current_user, client):
        abort(403)


def _manager_choices(form: ClientForm) -> None:
    people = db.session.scalars(select(User).where(
        User.role.in_([Role.ACCOUNT_MANAGER, Role.ADMIN]), User.active.is_(True))
        .order_by(User.name))
    form.account_manager.choices = options([("", _("Nobody"))] + [
        (str(u.id), f"{u.name} <{u.email}>") for u in people])


def _manager_from(form: ClientForm) -> User | None:
    value = form.account_manager.data or ""
    return db.session.get(User, int(value)) if value.isdigit() else None


# -- clients --------------------------------------------------------------------------------


@bp.route("/")
def clients():
    q = (request.args.get("q") or "").strip()
    show = request.args.get("show", "current")
    stmt = select(Client).options(selectinload(Client.domains),
                                  selectinload(Client.account_manager))
    if show == "archived":
        stmt = stmt.where(Client.archived_at.is_not(None))
    elif show != "all":
        stmt = stmt.where(Client.archived_at.is_(None))
    if q:
        pattern = like(q)
        stmt = stmt.where(
            Client.name.ilike(pattern, escape="\\")
            | Client.tax_id.ilike(pattern, escape="\\")
            | exists().where(ClientDomain.client_id == Client.id,
                             ClientDomain.domain.ilike(pattern, escape="\\"))
            | exists().where(Contact.client_id == Client.id, ContactEmail.contact_id == Contact.id,
                             ContactEmail.email.ilike(pattern, escape="\\"))
        )
    rows, nxt = keyset_page(stmt, Client.name, Client.id, request.args.get("cursor"))
    return render_template("admin/clients.html", clients=rows, next_cursor=nxt, q=q, show=show,
                           can_create=svc.can_edit_client_record(current_user))


def _client_values(form) -> dict:
    return {"name": form.name.data, "domains": split_lines(form.domains.data),
            "country": form.country.data, "timezone": form.timezone.data,
            "language": form.language.data, "account_manager": _manager_from(form),
            "tax_id": form.tax_id.data, "warranty_until": form.warranty_until.data,
            "notes": form.notes.data}


@bp.route("/new", methods=["GET", "POST"])
def new_client():
    _need_admin()
    form = ClientForm()
    _manager_choices(form)
    if form.validate_on_submit():
        try:
            client = svc.create_client(current_user, **_client_values(form))
        except FieldError as exc:
            db.session.rollback()
            show_error(form, exc)
        except IntegrityError:  # the same client sent twice at once (double click, two tabs)
            db.session.rollback()
            form.name.errors = [_("A client with this name or domain was just created.")]
        else:
            db.session.commit()
            flash(_("Client %(name)s created.", name=client.name), "success")
            return redirect(url_for(".client", client_id=client.id))
    return render_template("admin/client_form.html", form=form, client=None), (
        422 if form.errors else 200)


@bp.route("/<int:client_id>", methods=["GET", "POST"])
def client(client_id: int):
    client = _client_or_404(client_id)
    form = ClientForm(obj=None if request.method == "POST" else client)
    _manager_choices(form)
    if request.method == "GET":
        form.domains.data = "\n".join(sorted(d.domain for d in client.domains))
        form.account_manager.data = str(client.account_manager_id or "")
    elif not svc.can_edit_client_record(current_user):
        abort(403)
    elif form.validate_on_submit() and saved(
            form, lambda: svc.update_client(current_user, client, **_client_values(form)),
            _("Saved.")):
        return redirect(url_for(".client", client_id=client.id))
    return _client_page(client, form, status=422 if form.errors else 200)


def _client_page(client: Client, form=None, status: int = 200, **extra):
    today = local_today()
    contacts = db.session.scalars(select(Contact).where(Contact.client_id == client.id)
                                  .options(selectinload(Contact.emails),
                                           selectinload(Contact.phones))
                                  .order_by(Contact.active.desc(), Contact.is_primary.desc(),
                                            Contact.name)).all()
    portal = {c.id: svc.portal_user(c) for c in contacts}
    history = db.session.scalars(select(Contract).where(Contract.client_id == client.id)
                                 .options(selectinload(Contract.changes),
                                          selectinload(Contract.addons))
                                 .order_by(Contract.start_date.desc(), Contract.id.desc())).all()
    ctx = {"client": client, "form": form, "contacts": contacts, "portal": portal, "history": history,
               "today": today, "archive_form": extra.pop("archive_form", None) or ArchiveForm(),
               "can_admin": svc.can_edit_client_record(current_user),
               "can_manage": svc.can_manage_client(current_user, client),
               "open_tickets": svc.open_ticket_count(client),
               "contract_form": extra.pop("contract_form", None) or _contract_form()}
    ctx.update(extra)
    return render_template("admin/client.html", **ctx), status


@bp.route("/<int:client_id>/archive", methods=["POST"])
def archive(client_id: int):
    client = _client_or_404(client_id)
    _need_admin()
    form = ArchiveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        svc.archive_client(current_user, client, confirm=bool(form.confirm.data))
    except FieldError as exc:
        db.session.rollback()
        return _client_page(client, ClientForm(obj=client), status=409, archive_error=exc.message,
                            archive_confirm=exc.confirm)
    db.session.commit()
    flash(_("%(name)s is archived. Its tickets and history stay readable.", name=client.name),
          "success")
    return redirect(url_for(".client", client_id=client.id))


@bp.route("/<int:client_id>/unarchive", methods=["POST"])
def unarchive(client_id: int):
    client = _client_or_404(client_id)
    _need_admin()
    if not ArchiveForm().validate_on_submit():
        abort(400)
    svc.unarchive_client(current_user, client)
    db.session.commit()
    return redirect(url_for(".client", client_id=client.id))


# -- contacts -------------------------------------------------------------------------------


def _contact_or_404(contact_id: int) -> Contact:
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        abort(404)
    return contact


def _contact_values(form) -> dict:
    return {"name": form.name.data, "emails": split_lines(form.emails.data),
            "phones": split_lines(form.phones.data), "language": form.language.data or None,
            "is_primary": form.is_primary.data}


@bp.route("/<int:client_id>/contacts/new", methods=["GET", "POST"])
def new_contact(client_id: int):
    client = _client_or_404(client_id)
    _need_manager(client)
    form = ContactForm()
    if form.validate_on_submit() and saved(
            form, lambda: svc.add_contact(current_user, client, **_contact_values(form)),
            _("Contact added.")):
        return redirect(url_for(".client", client_id=client.id))
    return render_template("admin/contact_form.html", form=form, client=client, contact=None), (
        422 if form.errors else 200)


@bp.route("/contacts/<int:contact_id>", methods=["GET", "POST"])
def contact(contact_id: int):
    contact = _contact_or_404(contact_id)
    client = contact.client
    if request.method == "POST":
        _need_manager(client)
    form = ContactForm(obj=None if request.method == "POST" else contact)
    if request.method == "GET":
        form.emails.data = "\n".join(e.email for e in contact.emails)
        form.phones.data = "\n".join(p.number for p in contact.phones)
        form.language.data = contact.language or ""
    elif form.validate_on_submit() and saved(
            form, lambda: svc.update_contact(current_user, contact, **_contact_values(form)),
            _("Saved.")):
        return redirect(url_for(".client", client_id=client.id))
    user = svc.portal_user(contact)
    portal_form = PortalForm(portal_role=user.portal_role if user else "member")
    return render_template("admin/contact_form.html", form=form, client=client, contact=contact,
                           portal_user=user, portal_form=portal_form,
                           can_manage=svc.can_manage_client(current_user, client)), (
        422 if form.errors else 200)


@bp.route("/contacts/<int:contact_id>/deactivate", methods=["POST"])
def deactivate_contact(contact_id: int):
    contact = _contact_or_404(contact_id)
    _need_manager(contact.client)
    if not ArchiveForm().validate_on_submit():
        abort(400)
    svc.deactivate_contact(current_user, contact)
    db.session.commit()
    flash(_("%(name)s is deactivated.", name=contact.name), "success")
    return redirect(url_for(".client", client_id=contact.client_id))


@bp.route("/contacts/<int:contact_id>/portal", methods=["POST"])
def contact_portal(contact_id: int):
    contact = _contact_or_404(contact_id)
    _need_manager(contact.client)
    form = PortalForm()
    action = request.form.get("action", "invite")
    if not form.validate_on_submit():
        abort(400)
    user = svc.portal_user(contact)
    message = None
    try:
        if action == "revoke" and user is not None:
            svc.revoke_portal(current_user, user)
        elif action == "role" and user is not None and user.active:
            svc.set_portal_role(current_user, user, form.portal_role.data)
        else:
            _user, message = svc.grant_portal(current_user, contact, form.portal_role.data)
    except FieldError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".contact", contact_id=contact.id))
    db.session.commit()
    if message is not None:
        send_later(message)
        flash(_("Invitation sent to %(email)s.", email=contact.email), "success")
    else:
        flash(_("Saved."), "success")
    return redirect(url_for(".contact", contact_id=contact.id))


# -- contracts ------------------------------------------------------------------------------


def _contract_form(form: ContractForm | None = None) -> ContractForm:
    form = form or ContractForm(formdata=None, start=local_today())
    packages = db.session.scalars(
        select(Package).where(Package.active.is_(True)).order_by(Package.rank)).all()
    form.package.choices = options([(str(p.id), p.name) for p in packages])
    return form


def _fee(value: str | None) -> Decimal | None:
    from ...pricelist.services import money

    return money("monthly_fee", value) if (value or "").strip() else None


@bp.route("/<int:client_id>/contracts/new", methods=["POST"])
def new_contract(client_id: int):
    client = _client_or_404(client_id)
    _need_manager(client)
    form = _contract_form(ContractForm())
    if form.validate_on_submit() and saved(form, lambda: contracts.create_contract(
            current_user, client, _chosen(Package, form.package.data),
            start=form.start.data, term_months=form.term_months.data or 12,
            auto_renew=form.auto_renew.data, trial=form.trial.data,
            monthly_fee=_fee(form.monthly_fee.data), notes=form.notes.data),
            _("Contract created.")):
        return redirect(url_for(".client", client_id=client.id))
    return _client_page(client, ClientForm(obj=client), status=422, contract_form=form)


def _chosen(model, value, field: str = "package"):
    """The package or add-on picked in a select field, or a FieldError next to that field."""
    row = db.session.get(model, int(value)) if (value or "").isdigit() else None
    if row is None:
        raise FieldError(field, _("Choose a package.") if model is Package
                         else _("Choose an add-on."))
    return row


def _contract_or_404(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        abort(404)
    return contract


def _contract_forms(contract: Contract, **given):
    change = given.get("change") or PackageChangeForm(formdata=None)
    change.package.choices = options([(str(p.id), p.name) for p in db.session.scalars(
        select(Package).where(Package.active.is_(True), Package.id != contract.package_id)
        .order_by(Package.rank))])
    addon = given.get("addon") or AddonForm(formdata=None, start=local_today())
    addon.addon.choices = options([(str(a.id), a.name) for a in db.session.scalars(
        select(Addon).where(Addon.active.is_(True)).order_by(Addon.name))])
    end = given.get("end") or EndContractForm(formdata=None, end=contract.end_date)
    return {"change_form": change, "addon_form": addon, "end_form": end}


@bp.route("/contracts/<int:contract_id>")
def contract(contract_id: int):
    contract = _contract_or_404(contract_id)
    return _contract_page(contract)


def _contract_page(contract: Contract, status: int = 200, **given):
    return render_template("admin/contract.html", contract=contract, client=contract.client,
                           can_manage=svc.can_manage_client(current_user, contract.client),
                           **_contract_forms(contract, **given)), status


@bp.route("/contracts/<int:contract_id>/end", methods=["POST"])
def end_contract(contract_id: int):
    contract = _contract_or_404(contract_id)
    _need_manager(contract.client)
    form = EndContractForm()
    if form.validate_on_submit() and saved(
            form, lambda: contracts.end_contract(current_user, contract, on=form.end.data,
                                                 today=local_today()),
            lambda _c: _("The contract ends on %(day)s.", day=form.end.data.isoformat())):
        return redirect(url_for(".contract", contract_id=contract.id))
    return _contract_page(contract, 422, end=form)


@bp.route("/contracts/<int:contract_id>/package", methods=["POST"])
def change_package(contract_id: int):
    contract = _contract_or_404(contract_id)
    _need_manager(contract.client)
    form = PackageChangeForm()
    form.package.choices = []
    if form.validate_on_submit() and saved(
            form, lambda: contracts.change_contract_package(
                current_user, contract, _chosen(Package, form.package.data), on=form.on.data),
            lambda ch: _("%(package)s from %(day)s.", package=ch.package.name,
                         day=ch.effective_date.isoformat())):
        return redirect(url_for(".contract", contract_id=contract.id))
    return _contract_page(contract, 422, change=form)


@bp.route("/contracts/<int:contract_id>/addons", methods=["POST"])
def add_addon(contract_id: int):
    contract = _contract_or_404(contract_id)
    _need_manager(contract.client)
    form = AddonForm()
    if form.validate_on_submit() and saved(form, lambda: contracts.add_addon(
            current_user, contract, _chosen(Addon, form.addon.data, "addon"),
            start=form.start.data, end=form.end.data)):
        return redirect(url_for(".contract", contract_id=contract.id))
    return _contract_page(contract, 422, addon=form)


@bp.route("/contracts/addons/<int:term_id>/end", methods=["POST"])
def end_addon(term_id: int):
    term = db.session.get(ContractAddon, term_id)
    if term is None:
        abort(404)
    _need_manager(term.contract.client)
    form = EndContractForm()
    if form.validate_on_submit():
        try:
            contracts.end_addon(current_user, term, on=form.end.data)
        except FieldError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
    return redirect(url_for(".contract", contract_id=term.contract_id))


def today() -> date:
    return local_today()
