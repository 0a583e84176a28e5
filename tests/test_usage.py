"""usage_for and the usage API: one answer to "how many hours, what does the month cost"."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.month_entries import month_entries
from helpdesk.accounting.usage import (
    contract_state,
    usage_for,
    usage_json,
    usage_many,
)
from helpdesk.extensions import db
from helpdesk.models import ApiToken, Client, Role, TimeEntry
from helpdesk.tickets.services import create_ticket
from tests.worked_example import build_worked_example, local


def _token(user) -> str:
    token, plain = ApiToken.issue(user)
    db.session.add(token)
    db.session.commit()
    return plain


def _get_usage(client, token: str, client_id: int, month: str | None = None):
    url = f"/api/v1/clients/{client_id}/usage" + (f"?month={month}" if month else "")
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


# -- the worked example ---------------------------------------------------------------------------


def test_worked_example_gives_the_hand_computed_json(app, factory):
    customer, period, expected = build_worked_example(factory)
    assert usage_json(customer, period) == expected


def test_api_returns_the_same_json_as_usage_for(app, client, factory):
    customer, period, expected = build_worked_example(factory)
    admin = factory.user(Role.ADMIN)
    response = _get_usage(client, _token(admin), customer.id, period)
    assert response.status_code == 200
    assert response.get_json() == expected


def test_usage_many_agrees_with_usage_for(app, factory):
    customer, period, expected = build_worked_example(factory)
    other = factory.client()
    factory.contract(other, "basic", start=date(2025, 1, 1))
    log_entry(client=other, kind="phone", started_at=local(2026, 3, 9, 10, 0), minutes=3)
    many = usage_many([customer, other], period)
    assert many[customer.id] == usage_for(customer, period)
    assert usage_json(customer, period, many[customer.id]) == expected
    assert many[other.id].billable_minutes == 15
    assert many[other.id].included_minutes == 120


def test_month_entries_lists_the_rows_the_report_needs(app, factory):
    customer, period, _ = build_worked_example(factory)
    rows = month_entries(customer, period)
    assert len(rows) == 11
    assert [r.started_at for r in rows] == sorted(r.started_at for r in rows)
    last = rows[-1]
    assert (last.kind, last.minutes, last.billable_minutes, last.out_of_hours) == (
        "phone", 30, 45, True
    )
    assert last.agent_name == "Marko Agent"
    assert last.ticket_number is not None
    assert sum(r.billable_minutes for r in rows) == 345 + 90 + 30 + 60 + 120 + 90
    # The session that ran past midnight into April is not an April row.
    assert all(r.period == period for r in rows)
    assert month_entries(customer, "2026-04") == []


# -- a constant number of queries -----------------------------------------------------------------


def _count_queries(fn) -> int:
    engine = db.engine
    count = 0

    def before(*_args, **_kwargs):
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return count


def test_usage_many_uses_the_same_number_of_queries_for_3_or_30_clients(app, factory):
    clients = []
    for i in range(30):
        c = factory.client()
        factory.contract(c, ("basic", "standard", "extended")[i % 3], start=date(2025, 1, 1),
                         addons=("cloud_backup",) if i % 2 else ())
        for day in (2, 3):
            log_entry(client=c, kind="remote", started_at=local(2026, 3, day, 10, 0),
                      minutes=20 + i)
        clients.append(c)
    db.session.commit()
    ids = [c.id for c in clients]

    def fresh() -> list[Client]:
        db.session.expire_all()
        return list(db.session.scalars(select(Client).where(Client.id.in_(ids))))

    few_clients = fresh()[:3]
    few = _count_queries(lambda: usage_many(few_clients, "2026-03"))
    all_clients = fresh()
    many = _count_queries(lambda: usage_many(all_clients, "2026-03"))
    assert few == many
    assert many <= 9  # one of them: was the month closed under the day-exact rules?


# -- contract states ------------------------------------------------------------------------------


def test_trial_client_sees_the_hours_but_pays_nothing(app, factory):
    c = factory.client()
    factory.contract(c, "standard", status="trial", start=date(2026, 3, 1),
                     end=date(2026, 3, 30), addons=("cloud_backup",))
    log_entry(client=c, kind="remote", started_at=local(2026, 3, 3, 9, 0), minutes=405)
    usage = usage_for(c, "2026-03")
    assert usage.status == "trial"
    # 30 of 31 days: 300 * 30/31 = 290.32 -> 290.
    assert usage.included_minutes == 290
    assert usage.overage_minutes == 405 - 290
    assert usage.total == Decimal("0.00")


def test_contract_that_expired_mid_month_served_its_days(app, factory):
    c = factory.client()
    factory.contract(c, "standard", status="expired", start=date(2025, 3, 11),
                     end=date(2026, 3, 10))
    state = contract_state(c, "2026-03")
    # It was active 1-10 March: 10 of 31 days of 300 min and 120.00.
    assert state.status == "active"
    usage = usage_for(c, "2026-03")
    assert usage.included_minutes == 97  # 96.77
    assert usage.fee == Decimal("38.71")  # 38.709...
    # The month after, nothing served it any more.
    assert usage_for(c, "2026-04").status == "expired"


def test_client_without_contract_pays_every_minute_at_the_no_contract_rate(app, factory):
    c = factory.client()
    log_entry(client=c, kind="phone", started_at=local(2026, 3, 3, 9, 0), minutes=25)
    usage = usage_for(c, "2026-03")
    assert usage.status == "none"
    assert usage.billable_minutes == 30
    assert usage.no_contract_amount == Decimal("25.00")  # 30 min at 50.00/h
    assert usage.total == Decimal("25.00")


def test_warranty_defects_are_free_only_within_the_warranty(app, factory):
    c = factory.client(warranty_until=date(2026, 3, 15))
    defect = create_ticket(subject="Crash on save", client_id=c.id, actor="test")
    defect.warranty_defect = True
    question = create_ticket(subject="How do I export", client_id=c.id, actor="test")
    log_entry(client=c, kind="remote", started_at=local(2026, 3, 10, 9, 0), minutes=30,
              ticket=defect)
    log_entry(client=c, kind="remote", started_at=local(2026, 3, 16, 9, 0), minutes=30,
              ticket=defect)  # the day after the warranty's last day
    log_entry(client=c, kind="remote", started_at=local(2026, 3, 10, 11, 0), minutes=30,
              ticket=question)
    usage = usage_for(c, "2026-03")
    assert usage.warranty_minutes == 30
    assert usage.billable_minutes == 60
    assert usage.no_contract_amount == Decimal("50.00")


def test_visit_used_earlier_in_the_contract_year_makes_the_next_one_billable(app, factory):
    c = factory.client()
    factory.contract(c, "standard", start=date(2025, 6, 1))
    log_entry(client=c, kind="visit", started_at=local(2026, 2, 10, 9, 0), minutes=60)
    log_entry(client=c, kind="visit", started_at=local(2026, 3, 10, 9, 0), minutes=60)
    assert usage_for(c, "2026-02").free_visit_minutes == 60
    march = usage_for(c, "2026-03")
    assert march.free_visit_minutes == 0
    assert march.billable_minutes == 60
    # A new contract year (from 1 June) gives the visit back.
    log_entry(client=c, kind="visit", started_at=local(2026, 6, 2, 9, 0), minutes=60)
    assert usage_for(c, "2026-06").free_visit_minutes == 60


def test_negotiated_fee_is_used_for_the_contracts_package(app, factory):
    c = factory.client()
    contract = factory.contract(c, "extended", start=date(2025, 1, 1))
    contract.monthly_fee = Decimal("180.00")
    db.session.flush()
    assert usage_for(c, "2026-03").fee == Decimal("180.00")


def test_entries_are_summed_by_the_clients_month_not_utc(app, factory):
    c = factory.client()
    factory.contract(c, "standard", start=date(2025, 1, 1))
    # 31 March 22:30 UTC is 1 April 00:30 in Belgrade (summer time, UTC+2).
    log_entry(client=c, kind="email", started_at=datetime(2026, 3, 31, 22, 30, tzinfo=UTC),
              minutes=10)
    assert usage_for(c, "2026-03").billable_minutes == 0
    assert usage_for(c, "2026-04").billable_minutes == 15


# -- the API's access rules -----------------------------------------------------------------------


def test_usage_api_access(app, client, factory):
    manager = factory.user(Role.ACCOUNT_MANAGER)
    other_manager = factory.user(Role.ACCOUNT_MANAGER)
    agent = factory.user(Role.AGENT)
    customer = factory.client(manager=manager)
    factory.contract(customer, "basic", start=date(2025, 1, 1))
    portal_user = factory.user(Role.CLIENT, client=customer)
    db.session.commit()

    assert _get_usage(client, _token(manager), customer.id, "2026-03").status_code == 200
    for user in (other_manager, agent, portal_user):
        response = _get_usage(client, _token(user), customer.id, "2026-03")
        assert response.status_code == 404, user.role
    admin_token = _token(factory.user(Role.ADMIN))
    assert _get_usage(client, admin_token, customer.id, "2026-3").status_code == 400
    assert _get_usage(client, admin_token, customer.id + 999).status_code == 404
    assert client.get(f"/api/v1/clients/{customer.id}/usage").status_code == 401


def test_usage_api_defaults_to_the_current_month_and_reports_closed(app, client, factory):
    from helpdesk.accounting.closing import close_month

    customer = factory.client()
    token = _token(factory.user(Role.ADMIN))
    data = _get_usage(client, token, customer.id).get_json()
    now = datetime.now(UTC).astimezone(local(2026, 1, 1).tzinfo)
    assert data["month"] == f"{now.year:04d}-{now.month:02d}"
    assert data["closed"] is False
    close_month("2026-02")
    db.session.commit()
    assert _get_usage(client, token, customer.id, "2026-02").get_json()["closed"] is True


def test_usage_is_described_in_openapi(app, client, factory):
    token = _token(factory.user(Role.ADMIN))
    spec = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"})
    paths = spec.get_json()["paths"]
    assert "/clients/{client_id}/usage" in paths
    schema = spec.get_json()["components"]["schemas"]["Usage"]
    _, _, expected = build_worked_example(factory)
    assert set(schema["required"]) == set(expected)


@pytest.mark.parametrize("bad", ["2026-13", "26-03", "march"])
def test_usage_refuses_a_malformed_month(app, factory, bad):
    c = factory.client()
    with pytest.raises(ValueError):
        usage_for(c, bad)


def test_adjustments_count_in_the_month_they_are_booked(app, factory):
    c = factory.client()
    factory.contract(c, "standard", start=date(2025, 1, 1))
    e = log_entry(client=c, kind="remote", started_at=local(2026, 2, 3, 9, 0), minutes=60)
    from helpdesk.accounting.closing import close_month
    from helpdesk.accounting.ledger import add_adjustment

    close_month("2026-02")
    add_adjustment(e, minutes_delta=-30, reason="double-logged", user=None,
                   now=local(2026, 3, 2, 9, 0))
    assert usage_for(c, "2026-02").billable_minutes == 60
    march = usage_for(c, "2026-03")
    assert march.billable_minutes == -30
    assert march.overage_amount == Decimal("0.00")
    assert db.session.query(TimeEntry).filter_by(is_adjustment=True).one().period == "2026-03"


def test_entries_past_the_month_start_of_next_month_do_not_leak(app, factory):
    c = factory.client()
    start = local(2026, 3, 31, 23, 0)
    log_entry(client=c, kind="remote", started_at=start, ended_at=start + timedelta(hours=3))
    assert usage_for(c, "2026-03").used_minutes_by_kind == {"remote": 270}
    assert usage_for(c, "2026-04").used_minutes_by_kind == {}
