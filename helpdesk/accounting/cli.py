"""Command line of hour accounting: ``flask billing``, ``flask import``, ``flask contract``.

Thin wrappers: each command calls one service and commits (or rolls back) at the end.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select

from ..extensions import db
from ..models import Client, Package, TimeEntry, User, utcnow
from .closing import close_month, unreviewed_count
from .imports import ImportResult
from .imports.reasons import reason_text
from .ledger import LedgerError, add_adjustment, is_month_closed, open_period
from .usage import usage_json

billing_cli = AppGroup("billing", help="Billing months: usage, close, adjustments.")
import_cli = AppGroup("import", help="Import remote sessions (LogMeIn) and calls (Asterisk CDR).")
contract_cli = AppGroup("contract", help="Package upgrades and downgrades.")

#: Files with more lines than this get a progress bar.
PROGRESS_MIN_LINES = 2000


def _period(value: str) -> str:
    from .periods import month_bounds

    try:
        month_bounds(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _user(email: str | None) -> User | None:
    if not email:
        return None
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.BadParameter(f"no user {email}", param_hint="--user")
    return user


def _zone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r}", param_hint="--tz") from None
    return value


# -- billing --------------------------------------------------------------------------------


@billing_cli.command("close-month")
@click.argument("period")
@click.option("--force", is_flag=True, help="Close even though the month is not over yet.")
@click.option("--user", "email", help="Who closes it (for the audit log).")
def close_month_command(period: str, force: bool, email: str | None) -> None:
    """Freeze PERIOD (YYYY-MM): its entries can no longer change; corrections become adjustments."""
    period = _period(period)
    closed_before = is_month_closed(period)
    try:
        close_month(period, _user(email), force=force, actor="cli")
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    pending = unreviewed_count(period)
    db.session.commit()
    click.echo(f"{period} was closed already." if closed_before else f"{period} closed.")
    if pending:
        click.echo(f"warning: {pending} out-of-hours entries of {period} were never reviewed",
                   err=True)


@billing_cli.command("usage")
@click.argument("client_id", type=int)
@click.argument("period", required=False)
def usage_command(client_id: int, period: str | None) -> None:
    """Print a client's usage of PERIOD (default: this month) as the API's JSON."""
    client = db.session.get(Client, client_id)
    if client is None:
        raise click.BadParameter(f"no client {client_id}", param_hint="CLIENT_ID")
    period = _period(period) if period else open_period(client)
    click.echo(json.dumps(usage_json(client, period), indent=2, ensure_ascii=False))


@billing_cli.command("adjust")
@click.argument("entry_id", type=int)
@click.option("--minutes", "minutes_delta", type=int, default=0,
              help="Minutes worked to add (negative: take back); billing is recomputed.")
@click.option("--billable", "billable_delta", type=int, default=None,
              help="Billable minutes to add or take back, stated outright.")
@click.option("--reason", required=True, help="Why (shown in the report and the audit log).")
@click.option("--user", "email", help="Who corrects it.")
def adjust_command(entry_id: int, minutes_delta: int, billable_delta: int | None, reason: str,
                   email: str | None) -> None:
    """Correct an entry (of a closed month) with an adjustment in the open month."""
    entry = db.session.get(TimeEntry, entry_id)
    if entry is None:
        raise click.BadParameter(f"no time entry {entry_id}", param_hint="ENTRY_ID")
    try:
        adjustment = add_adjustment(entry, reason=reason, user=_user(email), actor="cli",
                                    minutes_delta=minutes_delta, billable_delta=billable_delta)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"adjustment {adjustment.id} in {adjustment.period}: {adjustment.minutes:+d} min, "
               f"{adjustment.billable_minutes:+d} billable")


# -- imports --------------------------------------------------------------------------------


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


@contextmanager
def _progress(path: Path, label: str) -> Iterator[Callable[..., None] | None]:
    """A progress bar over the file's lines for large files; None (no bar) for small ones."""
    lines = _count_lines(path)
    if lines < PROGRESS_MIN_LINES:
        yield None
        return
    with click.progressbar(length=lines, label=label, file=sys.stderr) as bar:
        done = 0

        def advance(line_no: int, _result: object = None) -> None:
            nonlocal done
            step = min(line_no, lines) - done
            if step > 0:
                bar.update(step)
                done += step

        yield advance


