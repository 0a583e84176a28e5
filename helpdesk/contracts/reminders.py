"""Reminders to clients and their account managers, each sent once (see :mod:`helpdesk.notifications.once`).

* contract renewal RENEWAL_REMINDER_DAYS (30 and 7) days before the contract's last day;
* trial ending TRIAL_REMINDER_DAYS (7 and 1) days before the trial's last day;
* hours at HOURS_REMINDER_PERCENTS (80 % and 100 %) of the month's included package minutes;
* on-site visits (:func:`helpdesk.visits.planner.send_visit_reminders`).

Each reminder is due from its day on, not only on it: a job that did not run on the 30th day
still sends the 30-day reminder on the 29th. When several are due at once only the most urgent
goes (a contract found 5 days before its end gets the 7-day reminder, not both). Mail is written
in the client's language; the account manager gets the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale, format_currency, format_date, gettext, ngettext
from sqlalchemy import select

from ..extensions import db
from ..models import Client, Contract, ContractStatus, User
from ..notifications.once import client_recipients, send_once
from ..visits.planner import local_today, send_visit_reminders
from . import active_contract, package_on
from .services import SERVING_STATUSES


@dataclass
class ReminderSummary:
    renewal: int = 0
    trial: int = 0
    hours: int = 0
    visits: int = 0

    def __str__(self) -> str:
        return (
            f"reminders sent: {self.renewal} renewal, {self.trial} trial, {self.hours} hours, "
            f"{self.visits} visit"
        )


def send_due_reminders(now: datetime) -> ReminderSummary:
    """The daily reminders job: everything due at ``now`` that was not sent yet."""
    return ReminderSummary(
        renewal=renewal_reminders(now),
        trial=trial_reminders(now),
        hours=hours_reminders(now),
        visits=send_visit_reminders(now),
    )


def due_threshold(days_left: int, thresholds: list[int]) -> int | None:
    """The most urgent reminder due ``days_left`` days before a date (None: none yet, or past)."""
    if days_left < 0:
        return None
    due = [t for t in thresholds if days_left <= t]
    return min(due) if due else None


def _manager_name(client: Client) -> str:
    manager = db.session.get(User, client.account_manager_id) if client.account_manager_id else None
    return manager.name if manager else current_app.config["VENDOR_NAME"]


def _has_successor(contract: Contract) -> bool:
    """A later contract is already signed: no renewal reminder needed."""
    return (
        db.session.scalar(
            select(Contract.id)
            .where(
                Contract.client_id == contract.client_id,
                Contract.id != contract.id,
                Contract.start_date > contract.start_date,
                Contract.status.in_([s.value for s in SERVING_STATUSES]),
            )
            .limit(1)
        )
        is not None
    )


# -- contract renewal ----------------------------------------------------------------------------


def renewal_reminders(now: datetime) -> int:
    """30 and 7 days before an active contract's last day."""
    thresholds = [int(d) for d in current_app.config["RENEWAL_REMINDER_DAYS"]]
    contracts = db.session.scalars(
        select(Contract)
        .where(Contract.status == ContractStatus.ACTIVE, Contract.end_date.is_not(None))
        .order_by(Contract.id)
    ).all()
    sent = 0
    for contract in contracts:
        client = contract.client
        days_left = (contract.end_date - local_today(client, now)).days
        threshold = due_threshold(days_left, thresholds)
        if threshold is None or _has_successor(contract):
            continue
        key = f"renewal:{contract.id}:{contract.end_date.isoformat()}:{threshold}"
        with force_locale(client.language):
            subject, body = _renewal_text(contract, client, days_left)
        sent += send_once(key, client_recipients(client), subject, body)
    return sent


def _renewal_text(contract: Contract, client: Client, days_left: int) -> tuple[str, str]:
    end = format_date(contract.end_date, "long")
    in_days = ngettext("in %(num)d day", "in %(num)d days", days_left)
    vendor = current_app.config["VENDOR_NAME"]
    values = {
        "client": client.name,
        "package": contract.package.name,
        "end": end,
        "in_days": in_days,
        "manager": _manager_name(client),
        "vendor": vendor,
    }
    if contract.auto_renew:
        renews = contract.renewal_date or contract.end_date + timedelta(days=1)
        subject = gettext("Your support contract renews on %(date)s", date=format_date(renews))
        body = gettext(
            "Dear %(client)s,\n\nyour %(package)s support contract runs until %(end)s "
            "(%(in_days)s) and then renews automatically on %(renews)s.\n\nIf you would like to "
            "change your package, please reply to this message or contact %(manager)s, your "
            "account manager.\n\n%(vendor)s",
            renews=format_date(renews, "long"),
            **values,
        )
    else:
        subject = gettext(
            "Your support contract ends on %(date)s", date=format_date(contract.end_date)
        )
        body = gettext(
            "Dear %(client)s,\n\nyour %(package)s support contract ends on %(end)s "
            "(%(in_days)s). To keep your support without a break, please renew it before then: "
            "reply to this message or contact %(manager)s, your account manager.\n\n%(vendor)s",
            **values,
        )
    return subject, body


# -- trials --------------------------------------------------------------------------------------


