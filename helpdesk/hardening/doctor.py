"""``flask doctor``: one line per check of what production needs, non-zero exit on a failure.

Checks: the database (reachable, schema at the migration head), each IMAP mailbox's login, the
SMTP login, PUBLIC_URL, the secret key, the attachment and backup directories (writable, free
space) and who holds the scheduler lock.
"""

from __future__ import annotations

import os
import shutil
import smtplib
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"[{self.status:>4}] {self.name}: {self.detail}"


def _one_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text_[0] if text_ else ''}".rstrip(": ")


def check_database() -> Iterator[Check]:
    from .health import schema_revisions

    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        yield Check("database", FAIL, f"unreachable ({_one_line(exc.orig or exc)})")
        return
    yield Check("database", OK, f"reachable ({db.engine.url.render_as_string(hide_password=True)})")
    try:
        current, heads = schema_revisions()
    except SQLAlchemyError:
        db.session.rollback()
        yield Check("schema", FAIL, "no migration applied: run `flask db upgrade`")
        return
    if current in heads:
        yield Check("schema", OK, f"at head {current}")
    else:
        yield Check("schema", FAIL,
                    f"at {current}, head is {', '.join(sorted(heads))}: run `flask db upgrade`")


def check_imap() -> Iterator[Check]:
    from mail_ingest.config import mailbox_configs
    from mail_ingest.imap import _connect

    try:
        configs = mailbox_configs(current_app.config)
    except Exception as exc:  # noqa: BLE001 - a bad setting is a failed check
        yield Check("imap", FAIL, f"settings: {_one_line(exc)}")
        return
    if not configs:
        yield Check("imap", WARN, "no mailbox configured (HELPDESK_IMAP_HOST): mail is not read")
        return
    for config in configs:
        name = f"imap {config.user}@{config.host}"
        try:
            client = _connect(config, None)
            client.logout()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
            yield Check(name, FAIL, _one_line(exc))
        else:
            yield Check(name, OK, "login accepted")


def check_smtp() -> Iterator[Check]:
    cfg = current_app.config
    host, port = cfg.get("MAIL_SERVER"), int(cfg.get("MAIL_PORT") or 25)
    name = f"smtp {host}:{port}"
    timeout = float(cfg.get("MAIL_TIMEOUT") or 10)
    try:
        if cfg.get("MAIL_USE_SSL"):
            server = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        try:
            server.ehlo()
            if cfg.get("MAIL_USE_TLS"):
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
            if cfg.get("MAIL_USERNAME"):
                server.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
                detail = f"login as {cfg['MAIL_USERNAME']} accepted"
            else:
                detail = "connected (no MAIL_USERNAME: no login)"
        finally:
            try:
                server.quit()
            except smtplib.SMTPException:
                pass
    except (OSError, smtplib.SMTPException) as exc:
        yield Check(name, FAIL, _one_line(exc))
    else:
        yield Check(name, OK, detail)


def check_settings() -> Iterator[Check]:
    cfg = current_app.config
    production = str(cfg.get("ENV", "")).lower() == "production"
    url = cfg.get("PUBLIC_URL")
    if url and str(url).startswith("https://"):
        yield Check("PUBLIC_URL", OK, url)
    elif url:
        yield Check("PUBLIC_URL", FAIL if production else WARN, f"{url} is not https://")
    else:
        yield Check("PUBLIC_URL", FAIL if production else WARN,
                    "not set: links in mail point to http://localhost:5000")
    key = cfg.get("SECRET_KEY") or ""
    dev_key = Path(current_app.instance_path, ".dev-secret-key")
    if dev_key.exists() and dev_key.read_text().strip() == key:
        yield Check("secret key", FAIL if production else WARN,
                    "the generated development key (set HELPDESK_SECRET_KEY)")
    elif len(key) < 24:
        yield Check("secret key", FAIL, "shorter than 24 characters")
    else:
        yield Check("secret key", OK, f"set ({len(key)} characters)")


def check_directory(label: str, path: str, min_free_mb: int) -> Check:
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".doctor-", delete=True) as fh:
            fh.write(b"ok")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return Check(label, FAIL, f"{target} is not writable ({_one_line(exc)})")
    free_mb = shutil.disk_usage(target).free // (1024 * 1024)
    if free_mb < min_free_mb:
        return Check(label, FAIL, f"{target}: only {free_mb} MB free (need {min_free_mb} MB)")
    return Check(label, OK, f"{target} writable, {free_mb} MB free")


def check_directories() -> Iterator[Check]:
    cfg = current_app.config
    need = int(cfg.get("DOCTOR_MIN_FREE_MB", 500))
    yield check_directory("attachments", cfg["ATTACHMENT_DIR"], need)
    yield check_directory("backups", cfg["BACKUP_DIR"], need)


def check_restore() -> Iterator[Check]:
    from ..backup.restore import interrupted_restore

    cut_off = interrupted_restore()
    if cut_off:
        yield Check("restore", FAIL, f"a restore of {cut_off['backup']} was cut off during its "
                    f"{cut_off['step']} step: run `flask restore {cut_off['backup']} --yes` again")


def check_scheduler() -> Iterator[Check]:
    from ..scheduler.lock import describe_holder

    cfg = current_app.config
    try:
        holder = describe_holder(cfg["SQLALCHEMY_DATABASE_URI"], cfg["SCHEDULER_LOCK_FILE"])
    except (SQLAlchemyError, OSError) as exc:
        yield Check("scheduler", FAIL, f"cannot tell: {_one_line(exc)}")
        return
    yield Check("scheduler", OK if holder.startswith("held") else WARN, holder)


CHECKS: tuple[Callable[[], Iterator[Check]], ...] = (
    check_database, check_settings, check_directories, check_restore, check_smtp, check_imap,
    check_scheduler,
)


def run_checks() -> list[Check]:
    results: list[Check] = []
    for check in CHECKS:
        results.extend(check())
    return results


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """Check what production needs: database and schema, mail logins, settings, directories,
    the scheduler lock. One line per check; exit status 1 when any check failed."""
    results = run_checks()
    for result in results:
        click.echo(result.line())
    failed = [r for r in results if r.status == FAIL]
    click.echo(f"{len(results)} checks, {len(failed)} failed")
    if failed:
        raise SystemExit(1)


COMMANDS = [doctor_command]
