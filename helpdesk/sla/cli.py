"""``flask sla ...``: thin commands over the SLA services (the scheduler calls the same ones)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from ..extensions import db

sla_cli = AppGroup("sla", help="SLA clocks: warnings, breaches and their notifications.")


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-11-20T15:30+01:00 or ...Z")
    return parsed.astimezone(UTC)


@sla_cli.command("sweep")
@click.option("--now", "now_text", default=None, help="Judge as of this ISO time (testing).")
@click.option("--no-mail", is_flag=True, help="Record events without sending notifications.")
def sweep_command(now_text: str | None, no_mail: bool) -> None:
    """Record SLA warnings and breaches, and mail the people in charge once per event."""
    from .sweep import sweep

    report = sweep(_parse_now(now_text), notify=not no_mail)
    db.session.commit()
    click.echo(report.summary())


COMMANDS = [sla_cli]
