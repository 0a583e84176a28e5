"""``flask backup`` and ``flask restore``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from .archive import BackupError, run_backup, verify_backup
from .restore import interrupted_restore, restore_backup


@click.command("backup")
def backup_command() -> None:
    """Back up the database and attachments now (into BACKUP_DIR), then prune old backups."""
    try:
        click.echo(run_backup(datetime.now(UTC)))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Really overwrite the database and attachments.")
def restore_command(file: Path, yes: bool) -> None:
    """Restore a backup FILE over the current database (stop the app and scheduler first)."""
    cut_off = interrupted_restore()
    if cut_off:
        click.echo(f"warning: a restore of {cut_off['backup']} was cut off during its "
                   f"{cut_off['step']} step ({cut_off['at']}); restoring again mends it", err=True)
    try:
        manifest = verify_backup(file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = manifest["row_counts"]
    click.echo(f"{file.name}: made {manifest['created_at']}, {manifest['database']}, checksums OK")
    click.echo(
        "  "
        + ", ".join(
            f"{rows.get(t, 0)} {t}" for t in ("tickets", "articles", "attachments", "time_entries")
        )
    )
    if not yes:
        raise click.ClickException(
            "this replaces the current database and attachments: run again with --yes"
        )
    try:
        restore_backup(file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("restored")


COMMANDS = [backup_command, restore_command]
