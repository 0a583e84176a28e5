"""``flask webhooks``: list, add and remove subscriptions (the console's and the API's functions)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import User
from . import webhooks
from .events import EVENTS
from .models import WebhookSubscription

webhooks_cli = AppGroup("webhooks", help="Webhook subscriptions.")


@webhooks_cli.command("list")
def list_command() -> None:
    """Every subscription with its state."""
    for sub in db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)):
        state = "active" if sub.active else f"disabled ({sub.disabled_reason or 'by hand'})"
        click.echo(f"{sub.id}\t{sub.url}\t{','.join(sub.events)}\t{state}")


@webhooks_cli.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True,
              type=click.Choice(EVENTS), help="Repeat for several events.")
@click.option("--owner", required=True, help="Email of the staff member who owns it.")
def add_command(url: str, events: tuple[str, ...], owner: str) -> None:
    """Subscribe URL; prints the signing secret once."""
    user = db.session.scalar(select(User).where(User.email == owner.strip().lower()))
    if user is None or not user.is_staff:
        raise click.BadParameter(f"no staff member {owner}", param_hint="--owner")
    try:
        sub = webhooks.create_subscription(user, url, list(events))
    except webhooks.WebhookError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"subscription {sub.id}; signing secret: {sub.secret}")


@webhooks_cli.command("remove")
@click.argument("sub_id", type=int)
def remove_command(sub_id: int) -> None:
    sub = db.session.get(WebhookSubscription, sub_id)
    if sub is None:
        raise click.ClickException(f"no subscription {sub_id}")
    webhooks.delete_subscription(sub, None)
    db.session.commit()
    click.echo(f"subscription {sub_id} removed")


COMMANDS = [webhooks_cli]
