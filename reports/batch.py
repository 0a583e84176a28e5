"""The monthly run: every client's report of a month written to a folder, and mailed once.

Rendering uses all cores (:func:`reports.pdf.render_many`, a spawn process pool); the database
work (figures, storing, mail bookkeeping) stays in this process. A closed month's reports are the
stored ones (:mod:`reports.service`): a report rendered here for the first time is stored, one
stored before is written out as it is, so the mailed file, the folder and every download agree.

Each report is mailed once per (client, month): the ``SentNotification`` key
``monthly-report:<client id>:<YYYY-MM>`` is recorded in a savepoint together with the sending,
so a failed send leaves it free for the next run and a second run sends nothing. This run is a
unit of work of its own (the scheduler's job, the CLI command): it commits once the reports are
stored and after each sent mail, so a failure half-way keeps what was done.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

from flask import current_app
from flask_babel import Domain, force_locale
from flask_mail import Message
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpdesk.accounting.ledger import is_month_closed
from helpdesk.accounting.periods import month_bounds
from helpdesk.extensions import db, mail
from helpdesk.models import Client, Contact, SentNotification, StoredReport
from helpdesk.notifications.once import (
    AUTO_HEADERS,
    account_manager_email,
    already_sent,
    primary_contact_emails,
    unique_addresses,
)
from reports.data import account_manager, report_inputs
from reports.i18n import DOMAIN, TRANSLATIONS_DIR, formatter
from reports.model import Client as ReportClient
from reports.model import ReportInput
from reports.pdf import render_many, render_report, report_filename
from reports.service import report_clients, store_report

__all__ = [
    "BatchError",
    "BatchResult",
    "mail_key",
    "monthly",
    "report_recipients",
    "scheduled_monthly",
]

log = logging.getLogger(__name__)

#: The reports' own catalog (reports/translations, domain "reports") read through Flask-Babel,
#: so the mail and the PDF it carries speak the same words.
_MESSAGES = Domain(translation_directories=str(TRANSLATIONS_DIR), domain=DOMAIN)


class BatchError(ValueError):
    """The run cannot be made as asked (unknown client, preliminary month to mail)."""


@dataclass
class BatchResult:
    """What a monthly run did; its text is the job's summary."""

    period: str
    out_dir: Path
    paths: list[Path] = field(default_factory=list)
    rendered: int = 0
    mailed: int = 0

    def __str__(self) -> str:
        return (
            f"{self.period}: {len(self.paths)} report(s) in {self.out_dir} "
            f"({self.rendered} rendered now), {self.mailed} mailed"
        )


def mail_key(client_id: int, period: str) -> str:
    """The SentNotification key that makes a client's monthly report go out once."""
    return f"monthly-report:{client_id}:{period}"


@dataclass(frozen=True)
class _Naming:
    """The two fields of a ReportInput that :func:`report_filename` reads."""

    client: ReportClient
    period: str


def _file_names(clients: Sequence[Client], period: str) -> dict[int, str]:
    """The file name of each client's report; two names that slug alike get the client id."""
    names: dict[int, str] = {}
    taken: set[str] = set()
    for client in clients:
        name = report_filename(cast(ReportInput, _Naming(ReportClient(client.name), period)))
        while name in taken:
            name = f"{name.removesuffix('.pdf')}-{client.id}.pdf"
        taken.add(name)
        names[client.id] = name
    return names


def _write(path: Path, content: bytes) -> None:
    """Write through a temporary name, so a crash leaves no half-written PDF."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(content)
    partial.replace(path)


def monthly(
    period: str,
    client_id: int | None = None,
    out_dir: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    email: bool = False,
    *,
    processes: int | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Write the reports of ``period`` (every client that has one, or one client) into out_dir.

    ``out_dir`` defaults to ``REPORT_DIR/<period>``; ``progress(done, total)`` follows the files;
    with ``email`` each report goes to the client's contacts and account manager, once. Only a
    closed month is mailed: a preliminary report is not what the client pays against.
    """
    month_bounds(period)
    closed = is_month_closed(period)
    if email and not closed:
        raise BatchError(f"{period} is not closed: its reports are preliminary and not mailed")
    clients = report_clients(period, client_ids=None if client_id is None else [client_id], now=now)
    if client_id is not None and not clients:
        raise BatchError(f"client {client_id} does not exist or has no report for {period}")
    target = Path(out_dir) if out_dir else Path(current_app.config["REPORT_DIR"]) / period
    target.mkdir(parents=True, exist_ok=True)
    names = _file_names(clients, period)
    result = BatchResult(period, target)
    total = len(clients)
    done = 0

    def advance(count: int = 1) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    frozen = _stored(clients, period) if closed else {}
    for client in clients:
        if client.id in frozen:
            _write(target / names[client.id], frozen[client.id])
            advance()
    fresh = [client for client in clients if client.id not in frozen]
    inputs = report_inputs(fresh, period, now=now)
    # render_many names files itself; the rare client whose name was taken is rendered here.
    pooled = [
        (client, data)
        for client, data in zip(fresh, inputs, strict=True)
        if report_filename(data) == names[client.id]
    ]
    start = done
    render_many(
        [data for _, data in pooled],
        target,
        processes=processes,
        progress=lambda finished, _total: advance(start + finished - done),
    )
    pooled_ids = {client.id for client, _ in pooled}
    for client, data in zip(fresh, inputs, strict=True):
        if client.id not in pooled_ids:
            _write(target / names[client.id], render_report(data))
            advance()
    result.rendered = len(fresh)
    if closed:
        for client in fresh:
            path = target / names[client.id]
            content = path.read_bytes()
            kept = store_report(client, period, content)
            if kept != content:  # stored by a concurrent run first: theirs is the report
                _write(path, kept)
        db.session.commit()
    result.paths = [target / names[client.id] for client in clients]
    if email:
        for client in clients:
            if _mail_report(client, period, target / names[client.id]):
                result.mailed += 1
            db.session.commit()
    return result


