"""On-site visits: contract years, the planner on working days, used and left, the console, and
the reminders 7 days before."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import select

from helpdesk.accounting.ledger import log_entry
from helpdesk.extensions import db, mail
from helpdesk.models import (
    AuditLog,
    ContractChange,
    EntryKind,
    EntrySource,
    Role,
    TimeEntry,
    Visit,
    VisitStatus,
)
from helpdesk.visits import (
    VisitError,
    complete_visit,
    confirm_visit,
    contract_year,
    move_visit,
    plan_visits,
    send_visit_reminders,
    visits_summary,
)
from helpdesk.visits.planner import local_today


def at_noon(day: date, tz: str = "Europe/Belgrade") -> datetime:
    return datetime.combine(day, time(12), ZoneInfo(tz)).astimezone(UTC)


def is_working_day(day: date, country: str) -> bool:
    """Independent of the business calendar: Monday to Friday and no public holiday."""
    return day.weekday() < 5 and day not in holidays.country_holidays(country, years=day.year)


def visits_of(contract) -> list[Visit]:
    return db.session.scalars(
        select(Visit).where(Visit.contract_id == contract.id).order_by(Visit.sequence)
    ).all()


@pytest.fixture
def manager(factory):
    return factory.user(Role.ACCOUNT_MANAGER)


# -- contract years --------------------------------------------------------------------------------


def test_contract_years_run_from_anniversary_to_anniversary(factory):
    c = factory.client()
    leap = factory.contract(c, start=date(2024, 2, 29))
    assert contract_year(leap, date(2024, 2, 29)) == (date(2024, 2, 29), date(2025, 2, 27))
    assert contract_year(leap, date(2025, 2, 28)) == (date(2025, 2, 28), date(2026, 2, 27))
    assert contract_year(leap, date(2028, 2, 28)) == (date(2027, 2, 28), date(2028, 2, 28))
    assert contract_year(leap, date(2028, 2, 29)) == (date(2028, 2, 29), date(2029, 2, 27))
    assert contract_year(leap, date(2024, 2, 28)) is None
    short = factory.contract(factory.client(), start=date(2026, 1, 10), end=date(2026, 6, 30))
    assert contract_year(short, date(2026, 3, 1)) == (date(2026, 1, 10), date(2026, 6, 30))
    assert contract_year(short, date(2026, 7, 1)) is None


# -- the planner -----------------------------------------------------------------------------------


def test_standard_gets_one_visit_mid_year_moved_off_the_easter_holidays(factory, manager):
    c = factory.client(manager=manager)
    # Year 10 Oct 2025 .. 9 Oct 2026: its middle is Good Friday 10 April 2026; Easter Monday is
    # a holiday in Serbia too, so the visit goes to Tuesday 14 April.
    contract = factory.contract(c, "standard", start=date(2025, 10, 10))
    result = plan_visits(at_noon(date(2025, 10, 12)))
    visits = visits_of(contract)
    assert [(v.sequence, v.planned_date, v.status) for v in visits] == [
        (1, date(2026, 4, 14), VisitStatus.PROPOSED)
    ]
    assert is_working_day(visits[0].planned_date, "RS")
    assert visits[0].account_manager_id == manager.id
    assert visits[0].contract_year_start == date(2025, 10, 10)
    assert len(result.created) == 1


def test_extended_gets_two_visits_a_half_year_apart_on_working_days(factory, manager):
    c = factory.client(manager=manager)
    contract = factory.contract(c, "extended", start=date(2026, 1, 5))
    plan_visits(at_noon(date(2026, 1, 6)))
    visits = visits_of(contract)
    assert [v.sequence for v in visits] == [1, 2]
    year_start = date(2026, 1, 5)
    quarter, three_quarters = year_start + timedelta(days=91), year_start + timedelta(days=273)
    for visit, target in zip(visits, (quarter, three_quarters), strict=True):
        assert is_working_day(visit.planned_date, "RS")
        assert target <= visit.planned_date <= target + timedelta(days=4)
        # Nothing earlier than the chosen day would have done.
        day = target
        while day < visit.planned_date:
            assert not is_working_day(day, "RS")
            day += timedelta(days=1)


def test_turkish_client_follows_its_own_holidays(factory, manager):
    c = factory.client(country="TR", timezone="Europe/Istanbul", language="tr", manager=manager)
    # The middle of the year is Republic Day (29 October 2026, a Thursday).
    contract = factory.contract(c, "standard", start=date(2026, 4, 30))
    plan_visits(at_noon(date(2026, 5, 1), "Europe/Istanbul"))
    assert [v.planned_date for v in visits_of(contract)] == [date(2026, 10, 30)]


def test_planner_is_idempotent_and_leaves_agreed_visits_alone(factory, manager):
    c = factory.client(manager=manager)
    contract = factory.contract(c, "extended", start=date(2026, 1, 5))
    now = at_noon(date(2026, 1, 6))
    plan_visits(now)
    first = visits_of(contract)
    move_visit(first[0], date(2026, 3, 3), user=manager, today=date(2026, 1, 6))
    db.session.commit()
    again = plan_visits(now + timedelta(days=1))
    assert again.created == [] and again.cancelled == []
    visits = visits_of(contract)
    assert [(v.id, v.planned_date, v.status) for v in visits] == [
        (first[0].id, date(2026, 3, 3), VisitStatus.CONFIRMED),
        (first[1].id, first[1].planned_date, VisitStatus.PROPOSED),
    ]


def test_late_planning_spreads_visits_over_what_is_left_of_the_year(app, factory, manager):
    c = factory.client(manager=manager)
    contract = factory.contract(c, "extended", start=date(2025, 3, 2))  # year ends 1 March 2026
    today = date(2025, 12, 1)
    plan_visits(at_noon(today))
    visits = visits_of(contract)
    earliest = today + timedelta(days=app.config["VISIT_LEAD_DAYS"])
    assert len(visits) == 2
    assert all(earliest <= v.planned_date <= date(2026, 3, 1) for v in visits)
    assert all(is_working_day(v.planned_date, "RS") for v in visits)
    assert visits[0].planned_date < visits[1].planned_date
    assert (visits[1].planned_date - visits[0].planned_date).days >= 30


def test_no_visits_for_basic_trial_or_a_year_without_room_left(factory, manager):
    basic = factory.contract(factory.client(manager=manager), "basic", start=date(2026, 1, 5))
    trial = factory.contract(
        factory.client(manager=manager),
        "extended",
        status="trial",
        start=date(2026, 1, 5),
        end=date(2026, 2, 3),
    )
    ending = factory.contract(
        factory.client(manager=manager), "standard", start=date(2025, 1, 20)
    )  # year ends 19 Jan 2026
    plan_visits(at_noon(date(2026, 1, 10)))
    assert visits_of(basic) == [] and visits_of(trial) == [] and visits_of(ending) == []


def test_downgrade_cancels_the_proposed_visit_beyond_the_new_allowance(factory, manager):
    c = factory.client(manager=manager)
    contract = factory.contract(c, "extended", start=date(2026, 1, 5))
    plan_visits(at_noon(date(2026, 1, 6)))
    contract.changes.append(
        ContractChange(
            effective_date=date(2026, 2, 1),
            kind="downgrade",
            from_package_id=factory.package("extended").id,
            package_id=factory.package("standard").id,
        )
    )
    db.session.flush()
    result = plan_visits(at_noon(date(2026, 2, 2)))
    assert [(v.sequence, v.status) for v in visits_of(contract)] == [
        (1, VisitStatus.PROPOSED),
        (2, VisitStatus.CANCELLED),
    ]
    assert len(result.cancelled) == 1


def test_demo_standard_and_extended_clients_get_their_visits_on_working_days(app):
    from helpdesk.demo import load_demo
    from helpdesk.models import Contract

    now = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    load_demo(now=now)
    plan_visits(now)
    contracts = db.session.scalars(select(Contract).order_by(Contract.id)).all()
    checked = set()
    for contract in contracts:
        visits = [v for v in visits_of(contract) if v.status != VisitStatus.CANCELLED]
        expected = {"standard": 1, "extended": 2}.get(contract.package.code, 0)
        if contract.status != "active":
            expected = 0
        assert len(visits) == expected, contract.client.name
        year = contract_year(contract, now.date())
        for v in visits:
            assert is_working_day(v.planned_date, contract.client.country), contract.client.name
            assert year[0] <= v.planned_date <= year[1]
            assert v.account_manager_id == contract.client.account_manager_id
        checked.add(contract.package.code)
    assert {"standard", "extended"} <= checked


# -- used and left -------------------------------------------------------------------------------


def test_summary_counts_done_and_hand_logged_visits(factory, manager):
    c = factory.client(manager=manager)
    contract = factory.contract(c, "extended", start=date(2026, 1, 5))
    plan_visits(at_noon(date(2026, 1, 6)))
    summary = visits_summary(c, date(2026, 1, 6))
    allowed, used, left, planned = summary
    assert (allowed, used, left, len(planned)) == (2, 0, 2, 2)
    first = planned[0]
    entry = complete_visit(
        first,
        user=manager,
        started_at=at_noon(date(2026, 2, 10)),
        minutes=150,
        note="Server room",
        now=at_noon(date(2026, 2, 11)),
    )
    assert (entry.kind, entry.source, entry.minutes, entry.client_id) == (
        EntryKind.VISIT,
        EntrySource.VISIT,
        150,
        c.id,
    )
    assert first.status == VisitStatus.DONE and first.time_entry_id == entry.id
    assert first.planned_date == date(2026, 2, 10)
    assert tuple(visits_summary(c, date(2026, 2, 11)))[:3] == (2, 1, 1)
    # A visit logged by hand counts as well, and the planner does not propose a third one.
    log_entry(client=c, kind=EntryKind.VISIT, started_at=at_noon(date(2026, 3, 3)), minutes=60)
    assert tuple(visits_summary(c, date(2026, 3, 4)))[:3] == (2, 2, 0)
    # Next contract year: a fresh allowance.
    assert tuple(visits_summary(c, date(2027, 1, 5)))[:3] == (2, 0, 2)
    assert visits_summary(factory.client(), date(2026, 3, 4)).allowed == 0
    assert contract.id == first.contract_id


def test_a_visit_cannot_be_done_twice_or_in_the_future(factory, manager):
    c = factory.client(manager=manager)
    factory.contract(c, "standard", start=date(2026, 1, 5))
    plan_visits(at_noon(date(2026, 1, 6)))
    visit = visits_summary(c, date(2026, 1, 6)).planned[0]
    with pytest.raises(VisitError):
        complete_visit(
            visit,
            user=manager,
            started_at=at_noon(date(2026, 2, 10)),
            minutes=60,
            now=at_noon(date(2026, 2, 9)),
        )
    complete_visit(
        visit,
        user=manager,
        started_at=at_noon(date(2026, 2, 10)),
        minutes=60,
        now=at_noon(date(2026, 2, 10)) + timedelta(hours=2),
    )
    with pytest.raises(VisitError):
        complete_visit(
            visit,
            user=manager,
            started_at=at_noon(date(2026, 2, 10)),
            minutes=60,
            now=at_noon(date(2026, 2, 11)),
        )
    with pytest.raises(VisitError):
        confirm_visit(visit, user=manager)


def test_moves_are_refused_to_weekends_holidays_the_past_and_the_next_year(factory, manager):
    c = factory.client(manager=manager)
    factory.contract(c, "standard", start=date(2026, 1, 5))
    plan_visits(at_noon(date(2026, 1, 6)))
    visit = visits_summary(c, date(2026, 1, 6)).planned[0]
    today = date(2026, 1, 6)
    for bad in (date(2026, 1, 10), date(2026, 11, 11), date(2026, 1, 5), date(2027, 1, 5)):
        with pytest.raises(VisitError):
            move_visit(visit, bad, user=manager, today=today)
    move_visit(visit, date(2027, 1, 4), user=manager, today=today)  # last day of the year
    assert visit.status == VisitStatus.CONFIRMED
    assert (
        db.session.scalar(
            select(AuditLog).where(AuditLog.entity_type == "visits", AuditLog.action == "update")
        )
        is not None
    )


# -- the console -----------------------------------------------------------------------------------


def _console_visit(factory, manager):
    c = factory.client(manager=manager)
    factory.contract(c, "extended", start=date.today() - timedelta(days=30))
    plan_visits(datetime.now(UTC))
    db.session.commit()
    return c, visits_summary(c, local_today(c, datetime.now(UTC))).planned[0]


def test_account_manager_confirms_moves_and_completes_a_visit(client, auth, factory, manager):
    c, visit = _console_visit(factory, manager)
    auth.login(manager.email)
    page = client.get(f"/console/visits/{visit.id}")
    assert page.status_code == 200 and c.name in page.get_data(as_text=True)
    assert str(visit.id) in client.get("/console/visits").get_data(as_text=True)
    token = auth.csrf(f"/console/visits/{visit.id}")

    r = client.post(f"/console/visits/{visit.id}/confirm", data={"confirm-csrf_token": token})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Visit, visit.id).status == VisitStatus.CONFIRMED

    saturday = date.today() + timedelta(days=(5 - date.today().weekday()) % 7 + 7)
    r = client.post(
        f"/console/visits/{visit.id}/move",
        data={"move-csrf_token": token, "move-planned_date": saturday.isoformat()},
    )
    assert r.status_code == 400 and "not a working day" in r.get_data(as_text=True)
    monday = saturday + timedelta(days=2)
    while not is_working_day(monday, "RS"):
        monday += timedelta(days=1)
    r = client.post(
        f"/console/visits/{visit.id}/move",
        data={"move-csrf_token": token, "move-planned_date": monday.isoformat()},
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Visit, visit.id).planned_date == monday

    yesterday = local_today(c, datetime.now(UTC)) - timedelta(days=1)
    r = client.post(
        f"/console/visits/{visit.id}/done",
        data={
            "done-csrf_token": token,
            "done-day": yesterday.isoformat(),
            "done-start": "09:30",
            "done-minutes": "135",
            "done-note": "Installed the new server",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    done = db.session.get(Visit, visit.id)
    entry = db.session.get(TimeEntry, done.time_entry_id)
    assert done.status == VisitStatus.DONE
    assert entry.kind == EntryKind.VISIT and entry.minutes == 135
    local_start = datetime.combine(yesterday, time(9, 30), ZoneInfo("Europe/Belgrade"))
    assert entry.started_at == local_start.astimezone(UTC)
    assert entry.note == "Installed the new server"
    summary_page = client.get(f"/console/clients/{c.id}/visits").get_data(as_text=True)
    assert "1 of 2 used, 1 left" in summary_page


def test_only_the_account_manager_or_an_admin_changes_a_visit(client, auth, factory, manager):
    _, visit = _console_visit(factory, manager)
    other = factory.user(Role.ACCOUNT_MANAGER)
    agent = factory.user(Role.AGENT)
    db.session.commit()
    for user in (other, agent):
        auth.login(user.email)
        assert client.get(f"/console/visits/{visit.id}").status_code == 200
        token = auth.csrf(f"/console/visits/{visit.id}")
        r = client.post(f"/console/visits/{visit.id}/confirm", data={"confirm-csrf_token": token})
        assert r.status_code == 403
        auth.logout()
    db.session.expire_all()
    assert db.session.get(Visit, visit.id).status == VisitStatus.PROPOSED


# -- reminders -----------------------------------------------------------------------------------


def test_reminders_go_seven_days_before_and_once(app, factory, manager):
    c = factory.client(manager=manager, language="en")
    factory.contact(c, email="boss@client.test")
    factory.contract(c, "standard", start=date(2026, 1, 5))
    plan_visits(at_noon(date(2026, 1, 6)))
    visit = visits_summary(c, date(2026, 1, 6)).planned[0]
    day = visit.planned_date
    with mail.record_messages() as outbox:
        assert send_visit_reminders(at_noon(day - timedelta(days=8))) == 0
        # Still proposed a week before: the account manager is asked to confirm it.
        assert send_visit_reminders(at_noon(day - timedelta(days=7))) == 1
        assert outbox[-1].recipients == [manager.email]
        assert "confirm" in outbox[-1].subject.lower()
        confirm_visit(visit, user=manager)
        # Confirming mails the client's contact the calendar invitation (tests/test_visit_calendar.py).
        assert outbox[-1].recipients == ["boss@client.test"]
        assert [a.content_type.split(";")[0] for a in outbox[-1].attachments] == ["text/calendar"]
        # Confirmed: the client and the account manager hear about it, once.
        assert send_visit_reminders(at_noon(day - timedelta(days=6))) == 1
        assert sorted(outbox[-1].recipients) == sorted(["boss@client.test", manager.email])
        assert outbox[-1].extra_headers["Auto-Submitted"] == "auto-generated"
        assert send_visit_reminders(at_noon(day - timedelta(days=5))) == 0
        assert send_visit_reminders(at_noon(day)) == 0  # the day itself: too late to remind
        assert len(outbox) == 3
