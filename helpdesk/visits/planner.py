"""On-site visits: the contract year's entitlement, planned, confirmed, reminded and done.

A contract year runs from the contract's start date to the day before its anniversary (a start on
29 February has its anniversaries on 28 February). The package in force says how many visits the
year gives (``Package.visits_per_year``: Standard 1, Extended 2); trial contracts give none.

The planner proposes the missing visits of the current contract year, spread evenly: visit ``i``
of ``n`` sits in the middle of the ``i``-th ``n``-th of the year, or, when those dates are already
past, of what is left of the year after a lead time (VISIT_LEAD_DAYS). Dates fall on the client's
working days (its country's holidays, no weekends). It is idempotent: a visit exists once per
(contract, year start, sequence), and it never touches a visit someone confirmed or moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context
from flask_babel import force_locale, format_date, gettext, ngettext
from sqlalchemy import func, select

from ..accounting.ledger import log_entry
from ..audit_log.record import record, snapshot
from ..calendar.business import BusinessCalendar
from ..contracts import active_contract, package_on
from ..extensions import db
from ..models import (
    Client,
    Contract,
    ContractStatus,
    EntryKind,
    EntrySource,
    Role,
    TimeEntry,
    User,
    Visit,
    VisitStatus,
)
from ..notifications.once import (
    account_manager_email,
    primary_contact_emails,
    send_once,
    unique_addresses,
)
from ..sla.service import business_calendar
from .ics import send_invitation

#: Visits that still count as planned (not done, not cancelled).
OPEN_VISIT_STATUSES = (VisitStatus.PROPOSED, VisitStatus.CONFIRMED)


class VisitError(ValueError):
    """A visit change the rules refuse; the message is for the user."""


def _(message: str, **values: object) -> str:
    """Translated in a request (the console); plain English from the CLI and jobs."""
    if has_request_context():
        return gettext(message, **values)
    return message % values if values else message


# -- contract years ----------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def contract_year(contract: Contract, day: date) -> tuple[date, date] | None:
    """(first day, last day) of the contract year containing ``day``; None outside the contract."""
    if not contract.covers(day):
        return None
    years = day.year - contract.start_date.year
    start = add_years(contract.start_date, years)
    if start > day:
        years -= 1
        start = add_years(contract.start_date, years)
    end = add_years(contract.start_date, years + 1) - timedelta(days=1)
    if contract.end_date is not None and contract.end_date < end:
        end = contract.end_date
    return start, end


def visits_allowed(contract: Contract, day: date) -> int:
    """Visits a contract year gives, by the package in force on ``day`` (none on a trial)."""
    if contract.status != ContractStatus.ACTIVE:
        return 0
    return package_on(contract, day).visits_per_year


def local_today(client: Client, now: datetime) -> date:
    return now.astimezone(ZoneInfo(client.timezone)).date()


# -- planning ----------------------------------------------------------------------------------


def propose_dates(
    year_start: date,
    year_end: date,
    allowed: int,
    missing: list[int],
    earliest: date,
    calendar: BusinessCalendar,
    taken: set[date] | frozenset[date] = frozenset(),
) -> list[date | None]:
    """Dates for the ``missing`` sequence numbers (1-based) of ``allowed`` visits in a year.

    None for a visit that no longer fits (the year ends before ``earliest``).
    """
    span = (year_end - year_start).days + 1
    ideal = [year_start + timedelta(days=(2 * s - 1) * span // (2 * allowed)) for s in missing]
    if any(d < earliest for d in ideal):
        window = (year_end - earliest).days + 1
        if window <= 0:
            return [None] * len(missing)
        count = len(missing)
        ideal = [
            earliest + timedelta(days=(2 * j + 1) * window // (2 * count)) for j in range(count)
        ]
    used = set(taken)
    dates: list[date | None] = []
    for target in ideal:
        chosen = _working_day_near(target, max(earliest, year_start), year_end, calendar, used)
        if chosen is not None:
            used.add(chosen)
        dates.append(chosen)
    return dates


def _working_day_near(
    target: date, lo: date, hi: date, calendar: BusinessCalendar, taken: set[date]
) -> date | None:
    """The first free working day from ``target`` on, else the last one before it, in [lo, hi]."""
    day = max(target, lo)
    while day <= hi:
        if calendar.is_working_day(day) and day not in taken:
            return day
        day += timedelta(days=1)
    day = min(target, hi)
    while day >= lo:
        if calendar.is_working_day(day) and day not in taken:
            return day
        day -= timedelta(days=1)
    return None


@dataclass
class PlanResult:
    """What one planner run did."""

    created: list[Visit] = field(default_factory=list)
    cancelled: list[Visit] = field(default_factory=list)
    contracts: int = 0

    def __str__(self) -> str:
        return (
            f"{len(self.created)} visit(s) proposed, {len(self.cancelled)} cancelled, "
            f"{self.contracts} contract(s) checked"
        )


def plan_contract(contract: Contract, today: date, result: PlanResult | None = None) -> PlanResult:
    """Propose the missing visits of the contract year containing ``today``."""
    result = result if result is not None else PlanResult()
    year = contract_year(contract, today)
    if year is None:
        return result
    result.contracts += 1
    year_start, year_end = year
    visits = db.session.scalars(
        select(Visit).where(
            Visit.contract_id == contract.id, Visit.contract_year_start == year_start
        )
    ).all()
    # Visits logged by hand (a visit time entry without a planned visit) use the allowance too.
    linked = sum(1 for v in visits if v.time_entry_id is not None)
    by_hand = max(visits_used(contract.client, year_start, year_end) - linked, 0)
    allowed = max(visits_allowed(contract, today) - by_hand, 0)
    for visit in visits:
        if visit.sequence > allowed and visit.status == VisitStatus.PROPOSED:
            visit.status = VisitStatus.CANCELLED  # the package went down: fewer visits
            result.cancelled.append(visit)
    have = {v.sequence for v in visits}
    missing = [s for s in range(1, allowed + 1) if s not in have]
    if not missing:
        db.session.flush()
        return result
    client = contract.client
    lead = int(current_app.config["VISIT_LEAD_DAYS"])
    taken = {v.planned_date for v in visits if v.status != VisitStatus.CANCELLED}
    dates = propose_dates(
        year_start,
        year_end,
        allowed,
        missing,
        today + timedelta(days=lead),
        business_calendar(client),
        taken,
    )
    created = []
    for sequence, planned in zip(missing, dates, strict=True):
        if planned is None:
            continue
        visit = Visit(
            client_id=client.id,
            contract_id=contract.id,
            contract_year_start=year_start,
            sequence=sequence,
            planned_date=planned,
            status=VisitStatus.PROPOSED,
            account_manager_id=client.account_manager_id,
        )
        db.session.add(visit)
        created.append(visit)
    db.session.flush()
    for visit in created:
        record(visit, "create", actor="scheduler")
    result.created.extend(created)
    return result


def plan_visits(now: datetime) -> PlanResult:
    """The daily planner: every active contract's current year gets its visits proposed."""
    result = PlanResult()
    contracts = db.session.scalars(
        select(Contract).where(Contract.status == ContractStatus.ACTIVE).order_by(Contract.id)
    ).all()
    for contract in contracts:
        plan_contract(contract, local_today(contract.client, now), result)
    return result


