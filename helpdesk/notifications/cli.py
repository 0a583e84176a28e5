"""``flask notifications ...``: send pending staff mail now; mark an agent away or back."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import User

notifications_cli = AppGroup("notifications", help="Staff notifications and agents' presence.")


@notifications_cli.command("send")
def send_command() -> None:
    """Mail pending staff notifications (the scheduler runs this every minute)."""
    from .mailer import send_pending

    report = send_pending()
    db.session.commit()
    click.echo(report.summary())


@notifications_cli.command("away")
@click.argument("email")
@click.option("--back", is_flag=True, help="Mark the agent back at work.")
def away_command(email: str, back: bool) -> None:
    """Mark an agent away (their new tickets go to colleagues) or back."""
    from ..assignment.service import set_away

    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_staff:
        raise click.ClickException(f"no staff member with the address {email}")
    moved = set_away(user, not back)
    db.session.commit()
    click.echo(f"{user.email}: {'back' if back else 'away'}, {len(moved)} ticket(s) reassigned")


COMMANDS = [notifications_cli]