def _mapping(source: str, name: str | None):
    if not name:
        return None
    from ..integrations.imports import mapping_by_name

    mapping = mapping_by_name(source, name)
    if mapping is None:
        raise click.BadParameter(f"no saved {source} mapping {name!r}", param_hint="--mapping")
    return mapping


def _import_file(file: Path, source: str, columns: dict, *, skip_bad: bool, dry_run: bool,
                 user: User | None, mapping, label: str) -> None:
    """Import (or, dry, preview) a file through the console's batch functions, synchronously:
    the same claims, rows and history row (origin ``cli``); the stored copy is deleted after."""
    from ..integrations import imports as service

    try:
        batch = service.new_batch(file.read_bytes(), file.name, source, user=user,
                                  mapping=mapping, skip_bad=skip_bad, origin="cli",
                                  columns=columns)
    except service.ImportRefused as exc:
        raise click.ClickException(str(exc)) from None
    batch_id, stored = batch.id, batch.stored_path
    try:
        with _progress(file, label) as progress:
            run = service.preview if dry_run else service.run_import
            result = run(batch, user, on_progress=progress)
        _report(result, dry_run)  # commits, or rolls back (dry run, rejected file)
    except service.ImportRefused as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    finally:
        # The command's copy of the file is not kept: released by its saved history row, else
        # (a dry run, a rejected file) deleted unless a console upload of it still needs it.
        saved = db.session.get(type(batch), batch_id)
        if saved is not None and saved.stored_path:
            service.release_file(saved)
            db.session.commit()
        elif saved is None:
            service.discard_upload(stored)


def _report(result: ImportResult, dry_run: bool) -> None:
    with force_locale(current_app.config.get("DEFAULT_LANGUAGE") or "en"):
        _report_rows(result)
    _finish_report(result, dry_run)


def _report_rows(result: ImportResult) -> None:
    """The bad, unmatched and skipped rows, their reasons in the configured language."""
    for row in result.bad:
        click.echo(f"bad row: line {row.line_no}: "
                   f"{reason_text(row.code, row.params, row.message)}", err=True)
    if result.rejected:
        return
    for title, rows in (("unmatched", result.unmatched), ("skipped", result.skipped),
                        ("note", result.warnings)):
        for row in rows:
            click.echo(f"{title}: line {row.line_no} ({row.ref}): "
                       f"{reason_text(row.code, row.params, row.message)}")


def _finish_report(result: ImportResult, dry_run: bool) -> None:
    if result.rejected:
        db.session.rollback()
        raise click.ClickException(
            result.summary() + ". Fix the file, or import the rest with --skip-bad."
        )
    if dry_run:
        db.session.rollback()
        click.echo("dry run, nothing saved: " + result.summary())
    else:
        db.session.commit()
        click.echo(result.summary())


@import_cli.command("logmein")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--customer-column", "customer_columns", multiple=True, default=("Name",),
              show_default=True,
              help="Column naming the customer (email or company); repeat to try several.")
@click.option("--duration-column", default="Work Time", show_default=True,
              help="Duration billed: 'Work Time' (not the waiting), or 'Active Time'.")
@click.option("--format", "fmt", type=click.Choice(["auto", "text", "csv"]), default="auto",
              show_default=True, help="TEXT ('|'-separated, API) or CSV export.")
@click.option("--delimiter", default="|", show_default=True, help="Separator of the TEXT form.")
@click.option("--day-first", is_flag=True, help="Read 01/02/2026 as 1 February.")
@click.option("--encoding", default=None, help="File encoding (default: detect UTF-8/16, 1252).")
@click.option("--tz", default=None, help="Zone the report was run in (default: TIMEZONE).")
@click.option("--skip-bad", is_flag=True, help="Import the good rows and list the bad ones.")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; save nothing.")
@click.option("--user", "email", help="Who imports (for the audit log).")
@click.option("--mapping", "mapping_name", default=None,
              help="A column mapping saved in the console (Imports); wins over the column options.")
