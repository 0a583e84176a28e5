"""The reserved-priority queue: which tickets an agent sees, in which order, and why.

Tickets of clients with an active contract come first while they are within the hours the weekly
plan reserved for them (helpdesk/capacity), ordered by their next SLA due time, then priority; an
urgent ticket of anyone else that waited too long comes before low-priority contract work; everyone
else follows from the free capacity, by priority and age. Views narrow the list
(mine, unassigned, a client, a status, breached or due soon) and a search box finds tickets by
number, subject, message bodies and client. Pages are cut with keyset cursors, never OFFSET, and
totals are counted only up to a cap, so a page costs the same on the first and the thousandth.

The console and the API both call :func:`queue_page`; the access policy scopes every query.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, case, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import joinedload, selectinload

from ..auth.policy import ticket_scope
from ..capacity.queue import (
    BAND_RESERVED,
    BAND_RESERVED_LOW,
    QueueContext,
    band_expression,
    band_of,
    orders_by_due,
)
from ..capacity.queue import context as capacity_context
from ..contracts.services import SERVING_STATUSES, package_on
from ..extensions import db
from ..models import (
    OPEN_STATUSES,
    ContactEmail,
    Contract,
    ContractChange,
    Package,
    Ticket,
    TicketStatus,
    User,
    UTCDateTime,
    utcnow,
)
from .search import iter_matching_ids, parse_query, ticket_match

OPEN = tuple(s.value for s in OPEN_STATUSES)
ALL_STATUSES = tuple(TicketStatus.values())
#: Sorts tickets without a due time after every real one.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)

VIEWS = ("all", "mine", "unassigned", "due")
ORDERS = ("queue", "newest")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
COUNT_CAP = 1000
#: "Due soon": the next SLA target falls within this many minutes (the due view).
DUE_SOON_MINUTES = 120


#: A search that is one email address: the tickets of that person, not the words of it.
_EMAIL_RE = re.compile(r"[^@\s\"]+@[^@\s\"]+\.[^@\s\"]+")


def searched_email(q: str | None) -> str | None:
    """The address when the search box holds exactly one email address."""
    text = (q or "").strip()
    return text.lower() if _EMAIL_RE.fullmatch(text) else None


def _email_match(email: str):
    """Tickets of the person with this address: their contact's, mailed from it, or opened
    by the portal user signed in with it; and any whose text names it."""
    contact_ids = select(ContactEmail.contact_id).where(ContactEmail.email == email)
    user_ids = select(User.id).where(func.lower(User.email) == email)
    clauses = [
        Ticket.contact_id.in_(contact_ids),
        func.lower(Ticket.requester_email) == email,
        Ticket.opened_by_id.in_(user_ids),
    ]
    words = ticket_match(email)
    if words is not None:
        clauses.append(words)
    return or_(*clauses)


class BadCursor(ValueError):
    """A cursor that this queue did not hand out (or for another ordering)."""


@dataclass(frozen=True)
class QueueFilter:
    """What the agent asked to see; every field optional, the defaults give the open queue."""

    view: str = "all"
    statuses: tuple[str, ...] = OPEN
    client_id: int | None = None
    assignee_id: int | None = None
    q: str | None = None
    #: "queue" (reserved priority) or "newest"; None picks: queue for open tickets, else newest.
    order: str | None = None
    due_soon_minutes: int = DUE_SOON_MINUTES

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}; expected one of {VIEWS}")
        bad = [s for s in self.statuses if s not in ALL_STATUSES]
        if bad or not self.statuses:
            raise ValueError(f"unknown status {bad!r}; expected some of {ALL_STATUSES}")
        if self.order is not None and self.order not in ORDERS:
            raise ValueError(f"unknown order {self.order!r}; expected one of {ORDERS}")

    @property
    def effective_order(self) -> str:
        """Search results and closed tickets read newest first; the open queue by priority."""
        if self.order:
            return self.order
        if self.q and self.q.strip():
            return "newest"
        return "queue" if set(self.statuses) <= set(OPEN) else "newest"


@dataclass
class QueueRow:
    """A ticket on the page and why it sits where it sits."""

    ticket: Ticket
    #: The package of the client's active contract (reserved tickets), else None.
    package_name: str | None
    #: "overdue", "due", "paused" (pending on the client), "met" or "none" (no SLA target).
    due_state: str
    #: Minutes until the next due time (negative: overdue by); None without a due time.
    due_in_minutes: int | None
    #: Minutes since the ticket was opened (how long everyone else has been waiting).
    age_minutes: int
    #: The capacity band (helpdesk/capacity/queue.py) in the queue order, else None.
    band: int | None = None

    @property
    def reserved(self) -> bool:
        return bool(self.ticket.reserved)


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    #: Matching tickets, counted up to :data:`COUNT_CAP` (``count_capped`` says there are more).
    count: int
    count_capped: bool
    filters: QueueFilter
    order: str
    now: datetime
    extra: dict = field(default_factory=dict)


# -- ordering and cursors -------------------------------------------------------------------------


def _queue_key(ctx: QueueContext):
    """Sort expressions of the planned order, all ascending (so a row value compares): the
    capacity band, then (reserved bands) the next due time, then priority, age and id."""
    far = literal(FAR_FUTURE, UTCDateTime())
    band = band_expression(ctx)
    due = case(
        (band.in_([BAND_RESERVED, BAND_RESERVED_LOW]), func.coalesce(Ticket.sla_next_due, far)),
        else_=far,
    )
    return (band, due, Ticket.priority_rank, Ticket.created_at, Ticket.id)


def _queue_values(t: Ticket, ctx: QueueContext) -> list:
    band = band_of(t, ctx)
    due = (t.sla_next_due or FAR_FUTURE) if orders_by_due(band) else FAR_FUTURE
    return [band, due.isoformat(), t.priority_rank, t.created_at.isoformat(), t.id]


def encode_cursor(order: str, ticket: Ticket, ctx: QueueContext | None = None) -> str:
    """An opaque cursor pointing after ``ticket`` in ``order`` (the queue order needs ``ctx``)."""
    values = _queue_values(ticket, ctx) if order == "queue" else [ticket.id]
    raw = json.dumps([order, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: str, cursor: str) -> list:
    """The key values inside a cursor; :class:`BadCursor` when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadCursor("malformed cursor") from exc
    if not isinstance(data, list) or not data or data[0] != order:
        raise BadCursor("cursor of another ordering")
    values = data[1:]
    try:
        if order == "queue":
            band, due, rank, created, ticket_id = values
            return [int(band), _parse_dt(due), int(rank), _parse_dt(created),
                    int(ticket_id)]
        (ticket_id,) = values
        return [int(ticket_id)]
    except (TypeError, ValueError) as exc:
        raise BadCursor("malformed cursor") from exc