# -- what is used and left ---------------------------------------------------------------------


@dataclass(frozen=True)
class VisitsSummary:
    """Visits of the contract year on a date; unpacks as ``(allowed, used, left, planned)``.

    ``used`` counts the year's visit time entries (what billing counts as visits, whether marked
    done here or logged by hand); ``done`` lists the planned visits marked done.
    """

    allowed: int
    used: int
    left: int
    planned: list[Visit]
    year_start: date | None = None
    year_end: date | None = None
    done: list[Visit] = field(default_factory=list)

    def __iter__(self) -> Iterator:
        return iter((self.allowed, self.used, self.left, self.planned))


def visits_used(client: Client, year_start: date, year_end: date) -> int:
    """Visit time entries of the client whose local start date lies in the contract year."""
    zone = ZoneInfo(client.timezone)
    lo = datetime.combine(year_start, time(0), zone).astimezone(UTC)
    hi = datetime.combine(year_end + timedelta(days=1), time(0), zone).astimezone(UTC)
    return (
        db.session.scalar(
            select(func.count(TimeEntry.id)).where(
                TimeEntry.client_id == client.id,
                TimeEntry.kind == EntryKind.VISIT,
                TimeEntry.is_adjustment.is_(False),
                TimeEntry.started_at >= lo,
                TimeEntry.started_at < hi,
            )
        )
        or 0
    )