def import_logmein_command(file: Path, customer_columns: tuple[str, ...], duration_column: str,
                           fmt: str, delimiter: str, day_first: bool, encoding: str | None,
                           tz: str | None, skip_bad: bool, dry_run: bool,
                           email: str | None, mapping_name: str | None) -> None:
    """Import a LogMeIn Rescue session report as remote sessions (idempotent)."""
    from .imports import LogmeinColumns

    user = _user(email)
    mapping = _mapping("logmein", mapping_name)
    columns = dict(mapping.columns) if mapping else LogmeinColumns(
        customer=customer_columns, work_time=duration_column).as_dict()
    columns.update(fmt=fmt, delimiter=delimiter, encoding=encoding,
                   day_first=day_first or bool(columns.get("day_first")),
                   timezone=_zone(tz or columns.get("timezone") or None))
    _import_file(file, "logmein", columns, skip_bad=skip_bad, dry_run=dry_run, user=user,
                 mapping=mapping, label="Importing sessions")


@import_cli.command("cdr")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tz", default=None, help="The PBX's zone (default: TIMEZONE; 'UTC' with "
                                          "usegmtime=yes).")
@click.option("--extensions", default=None,
              help="Support extensions, comma-separated (default: SUPPORT_EXTENSIONS).")
@click.option("--outside-prefix", default="", help="Digit dialled for an outside line, e.g. 9.")
@click.option("--encoding", default=None, help="File encoding (default: detect).")
@click.option("--skip-bad", is_flag=True, help="Import the good rows and list the bad ones.")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; save nothing.")
@click.option("--user", "email", help="Who imports (for the audit log).")
def import_cdr_command(file: Path, tz: str | None, extensions: str | None, outside_prefix: str,
                       encoding: str | None, skip_bad: bool, dry_run: bool,
                       email: str | None) -> None:
    """Import Asterisk's Master.csv: answered support calls become phone entries (idempotent)."""
    user = _user(email)
    columns = {"extensions": [e.strip() for e in extensions.split(",")] if extensions else None,
               "outside_prefix": outside_prefix, "encoding": encoding, "timezone": _zone(tz)}
    _import_file(file, "cdr", columns, skip_bad=skip_bad, dry_run=dry_run, user=user,
                 mapping=None, label="Importing calls")


# -- contracts ------------------------------------------------------------------------------


def _contract_and_package(client_id: int, code: str, day: date | None):
    from ..contracts import active_contract

    client = db.session.get(Client, client_id)
    if client is None:
        raise click.BadParameter(f"no client {client_id}", param_hint="CLIENT_ID")
    package = db.session.scalar(select(Package).where(Package.code == code))
    if package is None:
        codes = ", ".join(db.session.scalars(select(Package.code).order_by(Package.rank)))
        raise click.BadParameter(f"no package {code!r} (packages: {codes})",
                                 param_hint="PACKAGE_CODE")
    day = day or utcnow().astimezone(ZoneInfo(client.timezone)).date()
    contract = active_contract(client.id, day)
    if contract is None:
        raise click.ClickException(f"{client.name} has no active contract on {day}")
    return contract, package, day


def _fee(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        fee = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"not an amount: {value!r}", param_hint="--fee") from None
    if fee < 0:
        raise click.BadParameter("the fee must not be negative", param_hint="--fee")
    return fee.quantize(Decimal("0.01"))


def _change(client_id: int, code: str, day: date | None, fee: str | None, email: str | None,
            upgrade: bool) -> None:
    from ..contracts.changes import ContractChangeError, change_package

    contract, package, day = _contract_and_package(client_id, code, day)
    try:
        change = change_package(contract, package, upgrade=upgrade, requested_on=day,
                                user=_user(email), actor="cli", monthly_fee=_fee(fee))
    except ContractChangeError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    verb = "upgraded" if upgrade else "downgraded"
    click.echo(f"{contract.client.name}: {verb} to {package.name} from {change.effective_date}")