def _stored(clients: Sequence[Client], period: str) -> dict[int, bytes]:
    """Reports of these clients stored for ``period`` before this run."""
    ids = [client.id for client in clients]
    if not ids:
        return {}
    rows = db.session.execute(
        select(StoredReport.client_id, StoredReport.content).where(
            StoredReport.period == period, StoredReport.client_id.in_(ids)
        )
    )
    return {client_id: content for client_id, content in rows}


# -- mail ---------------------------------------------------------------------------------------


def report_recipients(client: Client) -> tuple[list[str], list[str]]:
    """(to, cc): the primary contacts (else every contact), and the account manager in copy."""
    contacts = primary_contact_emails(client)
    if not contacts:
        everyone = db.session.scalars(
            select(Contact).where(Contact.client_id == client.id).order_by(Contact.id)
        )
        contacts = unique_addresses(contact.email for contact in everyone)
    manager = unique_addresses([account_manager_email(client)])
    if not contacts:
        return manager, []
    return contacts, [address for address in manager if address not in contacts]


def _message(client: Client, period: str, path: Path, to: list[str], cc: list[str]) -> Message:
    """The mail carrying the report, in the client's language."""
    report_client = ReportClient(client.name, client.language, client.timezone)
    fmt = formatter(report_client.language)  # refuses a missing catalog: no silent English
    first, _, _ = month_bounds(period)
    month = fmt.month(first.year, first.month)
    manager = account_manager(client)
    vendor = current_app.config["VENDOR_NAME"]
    gettext = _MESSAGES.gettext
    with force_locale(client.language):
        subject = gettext(
            "Monthly usage report %(month)s – %(client)s", month=month, client=client.name
        )
        body = "\n\n".join(
            [
                gettext("Hello,"),
                gettext(
                    "Please find attached the monthly usage report of %(client)s for %(month)s.",
                    client=client.name,
                    month=month,
                ),
                gettext(
                    "If you have questions about it, your account manager %(manager)s "
                    "(%(email)s) will be glad to help.",
                    manager=manager.name,
                    email=manager.email,
                ),
                gettext("Kind regards,") + "\n" + vendor,
            ]
        )
    message = Message(
        subject=subject,
        recipients=to,
        cc=cc,
        body=body + "\n",
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers=dict(AUTO_HEADERS),
    )
    message.attach(path.name, "application/pdf", path.read_bytes())
    return message


def _mail_report(client: Client, period: str, path: Path) -> bool:
    """Send one client's report unless it went before; True if it was sent now.

    The same once-only bookkeeping as :func:`helpdesk.notifications.once.send_once`, with the PDF attached.
    """
    key = mail_key(client.id, period)
    to, cc = report_recipients(client)
    if not to or already_sent(key):
        if not to:
            log.warning("report %s of %s: nobody to send it to", period, client.name)
        return False
    message = _message(client, period, path, to, cc)
    try:
        with db.session.begin_nested():
            db.session.add(SentNotification(key=key, recipients=", ".join([*to, *cc])))
            db.session.flush()
            mail.send(message)
    except IntegrityError:
        log.info("report %s of %s: sent by another run meanwhile", period, client.name)
        return False
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("report %s of %s not sent (will retry): %s", period, client.name, exc)
        return False
    return True


def scheduled_monthly(period: str, email: bool = True, **kwargs: object) -> BatchResult | str:
    """The job after the month close: the month's reports, mailed; a month whose close still
    waits for review has no final reports yet, so nothing is written or sent (the account
    managers were told; ``flask report monthly --email`` sends them after the close)."""
    if not is_month_closed(period):
        return f"{period}: not closed yet (review pending); reports wait for the close"
    return monthly(period, email=email, **kwargs)  # type: ignore[arg-type]

