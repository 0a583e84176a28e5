"""``flask report monthly``: a month's usage reports into a folder, optionally mailed once.

A thin wrapper over :func:`reports.batch.monthly` (which commits what it stores and sends).
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import click
from flask.cli import AppGroup

from helpdesk.accounting.periods import month_bounds
from reports.batch import BatchError, monthly

report_cli = AppGroup("report", help="Monthly usage reports (PDF).")


def _period(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        month_bounds(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@report_cli.command("monthly")
@click.option("--month", "period", required=True, callback=_period, help="The month, YYYY-MM.")
@click.option("--client", "client_id", type=int, help="Only this client (its id).")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    help="Folder for the PDF files (created if missing).",
)
@click.option("--email", is_flag=True, help="Mail each report to the client, once (closed months).")
def monthly_command(period: str, client_id: int | None, out_dir: Path, email: bool) -> None:
    """Write one PDF per client with a contract or time in the month; rendered on every core."""
    with ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bar = click.progressbar(length=total, label="Rendering", file=sys.stderr)
                bars.append(stack.enter_context(bar))
            bars[0].update(done - bars[0].pos)

        try:
            result = monthly(period, client_id, out_dir, progress=progress, email=email)
        except BatchError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(str(result))


@report_cli.command("export")
@click.argument("what", type=click.Choice(["time-entries", "tickets", "usage"]))
@click.option("--month", "period", required=True, callback=_period, help="The month, YYYY-MM.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv",
              show_default=True, help="File format.")
@click.option("--out", "out_file", required=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="The file to write (replaced if it exists).")
@click.option("--client", "client_id", type=int, help="Only this client (its id).")
def export_command(what: str, period: str, fmt: str, out_file: Path,
                   client_id: int | None) -> None:
    """Export WHAT of a month (streamed: any number of rows in flat memory)."""
    from helpdesk.extensions import db
    from helpdesk.models import Client
    from reports.export import ExportScope, export, write

    if client_id is not None and db.session.get(Client, client_id) is None:
        raise click.ClickException(f"client {client_id} does not exist")
    if not out_file.parent.is_dir():
        raise click.ClickException(f"folder {out_file.parent} does not exist")
    rows = write(export(what, period, ExportScope(client_id=client_id)), fmt, out_file)
    click.echo(f"{rows} row(s) of {what} {period} written to {out_file}")


COMMANDS = [report_cli]
