"""``flask client``, ``flask contact``, ``flask contract``, ``flask staff`` and ``flask setup``:
thin wrappers over the same domain functions as the admin pages. Each prints the new id."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import LANGUAGES, Client, Package, PortalRole, Role, User
from .validate import FieldError

client_cli = AppGroup("client", help="Client companies: create, list, archive.")
contact_cli = AppGroup("contact", help="People of a client company.")
# ``flask contract`` is the accounting's group (upgrade, downgrade, apply-due); these join it.
from ..accounting.cli import contract_cli

staff_cli = AppGroup("staff", help="Agents, account managers and admins.")


def _fail(exc: FieldError) -> None:
    db.session.rollback()
    raise click.ClickException(exc.message)


def _client(client_id: int) -> Client:
    client = db.session.get(Client, client_id)
    if client is None:
        raise click.ClickException(f"no client with id {client_id} (see `flask client list`)")
    return client


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=name) from None


@client_cli.command("create")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, metavar="D",
              help="A mail domain of the client (repeat for several); unique across clients.")
@click.option("--country", default="RS", show_default=True, metavar="CC",
              help="Two-letter country code; its public holidays apply.")
@click.option("--timezone", default="Europe/Belgrade", show_default=True, metavar="TZ",
              help="IANA time zone of the client's working hours.")
@click.option("--language", type=click.Choice(LANGUAGES), default="sr_Latn", show_default=True,
              help="Language of mail and reports to the client.")
@click.option("--account-manager", metavar="EMAIL",
              help="Email of the dedicated account manager.")
@click.option("--tax-id", default=None, help="Tax identification number (PIB, VKN, VAT id).")
def client_create(name, domains, country, timezone, language, account_manager, tax_id):
    """Create a client company NAME; prints its id."""
    from .services import create_client

    manager = None
    if account_manager:
        from ..staff.services import staff_by_email

        manager = staff_by_email(account_manager)
        if manager is None:
            raise click.ClickException(f"no staff member {account_manager}")
    try:
        client = create_client(None, name=name, domains=domains, country=country,
                               timezone=timezone, language=language, account_manager=manager,
                               tax_id=tax_id)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(client.id)


@client_cli.command("list")
@click.option("--archived", is_flag=True, help="Also list archived clients.")
def client_list(archived):
    """List clients: id, name, domains, account manager."""
    stmt = select(Client).order_by(Client.name)
    if not archived:
        stmt = stmt.where(Client.archived_at.is_(None))
    for c in db.session.scalars(stmt):
        domains = ",".join(sorted(d.domain for d in c.domains)) or "-"
        manager = c.account_manager.email if c.account_manager else "-"
        flag = " (archived)" if c.archived_at else ""
        click.echo(f"{c.id}\t{c.name}{flag}\t{domains}\t{manager}")


@client_cli.command("archive")
@click.argument("client_id", type=int)
@click.option("--yes", is_flag=True, help="Archive even with open tickets (they stay readable).")
def client_archive(client_id, yes):
    """Archive client CLIENT_ID: no new contracts or tickets; history stays."""
    from .services import archive_client

    client = _client(client_id)
    try:
        archive_client(None, client, confirm=yes)
    except FieldError as exc:
        if exc.confirm and click.confirm(exc.message, default=False):
            archive_client(None, client, confirm=True)
        else:
            _fail(exc)
    db.session.commit()
    click.echo(client.id)


@contact_cli.command("add")
@click.argument("client_id", type=int)
@click.argument("email")
@click.option("--name", default=None, metavar="N", help="Full name (default: the address).")
@click.option("--phone", "phones", multiple=True, metavar="P",
              help="Phone number (repeat for several), e.g. '+381 11 123 4567'.")
@click.option("--language", type=click.Choice(LANGUAGES), default=None,
              help="Language of mail to this person (default: the client's).")
@click.option("--portal-role", type=click.Choice(PortalRole.values()), default=None,
              help="Invite to the portal with this role (a mail with a link is sent).")
def contact_add(client_id, email, name, phones, language, portal_role):
    """Add a contact with EMAIL to client CLIENT_ID; prints the contact's id."""
    from ..auth.accounts import send_later, wait_for_outbox
    from .services import add_contact, grant_portal

    client = _client(client_id)
    message = None
    try:
        contact = add_contact(None, client, name=name, emails=[email], phones=phones,
                              language=language)
        if portal_role:
            admin = db.session.scalar(select(User).where(User.role == Role.ADMIN,
                                                         User.active.is_(True)))
            with _link_context():
                _user, message = grant_portal(admin, contact, portal_role)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    if message is not None and not _can_link():
        click.echo("no invitation mailed: set HELPDESK_PUBLIC_URL", err=True)
    elif message is not None:
        send_later(message)
        wait_for_outbox()
    click.echo(contact.id)


@contract_cli.command("create")
@click.argument("client_id", type=int)
@click.argument("package_code")
@click.option("--start", default=None, metavar="YYYY-MM-DD", help="First day (default: today).")
@click.option("--term-months", type=int, default=12, show_default=True,
              help="Length of the term; the contract ends the day before start + term.")
