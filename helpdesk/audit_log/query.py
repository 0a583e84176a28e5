"""The audit log viewer's query: filters and keyset pages (never OFFSET)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import AuditLog, User

PAGE_SIZE = 50

#: Words for the stored table names (the object types people filter by).
ENTITY_LABELS = {
    "tickets": _l("Ticket"),
    "clients": _l("Client"),
    "contacts": _l("Contact"),
    "contracts": _l("Contract"),
    "contract_changes": _l("Contract change"),
    "contract_addons": _l("Contract add-on"),
    "packages": _l("Package"),
    "addons": _l("Add-on"),
    "time_entries": _l("Time entry"),
    "running_timers": _l("Timer"),
    "closed_months": _l("Closed month"),
    "visits": _l("Visit"),
    "users": _l("Person"),
    "api_tokens": _l("API token"),
}

#: Words for the stored actions.
ACTION_LABELS = {
    "create": _l("created"),
    "update": _l("changed"),
    "delete": _l("deleted"),
    "merge": _l("merged"),
    "close": _l("closed"),
    "start": _l("started"),
    "stop": _l("stopped"),
    "cancel": _l("cancelled"),
    "invite": _l("invited"),
    "remove": _l("removed"),
    "password_set": _l("password set"),
    "package_upgrade": _l("package upgraded"),
    "package_downgrade": _l("package downgraded"),
    "review_approve": _l("approved"),
    "review_reject": _l("rejected"),
}

#: Who acted when no person did.
ACTOR_LABELS = {
    "ingest": _l("mail ingest"),
    "scheduler": _l("scheduler"),
    "import": _l("import"),
    "cli": _l("command line"),
    "system": _l("system"),
}


class BadFilter(ValueError):
    """A filter value that cannot be used; ``field`` names it."""

    def __init__(self, field_name: str, message) -> None:
        super().__init__(str(message))
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class AuditFilter:
    entity_type: str | None = None
    entity_id: int | None = None
    user_id: int | None = None
    #: Days in the viewer's zone, both included.
    date_from: date | None = None
    date_to: date | None = None


@dataclass
class AuditPage:
    rows: list[AuditLog]
    next_before: int | None
    filters: AuditFilter
    changes: dict[int, list[tuple[str, object, object]]] = field(default_factory=dict)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC moments a local day starts and the next one starts (23 or 25 h across DST)."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def changed_fields(entry: AuditLog) -> list[tuple[str, object, object]]:
    """(field, before, after) for every field whose value differs."""
    before, after = entry.before or {}, entry.after or {}
    names = sorted(set(before) | set(after))
    if entry.action == "create":
        return [(n, None, after.get(n)) for n in names if after.get(n) is not None]
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]


def audit_page(filters: AuditFilter, zone: ZoneInfo, *, before: int | None = None,
               limit: int | None = None) -> AuditPage:
    """Entries matching ``filters``, newest first, ``limit`` (PAGE_SIZE) below id ``before``."""
    limit = limit or PAGE_SIZE
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise BadFilter("date_to", _l("The end date is before the start date."))
    if filters.entity_id is not None and not filters.entity_type:
        raise BadFilter("entity_type", _l("Choose the type of the object with this number."))
    stmt = select(AuditLog).options(joinedload(AuditLog.user)).order_by(AuditLog.id.desc())
    if filters.entity_type:
        stmt = stmt.where(AuditLog.entity_type == filters.entity_type)
    if filters.entity_id is not None:
        stmt = stmt.where(AuditLog.entity_id == filters.entity_id)
    if filters.user_id is not None:
        stmt = stmt.where(AuditLog.user_id == filters.user_id)
    if filters.date_from:
        stmt = stmt.where(AuditLog.at >= day_bounds(filters.date_from, zone)[0])
    if filters.date_to:
        stmt = stmt.where(AuditLog.at < day_bounds(filters.date_to, zone)[1])
    if before is not None:
        stmt = stmt.where(AuditLog.id < before)
    rows = list(db.session.scalars(stmt.limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        rows=rows,
        next_before=rows[-1].id if more and rows else None,
        filters=filters,
        changes={r.id: changed_fields(r) for r in rows},
    )


def entity_types() -> list[str]:
    """Types that have entries, for the filter's choices."""
    return sorted(db.session.scalars(select(AuditLog.entity_type).distinct()))


def people() -> list[User]:
    """Everyone who has done something on record, for the person filter."""
    ids = select(AuditLog.user_id).where(AuditLog.user_id.is_not(None)).distinct()
    return list(db.session.scalars(select(User).where(User.id.in_(ids)).order_by(User.name)))