def visits_summary(client: Client, on_date: date) -> VisitsSummary:
    """Allowed, used, left and planned visits of the client's contract year on a date."""
    contract = active_contract(client.id, on_date)
    year = contract_year(contract, on_date) if contract is not None else None
    if contract is None or year is None:
        return VisitsSummary(0, 0, 0, [])
    allowed = visits_allowed(contract, on_date)
    visits = db.session.scalars(
        select(Visit)
        .where(Visit.contract_id == contract.id, Visit.contract_year_start == year[0])
        .order_by(Visit.planned_date, Visit.sequence)
    ).all()
    done = [v for v in visits if v.status == VisitStatus.DONE]
    planned = [v for v in visits if v.status in OPEN_VISIT_STATUSES]
    used = visits_used(client, *year)
    return VisitsSummary(allowed, used, max(allowed - used, 0), planned, year[0], year[1], done)


# -- the account manager's actions -------------------------------------------------------------


def can_manage_visit(user: User, visit: Visit) -> bool:
    """Admins, and the account manager of the visit or of its client."""
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.ACCOUNT_MANAGER:
        return False
    client = db.session.get(Client, visit.client_id)
    return user.id in (visit.account_manager_id, client.account_manager_id if client else None)


def _require_open(visit: Visit) -> None:
    if visit.status not in OPEN_VISIT_STATUSES:
        raise VisitError(_("This visit is %(status)s and cannot be changed.", status=visit.status))


def _day(day: date) -> str:
    return format_date(day) if has_request_context() else day.isoformat()


def year_end_of(visit: Visit) -> date:
    """The last day of the contract year the visit belongs to."""
    end = add_years(visit.contract_year_start, 1) - timedelta(days=1)
    contract = db.session.get(Contract, visit.contract_id) if visit.contract_id else None
    if contract is not None and contract.end_date is not None and contract.end_date < end:
        end = contract.end_date
    return end


def confirm_visit(visit: Visit, *, user: User) -> None:
    """The account manager agreed the proposed date with the client."""
    _require_open(visit)
    before = snapshot(visit)
    visit.status = VisitStatus.CONFIRMED
    if visit.account_manager_id is None:
        visit.account_manager_id = user.id
    db.session.flush()
    record(visit, "update", user=user, before=before, after=snapshot(visit))
    send_invitation(visit)


def move_visit(visit: Visit, new_date: date, *, user: User, today: date) -> None:
    """A new date agreed with the client: a working day, from today to the year's end."""
    _require_open(visit)
    client = db.session.get(Client, visit.client_id)
    if new_date < today:
        raise VisitError(_("A visit cannot be moved into the past."))
    if new_date > year_end_of(visit):
        raise VisitError(
            _(
                "The date is after the end of the contract year (%(end)s).",
                end=_day(year_end_of(visit)),
            )
        )
    if not business_calendar(client).is_working_day(new_date):
        raise VisitError(_("%(date)s is not a working day for this client.", date=_day(new_date)))
    before = snapshot(visit)
    visit.planned_date = new_date
    visit.status = VisitStatus.CONFIRMED
    if visit.account_manager_id is None:
        visit.account_manager_id = user.id
    db.session.flush()
    record(visit, "update", user=user, before=before, after=snapshot(visit))
    send_invitation(visit)


def assign_visit(visit: Visit, agent: User | None, duration_minutes: int | None, *,
                 user: User) -> None:
    """Who goes on site and for how long (the calendar and the capacity plan count it)."""
    _require_open(visit)
    if agent is not None and (not agent.active or agent.role not in (Role.AGENT, Role.ADMIN)):
        raise VisitError(_("%(name)s cannot be sent on a visit.", name=agent.name))
    if duration_minutes is not None and not 15 <= duration_minutes <= 12 * 60:
        raise VisitError(_("A visit takes between 15 minutes and 12 hours."))
    before = snapshot(visit)
    visit.agent_id = agent.id if agent is not None else None
    visit.duration_minutes = duration_minutes
    db.session.flush()
    record(visit, "update", user=user, before=before, after=snapshot(visit))


