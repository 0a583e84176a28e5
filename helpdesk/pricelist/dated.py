"""Dated values of the price list: one mechanism for package prices, add-on prices and SLA targets.

A change is a row valid from ``effective_from`` on; what was in force before the first change is
kept as a row from :data:`BASELINE`, so months (and tickets) before the change keep what they had.
A closed month is never changed, and a change behind a later planned one is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..audit_log.record import record, snapshot
from ..clients.validate import FieldError
from ..extensions import db
from ..models import ClosedMonth, User

#: The row standing for the value in force before the first recorded change.
BASELINE = date(2000, 1, 1)


def today() -> date:
    """Today in the vendor's zone (imported late: the ticket queue imports the price list)."""
    from ..tickets.queues import local_today

    return local_today()


def closed(day: date) -> bool:
    return db.session.scalar(select(ClosedMonth.id).where(
        ClosedMonth.period == f"{day.year:04d}-{day.month:02d}")) is not None


def check_month_start(effective_from: date) -> None:
    """Prices change on the first day of a month that is not closed."""
    if effective_from.day != 1:
        raise FieldError("effective_from", str(_l("Prices change on the first day of a month.")))
    if closed(effective_from):
        raise FieldError("effective_from", str(_l(
            "%(month)s is closed: its bills are final. Choose a later month.",
            month=f"{effective_from:%Y-%m}")))


def in_force(model, day: date, **keys) -> dict[tuple, object]:
    """The latest row of ``model`` on or before ``day`` for each value of its ``__dated_keys__``.

    ``keys`` narrow the rows (``addon_id=3``); the answer maps the key values, as a tuple, to the row.
    """
    stmt = select(model).where(model.effective_from <= day, *(
        getattr(model, k) == v for k, v in keys.items()))
    latest: dict[tuple, object] = {}
    for row in db.session.scalars(stmt.order_by(model.effective_from)):
        latest[_group(model, row)] = row
    return latest


def _group(model, row) -> tuple:
    return tuple(getattr(row, c) for c in model.__dated_keys__)


def record_change(actor: User | None, model, keys: dict, *, effective_from: date, values: dict,
                  baseline: Callable[[], dict] | None, today: date, owner=None,
                  planned_message=None):
    """Store ``values`` from ``effective_from`` on; flushes and audits. Returns the row.

    ``baseline()`` gives what was in force until now (kept once, from :data:`BASELINE`; None:
    nothing was). When
    the change is already in force, ``owner`` (the package or add-on) takes the values too.
    """
    where = [getattr(model, k) == v for k, v in keys.items()]
    later = db.session.scalar(select(model).where(*where, model.effective_from > effective_from))
    if later is not None:
        message = planned_message or _l(
            "A price change from %(day)s is already planned; change that one instead.")
        raise FieldError("effective_from", str(message) % {"day": later.effective_from.isoformat()})
    if baseline is not None and db.session.scalar(select(model.id).where(*where).limit(1)) is None:
        db.session.add(model(**keys, effective_from=BASELINE, **baseline()))
    row = db.session.scalar(select(model).where(*where, model.effective_from == effective_from))
    before = snapshot(row) if row is not None else None
    if row is None:
        row = model(**keys, effective_from=effective_from)
        db.session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    row.created_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(row, "update" if before else "create", user=actor, before=before)
    if owner is not None and effective_from <= today:
        owner_before = snapshot(owner)
        for key, value in values.items():
            setattr(owner, key, value)
        db.session.flush()
        record(owner, "price_change", user=actor, before=owner_before)
    return row


def changes(model, **keys) -> list:
    """The recorded changes after the baseline, newest first."""
    return list(db.session.scalars(
        select(model).where(model.effective_from > BASELINE,
                            *(getattr(model, k) == v for k, v in keys.items()))
        .order_by(model.effective_from.desc())))