@contract_cli.command("upgrade")
@click.argument("client_id", type=int)
@click.argument("package_code")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Effective date (default: today in the client's zone).")
@click.option("--fee", default=None, help="A negotiated monthly fee for the new package.")
@click.option("--user", "email", help="Who changes it (for the audit log).")
def upgrade_command(client_id: int, package_code: str, day, fee: str | None,
                    email: str | None) -> None:
    """Upgrade a client's contract at once; the month is prorated by days on each package."""
    _change(client_id, package_code, day.date() if day else None, fee, email, upgrade=True)


@contract_cli.command("downgrade")
@click.argument("client_id", type=int)
@click.argument("package_code")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date of the request (default: today); effective the next month's 1st.")
@click.option("--fee", default=None, help="A negotiated monthly fee for the new package.")
@click.option("--user", "email", help="Who changes it (for the audit log).")
def downgrade_command(client_id: int, package_code: str, day, fee: str | None,
                      email: str | None) -> None:
    """Downgrade a client's contract from the first day of next month."""
    _change(client_id, package_code, day.date() if day else None, fee, email, upgrade=False)


@contract_cli.command("apply-due")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Run the lifecycle of this day (default: today), e.g. to make up downtime.")
def apply_due_command(day) -> None:
    """Run the day's contract lifecycle: renewals, ends, trials, planned package changes,
    warranty offers (the daily job does the same; running it twice changes nothing more)."""
    from datetime import datetime, time

    from ..contracts.changes import apply_due_changes

    now = None
    if day is not None:
        zone = ZoneInfo(current_app.config["TIMEZONE"])
        now = datetime.combine(day.date(), time(12), zone).astimezone(ZoneInfo("UTC"))
    summary = apply_due_changes(now)
    db.session.commit()
    click.echo(str(summary))


def _serving_contract(client_id: int):
    from ..contracts import active_contract

    client = db.session.get(Client, client_id)
    if client is None:
        raise click.BadParameter(f"no client {client_id}", param_hint="CLIENT_ID")
    day = utcnow().astimezone(ZoneInfo(client.timezone)).date()
    contract = active_contract(client.id, day)
    if contract is None:
        raise click.ClickException(f"{client.name} has no active contract on {day}")
    return contract, day


@contract_cli.command("cancel-renewal")
@click.argument("client_id", type=int)
@click.option("--user", "email", help="Who cancels it (for the audit log).")
def cancel_renewal_command(client_id: int, email: str | None) -> None:
    """Stop the automatic renewal: the contract ends on its end date."""
    from ..contracts.changes import ContractChangeError, cancel_renewal

    contract, _day = _serving_contract(client_id)
    try:
        cancel_renewal(contract, user=_user(email), actor="cli")
    except ContractChangeError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{contract.client.name}: ends on {contract.end_date}, no renewal")


@contract_cli.command("trial-choice")
@click.argument("client_id", type=int)
@click.argument("package_code")
@click.option("--user", "email", help="Who chooses (for the audit log).")
def trial_choice_command(client_id: int, package_code: str, email: str | None) -> None:
    """The package a trial converts to on its last day ('none': the trial just ends)."""
    from ..contracts.changes import ContractChangeError, choose_next_package

    contract, _day = _serving_contract(client_id)
    package = None
    if package_code != "none":
        package = db.session.scalar(select(Package).where(Package.code == package_code))
        if package is None:
            raise click.BadParameter(f"no package {package_code!r}", param_hint="PACKAGE_CODE")
    try:
        choose_next_package(contract, package, user=_user(email), actor="cli")
    except ContractChangeError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{contract.client.name}: after the trial "
               f"{package.name if package else 'no contract'}")


@contract_cli.command("addon")
@click.argument("client_id", type=int)
@click.argument("addon_code")
@click.option("--remove", is_flag=True, help="End the add-on today instead of adding it.")
@click.option("--user", "email", help="Who changes it (for the audit log).")
def addon_command(client_id: int, addon_code: str, remove: bool, email: str | None) -> None:
    """Add an add-on from today (or, with --remove, end it today); prorated by day."""
    from ..contracts.changes import ContractChangeError, add_addon, remove_addon
    from ..models import Addon

    contract, day = _serving_contract(client_id)
    addon = db.session.scalar(select(Addon).where(Addon.code == addon_code))
    if addon is None:
        raise click.BadParameter(f"no add-on {addon_code!r}", param_hint="ADDON_CODE")
    try:
        (remove_addon if remove else add_addon)(contract, addon, on=day, user=_user(email),
                                                actor="cli")
    except ContractChangeError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"{contract.client.name}: {addon.name} {'removed' if remove else 'added'}")


COMMANDS = [billing_cli, import_cli, contract_cli]
