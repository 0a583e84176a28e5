"""Thin command-line wrappers over the services: ``flask user``, ``flask demo`` and the domain groups."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from .extensions import db
from .models import ApiToken, Client, PortalRole, Role, User

user_cli = AppGroup("user", help="Manage user accounts and API tokens.")


@user_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(Role.values()), required=True)
@click.option("--client", "client_id", type=int, help="Client id (required for --role client).")
@click.option("--name", default=None, help="Display name (defaults to the email's local part).")
@click.option("--portal-role", type=click.Choice(PortalRole.values()), default=None)
@click.option("--password", default=None, help="Prompted for (hidden) when not given.")
def create_user(email, role, client_id, name, portal_role, password):
    """Create a user. Client users need --client."""
    from .clients.validate import EmailError, clean_email

    try:
        email = clean_email(email)
    except EmailError as exc:
        raise click.UsageError(str(exc)) from None
    if role == Role.CLIENT and client_id is None:
        raise click.UsageError("--client is required for a client user")
    if role != Role.CLIENT and client_id is not None:
        raise click.UsageError("--client is only for client users")
    if client_id is not None and db.session.get(Client, client_id) is None:
        raise click.UsageError(f"no client with id {client_id}")
    if db.session.scalar(select(User).where(User.email == email)):
        raise click.UsageError(f"a user with email {email} exists already")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.UsageError("the password must have at least 8 characters")
    user = User(email=email, name=name or email.split("@")[0], role=role, client_id=client_id,
                portal_role=(portal_role or PortalRole.MEMBER) if role == Role.CLIENT else None)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {role} {email} (id {user.id})")


@user_cli.command("token")
@click.argument("email")
@click.option("--name", default="cli", help="A label for the token.")
def create_token(email, name):
    """Issue an API token for /api/v1 (shown once; send it as 'Authorization: Bearer ...')."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.UsageError(f"no user {email}")
    token, plain = ApiToken.issue(user, name)
    db.session.add(token)
    db.session.commit()
    click.echo(plain)


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Only when the database has no users yet.")
def demo_command(if_empty):
    """Load the demo data set (idempotent: running it twice changes nothing)."""
    from .demo import DEMO_PASSWORD, load_demo

    if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo("database not empty: demo data not loaded")
        return
    summary = load_demo()
    db.session.commit()
    click.echo(summary.describe())
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for role, email in summary.logins:
        click.echo(f"  {role:<16} {email}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(user_cli)
    app.cli.add_command(demo_command)
    from .commands import register
    from .hardening import cli_errors

    register(app)
    cli_errors.init_app(app)  # one clear line for database/network errors (last: wraps all)
