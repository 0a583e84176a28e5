"""``flask capacity``: plan a week by hand and read the plan."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click
from flask.cli import AppGroup

from ..extensions import db
from .planner import compute_plan, plan_week, week_start

capacity_cli = AppGroup("capacity", help="Reserved support time: the weekly plan.")


def _day(value: str | None) -> date:
    if not value:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@capacity_cli.command("plan")
@click.option("--week", "week", metavar="YYYY-MM-DD",
              help="Any day of the week to plan (default: this week).")
@click.option("--dry-run", is_flag=True, help="Show the plan without saving it.")
def plan_command(week: str | None, dry_run: bool) -> None:
    """Reserve agent hours for every contract client for one week (replaces that week's plan)."""
    monday = week_start(_day(week))
    if dry_run:
        result, _demands, _days = compute_plan(monday)
    else:
        result = plan_week(monday)
        db.session.commit()
    click.echo(
        f"week of {monday}: {len(result.owed)} client(s), "
        f"{sum(result.reserved.values())} min reserved, {result.total_free} min free"
        + (" (dry run)" if dry_run else "")
    )
    short = {c: result.shortfall(c) for c in result.owed if result.shortfall(c) > 0}
    if short:
        click.echo(f"  {len(short)} client(s) short of their share: "
                   f"{sum(short.values())} min the week could not hold")


COMMANDS = [capacity_cli]
