"""Operators get one clear line, not a traceback: unreachable or unmigrated databases, and
``flask doctor``'s one line per check with a failing exit status."""

from __future__ import annotations

from helpdesk import create_app
from tests.conftest import base_config

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


def test_a_command_with_the_database_down_says_so_in_one_line():
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=UNREACHABLE))
    result = app.test_cli_runner().invoke(args=["user", "token", "x@y.test"])
    assert result.exit_code == 1
    output = result.output
    assert "error: database unreachable" in output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1


def test_a_command_on_a_database_never_upgraded_says_run_db_upgrade(tmp_path):
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.db'}"))
    result = app.test_cli_runner().invoke(args=["user", "token", "x@y.test"])
    assert result.exit_code == 1
    assert "flask db upgrade" in result.output and "Traceback" not in result.output


def test_doctor_prints_one_line_per_check_and_fails(tmp_path):
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=UNREACHABLE, MAIL_PORT=1,
                                 ATTACHMENT_DIR=str(tmp_path / "att"),
                                 BACKUP_DIR=str(tmp_path / "bak")))
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("[FAIL] database: unreachable")
    assert any(ln.startswith("[  ok] attachments:") for ln in lines)
    assert any(ln.startswith("[FAIL] smtp") for ln in lines)
    assert lines[-1].endswith("failed") and "Traceback" not in result.output