def complete_visit(
    visit: Visit,
    *,
    user: User,
    started_at: datetime,
    minutes: int,
    note: str | None = None,
    now: datetime | None = None,
) -> TimeEntry:
    """Mark the visit done and record its time entry (kind visit) in the ledger."""
    _require_open(visit)
    now = now or datetime.now(started_at.tzinfo)
    if minutes <= 0:
        raise VisitError(_("Enter how long the visit took."))
    if started_at > now:
        raise VisitError(_("A visit cannot be marked done before it happened."))
    client = db.session.get(Client, visit.client_id)
    agent = db.session.get(User, visit.account_manager_id) if visit.account_manager_id else user
    before = snapshot(visit)
    entry = log_entry(
        client=client,
        kind=EntryKind.VISIT,
        started_at=started_at,
        minutes=minutes,
        agent=agent,
        source=EntrySource.VISIT,
        external_ref=f"visit-{visit.id}",
        note=note or f"On-site visit {visit.sequence}",
        user=user,
    )
    visit.status = VisitStatus.DONE
    visit.time_entry_id = entry.id
    visit.planned_date = local_today(client, started_at)
    if note:
        visit.notes = note
    db.session.flush()
    record(visit, "update", user=user, before=before, after=snapshot(visit))
    return entry


# -- reminders -----------------------------------------------------------------------------------


def send_visit_reminders(now: datetime) -> int:
    """Remind VISIT_REMINDER_DAYS before a visit, once per date and status.

    A confirmed visit: the client's primary contact(s) and the account manager. A visit still only
    proposed: the account manager alone, asked to confirm it with the client.
    """
    days = int(current_app.config["VISIT_REMINDER_DAYS"])
    horizon = now.date() + timedelta(days=days + 1)
    visits = db.session.scalars(
        select(Visit)
        .where(
            Visit.status.in_([s.value for s in OPEN_VISIT_STATUSES]),
            Visit.planned_date >= now.date() - timedelta(days=1),
            Visit.planned_date <= horizon,
        )
        .order_by(Visit.planned_date, Visit.id)
    ).all()
    sent = 0
    for visit in visits:
        client = db.session.get(Client, visit.client_id)
        days_left = (visit.planned_date - local_today(client, now)).days
        if not 0 < days_left <= days:
            continue
        manager = (
            db.session.get(User, visit.account_manager_id) if visit.account_manager_id else None
        )
        manager_email = manager.email if manager else account_manager_email(client)
        key = f"visit:{visit.id}:{visit.planned_date.isoformat()}:{visit.status}"
        if visit.status == VisitStatus.CONFIRMED:
            to = unique_addresses([*primary_contact_emails(client), manager_email])
            language = client.language
        else:
            to = unique_addresses([manager_email])
            language = manager.language if manager and manager.language else client.language
        with force_locale(language):
            subject, body = _visit_reminder_text(visit, client, manager, days_left)
        sent += send_once(key, to, subject, body)
    return sent


def _visit_reminder_text(
    visit: Visit, client: Client, manager: User | None, days_left: int
) -> tuple[str, str]:
    when = format_date(visit.planned_date, "full")
    in_days = ngettext("in %(num)d day", "in %(num)d days", days_left)
    vendor = current_app.config["VENDOR_NAME"]
    advisor = manager.name if manager else vendor
    if visit.status == VisitStatus.CONFIRMED:
        subject = gettext("On-site visit on %(date)s", date=format_date(visit.planned_date))
        body = gettext(
            "Dear %(client)s,\n\nthis is a reminder of the on-site visit of your support "
            "contract on %(date)s (%(in_days)s). %(advisor)s will visit you.\n\nIf the date no "
            "longer suits you, please reply to this message.\n\n%(vendor)s",
            client=client.name,
            date=when,
            in_days=in_days,
            advisor=advisor,
            vendor=vendor,
        )
    else:
        subject = gettext(
            "Please confirm the visit to %(client)s on %(date)s",
            client=client.name,
            date=format_date(visit.planned_date),
        )
        body = gettext(
            "The on-site visit %(sequence)d to %(client)s is proposed for %(date)s "
            "(%(in_days)s) and not confirmed yet. Please agree the date with the client and "
            "confirm or move it in the console.\n\n%(vendor)s",
            sequence=visit.sequence,
            client=client.name,
            date=when,
            in_days=in_days,
            vendor=vendor,
        )
    return subject, body
