"""A client's month from the database as a `ReportInput`: what `reports/pdf.py` prints.

Every figure of the summary and the channel chart comes from the accounting module's usage
(:func:`helpdesk.accounting.usage.usage_for`); the lists (time entries, tickets, the daily chart)
come from the same month's entry listing (:func:`helpdesk.accounting.month_entries.month_entries`); SLA
outcomes from the SLA service's clock readings; visits from the visit planner. Nothing is
billed, rounded or priced here: this module only selects, groups and relabels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from helpdesk.accounting.breakdown import usage_detail
from helpdesk.accounting.explain import EntryExplanation
from helpdesk.accounting.ledger import billing_rules
from helpdesk.accounting.month_entries import MonthEntry, month_entries
from helpdesk.accounting.monthly import Usage
from helpdesk.accounting.periods import month_bounds
from helpdesk.accounting.usage import month_utc_bounds
from helpdesk.contracts.changes import package_timeline, status_while_in_force
from helpdesk.extensions import db
from helpdesk.models import Addon, Client, ClosedMonth, Contract, Package, Ticket, User, utcnow
from helpdesk.sla.service import business_calendar, read_clocks
from helpdesk.visits import visits_summary
from reports.i18n import ReportFormatter, formatter
from reports.model import (
    AccountManager,
    AdjustmentLine,
    ChannelMinutes,
    ContractEvent,
    ReportInput,
    SlaCompliance,
    SlaOutcome,
    Summary,
    TicketLine,
    TimeEntryLine,
    Vendor,
    Visits,
)
from reports.model import Addon as ReportAddon
from reports.model import Client as ReportClient

__all__ = [
    "account_manager",
    "report_input",
    "report_inputs",
    "requester_report_input",
    "ticket_outcomes",
]

#: Usage statuses under which the client was on a package this month.
_PACKAGE_STATUSES = frozenset({"active", "trial"})


def report_input(client: Client, period: str, *, now: datetime | None = None) -> ReportInput:
    """One client's report of ``period`` ("YYYY-MM", the client's local month)."""
    return report_inputs([client], period, now=now)[0]


def report_inputs(
    clients: Sequence[Client], period: str, *, now: datetime | None = None
) -> list[ReportInput]:
    """The reports of many clients for one month, in the given order (usage in one batch).

    ``now`` is the moment the figures are taken for an open month (default: the clock); a
    closed month is always issued at its closing time, so its input does not depend on ``now``.
    """
    month_bounds(period)
    now = now or utcnow()
    closed_at = _closed_at(period)
    issued = closed_at or now
    usages = {client.id: usage_detail(client, period) for client in clients}
    names = _Names(
        addons={code: name for code, name in db.session.execute(select(Addon.code, Addon.name))},
        packages={id_: name for id_, name in db.session.execute(select(Package.id, Package.name))},
    )
    return [
        _build(client, period, usages[client.id], issued, closed_at is None, names)
        for client in clients
    ]


def requester_report_input(
    client: Client, user: User, period: str, *, now: datetime | None = None
) -> ReportInput:
    """A sub-agent's report: the tickets this person opened, the hours on them, no money.

    The hours are the company usage's own figures entry by entry (the same explanations), only
    the entries on the person's tickets are kept; amounts, add-ons, visits and adjustments of the
    company are left out.
    """
    month_bounds(period)
    now = now or utcnow()
    closed_at = _closed_at(period)
    names = _Names(addons={}, packages={
        id_: name for id_, name in db.session.execute(select(Package.id, Package.name))})
    return _build(client, period, usage_detail(client, period), closed_at or now,
                  closed_at is None, names, requester=user)


@dataclass(frozen=True)
class _Names:
    """Display names of the price list, read once per batch: code -> add-on, id -> package."""

    addons: dict[str, str]
    packages: dict[int, str]


def _closed_at(period: str) -> datetime | None:
    return db.session.scalar(select(ClosedMonth.closed_at).where(ClosedMonth.period == period))


def _build(
    client: Client,
    period: str,
    usage: Usage,
    issued: datetime,
    preliminary: bool,
    names: _Names,
    requester: User | None = None,
) -> ReportInput:
    report_client = ReportClient(client.name, client.language, client.timezone)
    fmt = formatter(report_client.language)
    entries = month_entries(client, period)
    summary = _summary(usage, names.addons)
    channels = ChannelMinutes(**usage.used_minutes_by_kind)
    visits = _visits(client, period, issued)
    if requester is not None:
        own = set(db.session.scalars(select(Ticket.number).where(
            Ticket.client_id == client.id, Ticket.opened_by_id == requester.id)))
        entries = [e for e in entries if e.ticket_number in own and not e.is_adjustment]
        summary, channels = _requester_summary(usage, entries), _channels(entries)
        visits = None
    tickets = _tickets(client, period, entries, issued, only=own if requester else None)
    rules = billing_rules()
    return ReportInput(
        vendor=_vendor(),
        client=report_client,
        period=period,
        account_manager=account_manager(client),
        package_name=_package_name(client, period, usage, fmt, names.packages),
        preliminary=preliminary,
        issued_at=issued,
        summary=summary,
        channel_minutes=channels,
        daily_minutes=_daily_minutes(client, period, entries),
        tickets=tickets,
        time_entries=tuple(
            _entry_line(entry, usage.explanations.get(entry.id))
            for entry in entries if not entry.is_adjustment
        ),
        adjustments=tuple(_adjustment_line(entry) for entry in entries if entry.is_adjustment),
        sla=_compliance(tickets),
        visits=visits,
        holidays=_holidays(client, period),
        increment_minutes=rules.increment_minutes,
        out_of_hours_multiplier=Decimal(rules.out_of_hours_multiplier),
        requester=requester.name if requester is not None else None,
        contract_events=_contract_events(client, period, names),
    )


def _contract_events(client: Client, period: str, names: _Names) -> tuple[ContractEvent, ...]:
    """The contract history of the month (terms, upgrades, add-ons, trial conversion, end)."""
    from helpdesk.contracts.history import contract_history

    first, after, _ = month_bounds(period)
    return tuple(
        ContractEvent(e.day, e.kind, names.addons.get(e.name, e.name), e.before)
        for e in contract_history(client, first, after)
    )


def _requester_summary(usage: Usage, entries: Sequence[MonthEntry]) -> Summary:
    """Hours of the given entries, split as the company usage split them; no money."""
    used = surcharge = development = 0
    for entry in entries:
        explanation = usage.explanations.get(entry.id)
        bucket = explanation.bucket if explanation else "package"
        if bucket == "package":
            used += entry.billable_minutes
            surcharge += explanation.surcharge_minutes if explanation else 0
        elif bucket == "development":
            development += entry.billable_minutes
    zero = Decimal("0.00")
    return Summary(
        included_minutes=0, used_minutes=used, billable_minutes=used, balance_minutes=0,
        overage_minutes=0, overage_amount=zero, fee=zero, development_amount=zero,
        no_contract_amount=zero, total=zero, currency=usage.currency,
        worked_minutes=sum(entry.minutes for entry in entries), surcharge_minutes=surcharge,
        development_minutes=development,
    )


def _channels(entries: Sequence[MonthEntry]) -> ChannelMinutes:
    by_kind: dict[str, int] = defaultdict(int)
    for entry in entries:
        by_kind[entry.kind] += entry.billable_minutes
    return ChannelMinutes(**by_kind)


# -- header ---------------------------------------------------------------------------------


def _vendor() -> Vendor:
    """The vendor from the settings; a relative VENDOR_LOGO is taken from the instance folder."""
    config = current_app.config
    logo = config.get("VENDOR_LOGO")
    logo_path = None
    if logo:
        logo_path = Path(logo)
        if not logo_path.is_absolute():
            logo_path = Path(current_app.instance_path) / logo_path
    return Vendor(config["VENDOR_NAME"], logo_path)


def account_manager(client: Client) -> AccountManager:
    """The client's account manager; without one, the vendor's support address answers."""
    manager = db.session.get(User, client.account_manager_id) if client.account_manager_id else None
    if manager is None:
        config = current_app.config
        return AccountManager(config["VENDOR_NAME"], config["VENDOR_EMAIL"])
    return AccountManager(manager.name, manager.email)


def _package_name(
    client: Client, period: str, usage: Usage, fmt: ReportFormatter, names: dict[int, str]
) -> str:
    """The package(s) the client was on this month, "Standard → Extended" after an upgrade."""
    if usage.status not in _PACKAGE_STATUSES:
        return fmt.gettext("No contract")
    first, after, _ = month_bounds(period)
    contracts = db.session.scalars(
        select(Contract)
        .where(
            Contract.client_id == client.id,
            Contract.start_date < after,
            or_(Contract.end_date.is_(None), Contract.end_date >= first),
        )
        .options(selectinload(Contract.changes))
        .order_by(Contract.start_date, Contract.id)
    ).all()
    package_ids: list[int] = []
    for contract in contracts:
        if status_while_in_force(contract) is None:
            continue
        stop = contract.end_date + timedelta(days=1) if contract.end_date else after
        timeline = package_timeline(contract)
        for index, (start, package_id) in enumerate(timeline):
            end = timeline[index + 1][0] if index + 1 < len(timeline) else stop
            if start < after and end > first and package_id not in package_ids[-1:]:
                package_ids.append(package_id)
    name = " → ".join(names[package_id] for package_id in package_ids) or "–"
    if usage.status == "trial":
        return fmt.gettext("%(package)s (trial)") % {"package": name}
    return name


# -- figures ----------------------------------------------------------------------------------


def _summary(usage: Usage, addon_names: dict[str, str]) -> Summary:
    """The usage as the summary prints it; "used" are the package hours (the API's billable)."""
    return Summary(
        included_minutes=usage.included_minutes,
        used_minutes=usage.billable_minutes,
        billable_minutes=usage.billable_minutes,
        balance_minutes=usage.included_minutes - usage.billable_minutes,
        overage_minutes=usage.overage_minutes,
        overage_amount=usage.overage_amount,
        fee=usage.fee,
        development_amount=usage.development_amount,
        no_contract_amount=usage.no_contract_amount,
        total=usage.total,
        currency=usage.currency,
        addons=tuple(
            ReportAddon(addon_names.get(addon.name, addon.name), addon.amount)
            for addon in usage.addons
        ),
        worked_minutes=usage.worked_minutes,
        surcharge_minutes=usage.out_of_hours_surcharge_minutes,
        adjustment_minutes=usage.adjustment_minutes,
        development_minutes=usage.development_minutes,
        free_visit_minutes=usage.free_visit_minutes,
        warranty_minutes=usage.warranty_minutes,
        trial=usage.status == "trial",
        no_contract=usage.status not in _PACKAGE_STATUSES,
        outside_contract_minutes=usage.outside_contract_minutes,
    )


def _daily_minutes(client: Client, period: str, entries: Sequence[MonthEntry]) -> tuple[int, ...]:
    """Minutes of work per local day of the month (adjustments are corrections, not work)."""
    first, _, days = month_bounds(period)
    zone = ZoneInfo(client.timezone)
    daily = [0] * days
    for entry in entries:
        if entry.is_adjustment:
            continue
        index = (entry.started_at.astimezone(zone).date() - first).days
        # An entry keeps the period it was logged in even if the client's zone changed later.
        daily[min(max(index, 0), days - 1)] += entry.billable_minutes
    return tuple(daily)


def _entry_line(entry: MonthEntry, explanation: EntryExplanation | None) -> TimeEntryLine:
    return TimeEntryLine(
        start=entry.started_at,
        agent=entry.agent_name or "–",
        kind=entry.kind,
        duration_minutes=entry.minutes,
        billable_minutes=entry.billable_minutes,
        out_of_hours=entry.out_of_hours,
        ticket_number=f"#{entry.ticket_number}" if entry.ticket_number is not None else None,
        codes=explanation.codes if explanation else (),
    )


def _adjustment_line(entry: MonthEntry) -> AdjustmentLine:
    return AdjustmentLine(
        booked_at=entry.started_at,
        kind=entry.kind,
        reason=entry.reason or "–",
        corrects_period=entry.corrects_period,
        minutes=entry.minutes,
        billable_minutes=entry.billable_minutes,
        ticket_number=f"#{entry.ticket_number}" if entry.ticket_number is not None else None,
    )


# -- tickets and SLA --------------------------------------------------------------------------


def ticket_outcomes(ticket: Ticket, at: datetime) -> tuple[SlaOutcome, SlaOutcome]:
    """(first response, resolution) as the SLA clocks read at ``at``; NONE while undecided."""
    outcomes = {"first_response": SlaOutcome.NONE, "resolution": SlaOutcome.NONE}
    for reading in read_clocks(ticket, now=at):
        if reading.state == "met":
            outcomes[reading.target] = SlaOutcome.MET
        elif reading.state in ("late", "breached") or reading.breached_at is not None:
            outcomes[reading.target] = SlaOutcome.BREACHED
    return outcomes["first_response"], outcomes["resolution"]


def _tickets(
    client: Client, period: str, entries: Sequence[MonthEntry], issued: datetime,
    only: set[int] | None = None,
) -> tuple[TicketLine, ...]:
    """Tickets opened this month or worked on in it, with this month's minutes on each."""
    minutes: dict[int, int] = defaultdict(int)
    for entry in entries:
        if entry.ticket_number is not None:
            minutes[entry.ticket_number] += entry.billable_minutes
    start, end = month_utc_bounds(period, client.timezone)
    opened_here = (Ticket.created_at >= start) & (Ticket.created_at < end)
    condition = or_(opened_here, Ticket.number.in_(list(minutes))) if minutes else opened_here
    if only is not None:
        condition = condition & Ticket.number.in_(list(only) or [-1])
    tickets = db.session.scalars(
        select(Ticket)
        .where(Ticket.client_id == client.id, condition)
        .options(selectinload(Ticket.pauses))
        .order_by(Ticket.number)
    ).all()
    lines = []
    for ticket in tickets:
        first_response, resolution = ticket_outcomes(ticket, issued)
        lines.append(
            TicketLine(
                number=f"#{ticket.number}",
                subject=ticket.subject,
                status=ticket.status,
                minutes_spent=minutes.get(ticket.number, 0),
                first_response=first_response,
                resolution=resolution,
            )
        )
    return tuple(lines)


def _percent(outcomes: Sequence[SlaOutcome]) -> Decimal | None:
    decided = [outcome for outcome in outcomes if outcome is not SlaOutcome.NONE]
    if not decided:
        return None
    met = sum(1 for outcome in decided if outcome is SlaOutcome.MET)
    return Decimal(met * 100) / Decimal(len(decided))


def _compliance(tickets: Sequence[TicketLine]) -> SlaCompliance:
    """Share of the listed tickets' decided targets that were kept, as the table shows them."""
    return SlaCompliance(
        first_response_pct=_percent([ticket.first_response for ticket in tickets]),
        resolution_pct=_percent([ticket.resolution for ticket in tickets]),
    )


# -- visits and calendar ----------------------------------------------------------------------


def _visits(client: Client, period: str, issued: datetime) -> Visits | None:
    """Visits used and left in the contract year at the month's end (or today, if earlier)."""
    _, after, _ = month_bounds(period)
    today = issued.astimezone(ZoneInfo(client.timezone)).date()
    summary = visits_summary(client, min(after - timedelta(days=1), today))
    if summary.allowed == 0 and summary.used == 0:
        return None
    return Visits(used=summary.used, left=summary.left)


def _holidays(client: Client, period: str) -> tuple[date, ...]:
    """The month's public holidays on which the client's office is closed."""
    first, _, days = month_bounds(period)
    calendar = business_calendar(client)
    month = (first + timedelta(days=offset) for offset in range(days))
    return tuple(
        day
        for day in month
        if calendar.holiday_name(day) is not None and not calendar.is_working_day(day)
    )
