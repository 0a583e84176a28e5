"""The seed price list as data: run by migration 0004 (``flask db upgrade``) and ``flask setup``.

Plain SQL over a connection (no ORM classes), so it works inside a migration whatever the models
look like later. Idempotent: a package, SLA policy or add-on that exists is never touched, so an
admin's edits survive every later run.
"""

from __future__ import annotations

import sqlalchemy as sa

from .catalogue import DEFAULT_ADDONS, DEFAULT_PACKAGES

_packages = sa.table(
    "packages", sa.column("id", sa.Integer), sa.column("code", sa.String),
    sa.column("name", sa.String), sa.column("included_minutes", sa.Integer),
    sa.column("monthly_fee", sa.Numeric(12, 2)), sa.column("visits_per_year", sa.Integer),
    sa.column("overage_rate", sa.Numeric(12, 2)), sa.column("rank", sa.Integer),
    sa.column("active", sa.Boolean),
)
_policies = sa.table(
    "sla_policies", sa.column("package_id", sa.Integer),
    sa.column("first_response_minutes", sa.Integer), sa.column("resolution_minutes", sa.Integer),
)
_addons = sa.table(
    "addons", sa.column("code", sa.String), sa.column("name", sa.String),
    sa.column("monthly_fee", sa.Numeric(12, 2)), sa.column("active", sa.Boolean),
)


def seed_price_list(conn: sa.Connection) -> int:
    """Insert the missing parts of the seed price list; returns how many rows were added."""
    added = 0
    for code, name, minutes, fee, visits, rate, rank, (first, resolve) in DEFAULT_PACKAGES:
        pid = conn.execute(sa.select(_packages.c.id).where(_packages.c.code == code)).scalar()
        if pid is None:
            conn.execute(_packages.insert().values(
                code=code, name=name, included_minutes=minutes, monthly_fee=fee,
                visits_per_year=visits, overage_rate=rate, rank=rank, active=True))
            pid = conn.execute(sa.select(_packages.c.id).where(_packages.c.code == code)).scalar()
            added += 1
        has_policy = conn.execute(
            sa.select(_policies.c.package_id).where(_policies.c.package_id == pid)).first()
        if has_policy is None:
            conn.execute(_policies.insert().values(package_id=pid, first_response_minutes=first,
                                                   resolution_minutes=resolve))
            added += 1
    for code, name, fee in DEFAULT_ADDONS:
        if conn.execute(sa.select(_addons.c.code).where(_addons.c.code == code)).first() is None:
            conn.execute(_addons.insert().values(code=code, name=name, monthly_fee=fee,
                                                 active=True))
            added += 1
    return added
