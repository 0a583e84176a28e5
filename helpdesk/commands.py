"""The domain command groups (billing, import, ingest, sla, report, scheduler, backup)."""

from __future__ import annotations

from flask import Flask

#: Modules exposing ``COMMANDS`` (a list of click commands or groups); each domain owns its own.
#: Add one line per module, e.g. "helpdesk.accounting.cli",
COMMAND_MODULES: tuple[str, ...] = (
    "helpdesk.accounting.cli",
    "helpdesk.scheduler.runner",
    "helpdesk.backup.cli",
    "helpdesk.visits.cli",
    "helpdesk.capacity.cli",
    "helpdesk.contracts.reminders",
    "helpdesk.sla.cli",
    "helpdesk.clients.cli",
    "helpdesk.pricelist.cli",
    "helpdesk.notifications.cli",
    "mail_ingest.cli",
    "reports.cli",
    "helpdesk.integrations.cli",
    "helpdesk.hardening.doctor",
)


def register(app: Flask) -> None:
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in module.COMMANDS:
            app.cli.add_command(command)
