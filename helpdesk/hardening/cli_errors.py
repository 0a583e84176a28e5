"""Every ``flask`` command: a database, file or network error becomes one clear line and exit 1.

The traceback is shown only with ``flask --debug ...`` (FLASK_DEBUG=1).
"""

from __future__ import annotations

import os
import smtplib
import socket
import sys
from functools import wraps

import click
from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def describe(exc: BaseException) -> str | None:
    """The one line an operator reads, or None for errors that are programming mistakes."""
    if isinstance(exc, OperationalError) and "no such table" in str(exc).lower():
        return ("database schema missing or not up to date: run `flask db upgrade` "
                f"({_first_line(exc.orig or exc)})")
    if isinstance(exc, ProgrammingError) and "does not exist" in str(exc).lower():
        return ("database schema missing or not up to date: run `flask db upgrade` "
                f"({_first_line(exc.orig or exc)})")
    if isinstance(exc, OperationalError | DBAPIError) and exc.connection_invalidated is not None:
        return f"database unreachable: {_first_line(exc.orig or exc)}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {_first_line(getattr(exc, 'orig', None) or exc)}"
    if isinstance(exc, smtplib.SMTPException | socket.timeout | ConnectionError):
        return f"network error: {_first_line(exc)}"
    if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError):
        name = getattr(exc, "filename", None)
        return f"{exc.strerror or type(exc).__name__}: {name}" if name else _first_line(exc)
    if isinstance(exc, OSError):
        return f"system error: {_first_line(exc)}"
    return None


def _debug() -> bool:
    return os.environ.get("FLASK_DEBUG", "").lower() in ("1", "true", "yes")


def guard(command: click.Command) -> None:
    """Wrap the command's invoke (for a group: its subcommands too)."""
    original = command.invoke

    @wraps(original)
    def invoke(ctx: click.Context):
        try:
            return original(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:
            line = describe(exc)
            if line is None or _debug():
                raise
            click.echo(f"error: {line}", err=True)
            sys.exit(1)

    command.invoke = invoke  # type: ignore[method-assign]


def init_app(app: Flask) -> None:
    """Call after every command is registered."""
    for command in app.cli.commands.values():
        guard(command)