@click.option("--no-auto-renew", is_flag=True, help="Do not renew at the end of the term.")
@click.option("--trial", is_flag=True, help="A free trial of TRIAL_DAYS days (no renewal).")
def contract_create(client_id, package_code, start, term_months, no_auto_renew, trial):
    """Sign a contract for CLIENT_ID on PACKAGE_CODE (basic, standard...); prints its id."""
    from ..contracts.admin import create_contract
    from ..tickets.queues import local_today

    client = _client(client_id)
    package = db.session.scalar(select(Package).where(Package.code == package_code.lower()))
    if package is None:
        codes = ", ".join(db.session.scalars(select(Package.code).order_by(Package.rank)))
        raise click.ClickException(f"no package {package_code!r} (packages: {codes or 'none'})")
    try:
        contract = create_contract(None, client, package,
                                   start=_day(start, "--start") or local_today(),
                                   term_months=term_months, auto_renew=not no_auto_renew,
                                   trial=trial)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(contract.id)


@contract_cli.command("end")
@click.argument("contract_id", type=int)
@click.option("--on", "last_day", required=True, metavar="YYYY-MM-DD",
              help="The last day the contract serves (no renewal after it).")
def contract_end(contract_id, last_day):
    """End contract CONTRACT_ID on its last day; prints its id."""
    from ..contracts.admin import end_contract
    from ..models import Contract
    from ..tickets.queues import local_today

    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise click.ClickException(f"no contract with id {contract_id}")
    try:
        end_contract(None, contract, on=_day(last_day, "--on"), today=local_today())
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(contract.id)


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["agent", "account_manager", "admin"]), required=True,
              help="What the person may do.")
@click.option("--name", default=None, metavar="N", help="Display name.")
@click.option("--language", type=click.Choice(LANGUAGES), default=None, help="Console language.")
@click.option("--extension", default=None, metavar="201",
              help="PBX extension (call imports match on it).")
@click.option("--logmein-email", default=None, metavar="E",
              help="Technician address in LogMeIn reports (imports match on it).")
@click.option("--send-reset/--no-send-reset", default=True, show_default=True,
              help="Mail a link to choose a password.")
def staff_create(email, role, name, language, extension, logmein_email, send_reset):
    """Create a staff account for EMAIL; prints its id."""
    from ..auth.accounts import reset_message, send_later, wait_for_outbox
    from ..staff.services import create_staff

    try:
        user = create_staff(None, email=email, role=role, name=name, language=language,
                            extension=extension, logmein_email=logmein_email)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    if send_reset:
        if _can_link():
            with _link_context():
                message = reset_message(user)
            send_later(message)
            wait_for_outbox()
        else:
            click.echo("no password link mailed: set HELPDESK_PUBLIC_URL (or send one from "
                       "/admin/staff)", err=True)
    click.echo(user.id)


def _link_context():
    """Links in mail from the CLI are built on PUBLIC_URL (there is no request to take it from)."""
    from flask import current_app

    base = current_app.config.get("PUBLIC_URL") or "http://localhost"
    return current_app.test_request_context(base_url=base)


def _can_link() -> bool:
    from flask import current_app

    return bool(current_app.config.get("PUBLIC_URL") or current_app.config.get("SERVER_NAME"))


@staff_cli.command("deactivate")
@click.argument("email")
def staff_deactivate(email):
    """Deactivate EMAIL: no sign-in or API access; history keeps the name."""
    from ..staff.services import deactivate_staff, staff_by_email

    user = staff_by_email(email)
    if user is None:
        raise click.ClickException(f"no staff member {email}")
    try:
        deactivate_staff(None, user)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(user.id)


@click.command("setup")
@click.option("--vendor-name", prompt="Vendor name", help="Your company's name (page header).")
@click.option("--support-address", prompt="Support address", help="Address clients write to.")
@click.option("--timezone", prompt="Time zone", default="Europe/Belgrade", show_default=True,
              help="IANA time zone of the vendor.")
@click.option("--currency", prompt="Currency", default="EUR", show_default=True,
              help="Three-letter currency code.")
@click.option("--holiday-country", prompt="Holiday country", default="RS", show_default=True,
              help="Whose public holidays are days off by default.")
@click.option("--logo", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A PNG, JPEG or GIF logo file (optional).")
@click.option("--admin-email", prompt="First admin's email", help="The first admin account.")
@click.option("--admin-name", prompt="First admin's name", help="The admin's display name.")
@click.option("--password", prompt="Admin password", hide_input=True, confirmation_prompt=True,
              help="At least 10 characters (prompted for, hidden, when not given).")
def setup_command(vendor_name, support_address, timezone, currency, holiday_country, logo,
                  admin_email, admin_name, password):
    """First run: vendor settings, the seed price list and the first admin."""
    from ..settings.setup import run_setup

    data = Path(logo).read_bytes() if logo else None
    try:
        admin = run_setup(settings={"VENDOR_NAME": vendor_name, "VENDOR_EMAIL": support_address,
                                    "TIMEZONE": timezone, "CURRENCY": currency,
                                    "HOLIDAY_COUNTRY": holiday_country},
                          admin_email=admin_email, admin_name=admin_name, password=password,
                          logo=data)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(admin.id)


COMMANDS = [client_cli, contact_cli, staff_cli, setup_command]
