"""``flask visits``: run the planner by hand and list the planned visits."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import Visit
from .planner import OPEN_VISIT_STATUSES, plan_visits, send_visit_reminders

visits_cli = AppGroup("visits", help="On-site visits of the support contracts.")


@visits_cli.command("plan")
def plan_command() -> None:
    """Propose the missing visits of every active contract's current year (as the daily job)."""
    result = plan_visits(datetime.now(UTC))
    db.session.commit()
    click.echo(str(result))
    for visit in result.created:
        click.echo(f"  {visit.planned_date}  {visit.client.name}  visit {visit.sequence}")


@visits_cli.command("remind")
def remind_command() -> None:
    """Send the due visit reminders now (each is sent once)."""
    sent = send_visit_reminders(datetime.now(UTC))
    db.session.commit()
    click.echo(f"{sent} reminder(s) sent")


@visits_cli.command("list")
@click.option("--client", "client_id", type=int, help="Only this client's visits.")
def list_command(client_id: int | None) -> None:
    """Upcoming visits (proposed or confirmed), by date."""
    stmt = (
        select(Visit)
        .where(Visit.status.in_([s.value for s in OPEN_VISIT_STATUSES]))
        .order_by(Visit.planned_date, Visit.id)
    )
    if client_id is not None:
        stmt = stmt.where(Visit.client_id == client_id)
    for visit in db.session.scalars(stmt):
        manager = visit.account_manager.email if visit.account_manager else "-"
        click.echo(
            f"{visit.planned_date}  {visit.status:<9}  {visit.client.name}  "
            f"visit {visit.sequence}  {manager}"
        )


COMMANDS = [visits_cli]