def _parse_dt(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive datetime in cursor")
    return parsed.astimezone(UTC)


def _after(order: str, values: list, ctx: QueueContext | None = None):
    if order == "queue":
        band, due, rank, created, ticket_id = values
        bound = (
            literal(band),
            literal(due, UTCDateTime()),
            literal(rank),
            literal(created, UTCDateTime()),
            literal(ticket_id),
        )
        return tuple_(*_queue_key(ctx)) > tuple_(*bound)
    return Ticket.id < values[0]


# -- the query ------------------------------------------------------------------------------------


def filtered(user: User, filters: QueueFilter, now: datetime, *, with_search: bool = True
             ) -> Select:
    """Tickets the user may see that match ``filters`` (not ordered, not paged)."""
    stmt = ticket_scope(user, select(Ticket))
    statuses = filters.statuses
    if filters.view == "due":
        # A paused (pending) ticket's clock stands still: it cannot become due.
        statuses = tuple(s for s in statuses if s != TicketStatus.PENDING)
        deadline = now + timedelta(minutes=filters.due_soon_minutes)
        stmt = stmt.where(Ticket.sla_next_due.is_not(None), Ticket.sla_next_due <= deadline)
    if set(statuses) != set(ALL_STATUSES):
        stmt = stmt.where(Ticket.status.in_(statuses) if statuses else False)
    if filters.view == "mine":
        stmt = stmt.where(Ticket.assignee_id == user.id)
    elif filters.view == "unassigned":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    if filters.client_id is not None:
        stmt = stmt.where(Ticket.client_id == filters.client_id)
    if filters.assignee_id is not None:
        stmt = stmt.where(Ticket.assignee_id == filters.assignee_id)
    if with_search:
        email = searched_email(filters.q)
        match = (_email_match(email) if email
                 else ticket_match(filters.q, public_only=not user.is_staff))
        if match is not None:
            stmt = stmt.where(match)
    return stmt


def ordered(stmt: Select, order: str, ctx: QueueContext | None = None) -> Select:
    if order == "queue":
        return stmt.order_by(*_queue_key(ctx))
    return stmt.order_by(Ticket.id.desc())


def capped_count(stmt: Select, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows ``stmt`` has, counting no further than ``cap`` (and whether it stopped)."""
    inner = stmt.with_only_columns(Ticket.id).order_by(None).limit(cap + 1).subquery()
    n = db.session.scalar(select(func.count()).select_from(inner)) or 0
    return min(n, cap), n > cap


def queue_page(
    user: User,
    filters: QueueFilter | None = None,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    now: datetime | None = None,
    count: bool = True,
) -> QueuePage:
    """One page of the queue for ``user``; raises :class:`BadCursor` for a foreign cursor."""
    filters = filters or QueueFilter()
    now = now or utcnow()
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    order = filters.effective_order
    after = decode_cursor(order, cursor) if cursor else None
    ctx = capacity_context(now) if order == "queue" else None
    if order == "newest" and parse_query(filters.q) and not searched_email(filters.q):
        tickets = _search_newest(user, filters, now, after[0] if after else None, limit + 1)
        more = len(tickets) > limit
        tickets = tickets[:limit]
        # Counting every match of a common word is what makes searches slow: say "more".
        total, capped = len(tickets), more
    else:
        base = filtered(user, filters, now)
        # Order and cut on the narrow key first, then load the page's rows with their joins:
        # sorting thousands of open tickets is cheap, sorting them with every column is not.
        keys = ordered(base.with_only_columns(Ticket.id), order, ctx)
        if after is not None:
            keys = keys.where(_after(order, after, ctx))
        ids = list(db.session.scalars(keys.limit(limit + 1)))
        more = len(ids) > limit
        ids = ids[:limit]
        rows = {t.id: t for t in db.session.scalars(
            select(Ticket).where(Ticket.id.in_(ids))
            .options(joinedload(Ticket.client), joinedload(Ticket.assignee))).unique()}
        tickets = [rows[i] for i in ids]
        total, capped = capped_count(base) if count else (len(tickets), more)
    packages = reserved_packages({t.client_id for t in tickets if t.reserved and t.client_id},
                                 local_today(now))
    rows = [explain(t, packages.get(t.client_id), now, ctx) for t in tickets]
    return QueuePage(
        rows=rows,
        next_cursor=encode_cursor(order, tickets[-1], ctx) if more and tickets else None,
        count=total,
        count_capped=capped,
        filters=filters,
        order=order,
        now=now,
    )


def _search_newest(user: User, filters: QueueFilter, now: datetime, below: int | None,
                   want: int) -> list[Ticket]:
    """Newest matching tickets that pass the filters: candidates from the index, checked in
    growing batches, so a page costs what it needs whatever the size of the tables."""
    base = filtered(user, filters, now, with_search=False)
    candidates = iter_matching_ids(filters.q, below=below,
                                   public_only=not user.is_staff)
    found: list[Ticket] = []
    batch = 64
    while len(found) < want:
        ids = list(itertools.islice(candidates, batch))
        if not ids:
            break
        stmt = (base.where(Ticket.id.in_(ids)).order_by(Ticket.id.desc())
                .options(joinedload(Ticket.client), joinedload(Ticket.assignee)))
        found += db.session.scalars(stmt).unique()
        batch = min(batch * 4, 4096)
    return found[:want]


def explain(ticket: Ticket, package_name: str | None, now: datetime,
            ctx: QueueContext | None = None) -> QueueRow:
    """Why a ticket sits where it does: its band in the plan, its contract, due time, priority."""
    age = int((now - ticket.created_at).total_seconds() // 60)
    if ticket.sla_clock is None:
        state, due_in = "none", None
    elif ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED) or ticket.sla_next_due is None:
        state, due_in = "met", None
    else:
        due_in = _minutes_until(ticket.sla_next_due, now)
        if ticket.status == TicketStatus.PENDING:
            state = "paused"
        else:
            state = "overdue" if due_in < 0 else "due"
    band = band_of(ticket, ctx) if ctx is not None else None
    return QueueRow(ticket=ticket, package_name=package_name if ticket.reserved else None,
                    due_state=state, due_in_minutes=due_in, age_minutes=age, band=band)


def _minutes_until(moment: datetime, now: datetime) -> int:
    seconds = (moment - now).total_seconds()
    return int(seconds // 60) if seconds >= 0 else -int(-seconds // 60)


# -- contracts behind the reserved flag -----------------------------------------------------------


def local_today(now: datetime | None = None) -> date:
    """Today in the vendor's zone: the day contracts are judged on."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    return (now or utcnow()).astimezone(zone).date()


def _serving_contracts(day: date) -> Select:
    return select(Contract).where(
        Contract.status.in_([s.value for s in SERVING_STATUSES]),
        Contract.start_date <= day,
        or_(Contract.end_date.is_(None), Contract.end_date >= day),
    )


def reserved_packages(client_ids: set[int], day: date) -> dict[int, str]:
    """Client id -> name of the package in force on ``day``, for clients with an active contract."""
    if not client_ids:
        return {}
    contracts = db.session.scalars(
        _serving_contracts(day)
        .where(Contract.client_id.in_(client_ids))
        .order_by(Contract.start_date.desc(), Contract.id.desc())
        .options(
            selectinload(Contract.changes).joinedload(ContractChange.package),
            joinedload(Contract.package),
        )
    ).all()
    names: dict[int, str] = {}
    for contract in contracts:
        if contract.client_id not in names:
            package: Package = package_on(contract, day)
            names[contract.client_id] = package.name
    return names


def refresh_reserved(client_id: int, day: date | None = None) -> int:
    """Re-evaluate ``reserved`` on a client's open tickets after its contract changed.

    Call it wherever a contract is created, renewed, expired or cancelled; the SLA sweep also
    runs :func:`refresh_reserved_all` so contracts that simply run out are noticed. Returns the
    number of tickets changed.
    """
    day = day or local_today()
    serving = db.session.scalar(
        select(func.count()).select_from(
            _serving_contracts(day).where(Contract.client_id == client_id).subquery()
        )
    )
    reserved = bool(serving)
    result = db.session.execute(
        update(Ticket)
        .where(Ticket.client_id == client_id, Ticket.status.in_(OPEN),
               Ticket.reserved != reserved)
        .values(reserved=reserved)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def refresh_reserved_all(day: date | None = None) -> int:
    """Re-evaluate ``reserved`` on every open ticket (two indexed UPDATEs); returns changes."""
    day = day or local_today()
    serving_clients = _serving_contracts(day).with_only_columns(Contract.client_id)
    turned_on = db.session.execute(
        update(Ticket)
        .where(Ticket.status.in_(OPEN), Ticket.reserved.is_(False),
               Ticket.client_id.in_(serving_clients))
        .values(reserved=True)
        .execution_options(synchronize_session="fetch")
    )
    turned_off = db.session.execute(
        update(Ticket)
        .where(
            Ticket.status.in_(OPEN),
            Ticket.reserved.is_(True),
            or_(Ticket.client_id.is_(None), Ticket.client_id.not_in(serving_clients)),
        )
        .values(reserved=False)
        .execution_options(synchronize_session="fetch")
    )
    return (turned_on.rowcount or 0) + (turned_off.rowcount or 0)


__all__ = [
    "BadCursor",
    "QueueFilter",
    "QueuePage",
    "QueueRow",
    "capped_count",
    "decode_cursor",
    "encode_cursor",
    "explain",
    "filtered",
    "local_today",
    "queue_page",
    "refresh_reserved",
    "refresh_reserved_all",
    "reserved_packages",
]
