"""``flask ingest --once`` / ``--watch``: thin commands over :mod:`mail_ingest.ingest`."""

from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from flask.cli import with_appcontext

from mail_ingest.imap import ImapConfigError, MailboxConfig


@click.command("ingest")
@click.option("--once", "mode", flag_value="once", default=True, help="One pass, then exit.")
@click.option(
    "--watch",
    "mode",
    flag_value="watch",
    help="Stay connected (IMAP IDLE) and ingest as mail arrives.",
)
@with_appcontext
def ingest_command(mode: str) -> None:
    """Turn new support mail into tickets; prints what was fetched, created and acknowledged."""
    from mail_ingest.config import mailbox_configs
    from mail_ingest.ingest import IngestError, Summary, ingest_all, watch

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        configs = mailbox_configs(app.config)
    except ImapConfigError as exc:
        raise click.ClickException(f"mailbox settings: {exc}") from exc
    if not configs:
        raise click.ClickException(
            "no mailbox is configured: set HELPDESK_IMAP_HOST and HELPDESK_IMAP_USER "
            "(or HELPDESK_IMAP_MAILBOXES)"
        )
    signal.signal(signal.SIGTERM, _terminate)
    if mode == "watch":
        logging.getLogger("mail_ingest").setLevel(logging.INFO)

        def report(config: MailboxConfig, summary: Summary) -> None:
            click.echo(f"{config.name}: {summary}")
            for error in summary.errors:
                click.echo(f"  error: {error}", err=True)

        click.echo(f"watching {', '.join(c.name for c in configs)} (Ctrl-C to stop)")
        try:
            watch(app, on_pass=report)
        except KeyboardInterrupt:
            click.echo("stopped")
        return
    try:
        summary = ingest_all(app)
    except KeyboardInterrupt:
        click.echo("stopped")
        raise SystemExit(130) from None
    except IngestError as exc:
        click.echo(str(exc.summary))
        for error in exc.summary.errors:
            click.echo(f"error: {error}", err=True)
        raise SystemExit(1) from exc
    click.echo(str(summary))


@click.command("mailboxes")
@click.option("--test", "test", is_flag=True,
              help="Also log in to each mailbox now (exit status 1 when one fails).")
@with_appcontext
def mailboxes_command(test: bool) -> None:
    """Each support mailbox: last poll, last error, mail taken today, unresolved failed mail."""
    from mail_ingest.status import check_connection, mailbox_overview

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    rows, error = mailbox_overview(app.config)
    if error:
        raise click.ClickException(f"mailbox settings: {error}")
    if not rows:
        raise click.ClickException("no mailbox is configured")
    failed = False
    configs = {c.name: c for c in _configs(app.config)} if test else {}
    for row in rows:
        s = row.state
        polled = s.last_poll_at.isoformat(timespec="seconds") if s.last_poll_at else "never"
        click.echo(f"{row.name}: {row.user}@{row.host}:{row.port}/{row.folder} -> {row.queue}; "
                   f"last poll {polled}; taken today {s.taken_today}; failed {s.failed}"
                   + (f"; last error: {s.last_error}" if s.last_error else ""))
        if test:
            check = check_connection(configs[row.name])
            if check.ok:
                click.echo(f"  test: ok, {check.messages} message(s) in {row.folder}")
            else:
                failed = True
                click.echo(f"  test: {check.kind}: {check.detail}", err=True)
    if failed:
        raise SystemExit(1)


def _configs(settings):
    from mail_ingest.config import mailbox_configs

    return mailbox_configs(settings)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM stops ingest like Ctrl-C: the batch in hand is rolled back, workers are ended."""
    raise KeyboardInterrupt


COMMANDS = [ingest_command, mailboxes_command]