def trial_end(contract: Contract) -> date:
    """The trial's last day: its end date, else TRIAL_DAYS from the start."""
    if contract.end_date is not None:
        return contract.end_date
    return contract.start_date + timedelta(days=int(current_app.config["TRIAL_DAYS"]) - 1)


def trial_reminders(now: datetime) -> int:
    """7 days and 1 day before a trial's last day."""
    thresholds = [int(d) for d in current_app.config["TRIAL_REMINDER_DAYS"]]
    contracts = db.session.scalars(
        select(Contract).where(Contract.status == ContractStatus.TRIAL).order_by(Contract.id)
    ).all()
    sent = 0
    for contract in contracts:
        client = contract.client
        last_day = trial_end(contract)
        days_left = (last_day - local_today(client, now)).days
        threshold = due_threshold(days_left, thresholds)
        if threshold is None or _has_successor(contract):
            continue
        key = f"trial:{contract.id}:{last_day.isoformat()}:{threshold}"
        with force_locale(client.language):
            subject = gettext("Your trial ends on %(date)s", date=format_date(last_day))
            body = gettext(
                "Dear %(client)s,\n\nyour trial of the %(package)s support package ends on "
                "%(end)s (%(in_days)s). To keep your support after that, please reply to this "
                "message or contact %(manager)s, your account manager, about a contract."
                "\n\n%(vendor)s",
                client=client.name,
                package=contract.package.name,
                end=format_date(last_day, "long"),
                in_days=ngettext("in %(num)d day", "in %(num)d days", days_left),
                manager=_manager_name(client),
                vendor=current_app.config["VENDOR_NAME"],
            )
            body += "\n\n" + gettext(
                "Choose the package your contract starts on after the trial: %(link)s",
                link=_choice_link(),
            )
        sent += send_once(key, client_recipients(client), subject, body)
    return sent


def _choice_link() -> str:
    """The portal page where the client's administrator chooses the package after a trial."""
    from flask import url_for

    from ..auth.accounts import external_url

    try:
        return external_url("portal.contract_change")
    except RuntimeError:  # no PUBLIC_URL or SERVER_NAME in a job: the path is all we know
        with current_app.test_request_context():
            return url_for("portal.contract_change")


# -- hours ---------------------------------------------------------------------------------------


def _hm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def hours_reminders(now: datetime) -> int:
    """At 80 % and 100 % of the month's included minutes (the highest reached is sent)."""
    from ..accounting.usage import usage_for  # written with the accounting module

    thresholds = sorted(int(p) for p in current_app.config["HOURS_REMINDER_PERCENTS"])
    clients = db.session.scalars(
        select(Client)
        .join(Contract, Contract.client_id == Client.id)
        .where(Contract.status.in_([s.value for s in SERVING_STATUSES]))
        .distinct()
        .order_by(Client.id)
    ).all()
    sent = 0
    for client in clients:
        today = local_today(client, now)
        contract = active_contract(client.id, today)
        if contract is None:
            continue
        period = today.strftime("%Y-%m")
        usage = usage_for(client, period)
        included, used = int(usage.included_minutes), int(usage.billable_minutes)
        if included <= 0:
            continue
        reached = [t for t in thresholds if used * 100 >= t * included]
        if not reached:
            continue
        percent = reached[-1]
        key = f"hours:{client.id}:{period}:{percent}"
        with force_locale(client.language):
            subject, body = _hours_text(client, contract, today, percent, used, included)
        sent += send_once(key, client_recipients(client), subject, body)
    return sent


def _hours_text(
    client: Client, contract: Contract, today: date, percent: int, used: int, included: int
) -> tuple[str, str]:
    package = package_on(contract, today)
    month = format_date(today, "LLLL yyyy")
    rate = format_currency(Decimal(package.overage_rate), current_app.config["CURRENCY"])
    values = {
        "client": client.name,
        "used": _hm(used),
        "included": _hm(included),
        "month": month,
        "package": package.name,
        "manager": _manager_name(client),
        "vendor": current_app.config["VENDOR_NAME"],
        "rate": rate,
    }
    if percent >= 100:
        subject = gettext("You have used all support hours included in %(month)s", month=month)
        body = gettext(
            "Dear %(client)s,\n\nin %(month)s you have used %(used)s hours of support, all of "
            "the %(included)s hours included in your %(package)s package. Further work this "
            "month is billed at %(rate)s per hour. If you need more hours regularly, "
            "%(manager)s, your account manager, can suggest a larger package.\n\n%(vendor)s",
            **values,
        )
    else:
        subject = gettext(
            "You have used %(percent)d%% of the support hours of %(month)s",
            percent=percent,
            month=month,
        )
        body = gettext(
            "Dear %(client)s,\n\nin %(month)s you have used %(used)s of the %(included)s hours "
            "of support included in your %(package)s package (%(percent)d%%). Work beyond the "
            "included hours is billed at %(rate)s per hour.\n\n%(vendor)s",
            percent=percent,
            **values,
        )
    return subject, body


# -- command ---------------------------------------------------------------------------------------

reminders_cli = AppGroup("reminders", help="Reminders to clients and account managers.")


@reminders_cli.command("send")
def send_command() -> None:
    """Send every reminder due now (each is sent once; the daily job does the same)."""
    summary = send_due_reminders(datetime.now(UTC))
    db.session.commit()
    click.echo(str(summary))


COMMANDS = [reminders_cli]
