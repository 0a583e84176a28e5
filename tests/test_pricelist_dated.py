"""Dated price list beyond package prices: add-on fees from a month on (closed months untouched)
and a package's own SLA targets per priority (derived ones stay the default)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, func, select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.usage import usage_for
from helpdesk.clients.validate import FieldError
from helpdesk.extensions import db
from helpdesk.models import Addon, AddonPrice, AuditLog, Priority, Role, SlaTarget, StoredReport
from helpdesk.pricelist import sla_targets
from helpdesk.pricelist.services import addon_price_on, change_addon_price, save_addon
from helpdesk.sla import service as sla_service
from helpdesk.sla.clock import SlaTargets, targets_for
from helpdesk.tickets.services import create_ticket
from reports.data import report_input
from reports.pdf import render_report
from reports.service import report_pdf
from tests.conftest import csrf_token_from
from tests.test_api import Api, spec  # noqa: F401  (answers are checked against the spec)

BELGRADE = ZoneInfo("Europe/Belgrade")


def _months():
    today = datetime.now(BELGRADE).date()
    this = today.replace(day=1)
    last = (this - timedelta(days=1)).replace(day=1)
    nxt = (this + timedelta(days=32)).replace(day=1)
    return last, this, nxt


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _backup_fee(usage) -> Decimal:
    [charge] = [a for a in usage.addons if a.name == "cloud_backup"]
    return charge.amount


# -- add-on prices --------------------------------------------------------------------------


def test_addon_price_change_from_next_month_keeps_closed_report_and_changes_the_next(factory):
    last, this, nxt = _months()
    client = factory.client("Backup d.o.o.", timezone="Europe/Belgrade")
    factory.contract(client, "standard", start=last.replace(year=last.year - 1),
                     addons=("cloud_backup",))
    db.session.commit()
    p_last, p_this, p_next = (f"{d:%Y-%m}" for d in (last, this, nxt))
    close_month(p_last, force=True)
    frozen = report_pdf(client, p_last)
    db.session.commit()
    moment = datetime.now(UTC)
    draft_this = render_report(report_input(client, p_this, now=moment))
    rerender_last = render_report(report_input(client, p_last))
    before_this, before_next = usage_for(client, p_this), usage_for(client, p_next)
    old_fee = factory.addon("cloud_backup").monthly_fee
    assert _backup_fee(before_next) == old_fee

    backup = factory.addon("cloud_backup")
    change_addon_price(None, backup, effective_from=nxt, monthly_fee="27.50")
    db.session.commit()

    assert report_pdf(client, p_last) == frozen  # byte-identical, from the store
    assert _count(StoredReport) == 1
    # Recomputed from the data, the closed month and this month still bill the old fee.
    assert render_report(report_input(client, p_last)) == rerender_last
    assert render_report(report_input(client, p_this, now=moment)) == draft_this
    assert _backup_fee(usage_for(client, p_last)) == old_fee
    assert usage_for(client, p_this).total == before_this.total
    after_next = usage_for(client, p_next)
    assert _backup_fee(after_next) == Decimal("27.50")
    assert after_next.total - before_next.total == Decimal("27.50") - old_fee
    # The add-on itself keeps today's fee until the month comes; the change is audited.
    assert db.session.get(Addon, backup.id).monthly_fee == old_fee
    assert addon_price_on(backup, nxt + timedelta(days=3)) == Decimal("27.50")
    assert db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "addon_prices"))


def test_an_addon_fee_from_this_month_changes_the_addon_and_only_the_open_month(factory):
    last, this, _ = _months()
    client = factory.client("Now d.o.o.")
    factory.contract(client, "basic", start=last.replace(year=last.year - 1), addons=("oncall",))
    db.session.commit()
    oncall = factory.addon("oncall")
    old_fee = oncall.monthly_fee
    change_addon_price(None, oncall, effective_from=this, monthly_fee="31")
    db.session.commit()
    assert oncall.monthly_fee == Decimal("31.00")

    def on_call(usage) -> Decimal:
        return next(a.amount for a in usage.addons if a.name == "oncall")

    assert on_call(usage_for(client, f"{last:%Y-%m}")) == old_fee  # the month before keeps it
    assert on_call(usage_for(client, f"{this:%Y-%m}")) == Decimal("31.00")


def test_bad_addon_prices_are_refused_with_the_field_and_nothing_saved(factory):
    last, _this, nxt = _months()
    close_month(f"{last:%Y-%m}", force=True)
    backup = factory.addon("cloud_backup")
    cases = [
        ({"effective_from": last, "monthly_fee": "21"}, "effective_from", "is closed"),
        ({"effective_from": nxt, "monthly_fee": "-1"}, "monthly_fee", "cannot be negative"),
        ({"effective_from": nxt, "monthly_fee": "lots"}, "monthly_fee", "Not an amount"),
        ({"effective_from": nxt + timedelta(days=1), "monthly_fee": "21"}, "effective_from",
         "first day of a month"),
    ]
    for kwargs, field, message in cases:
        with pytest.raises(FieldError, match=message) as info:
            change_addon_price(None, backup, **kwargs)
        assert info.value.field == field
        db.session.rollback()
    assert _count(AddonPrice) == 0
    # A fee is changed from a date, not by editing the add-on.
    with pytest.raises(FieldError, match="first day of a month") as info:
        save_addon(None, backup, name="Cloud backup", monthly_fee="99", active=True)
    assert info.value.field == "monthly_fee"
    db.session.rollback()
    # A later planned change blocks an earlier one.
    change_addon_price(None, backup, effective_from=(nxt + timedelta(days=32)).replace(day=1),
                       monthly_fee="22")
    with pytest.raises(FieldError, match="already planned"):
        change_addon_price(None, backup, effective_from=nxt, monthly_fee="21")


def test_addon_price_form_shows_errors_next_to_the_field(client, auth, factory):
    admin = factory.user(Role.ADMIN)
    db.session.commit()
    auth.login(admin.email)
    backup = factory.addon("cloud_backup")
    page = client.get(f"/admin/prices/addons/{backup.id}").get_data(as_text=True)
    assert 'name="x-effective_from"' in page and 'name="monthly_fee"' not in page
    _, _this, nxt = _months()
    resp = client.post(f"/admin/prices/addons/{backup.id}/price", data={
        "x-csrf_token": csrf_token_from(page), "csrf_token": csrf_token_from(page),
        "x-effective_from": nxt.isoformat(), "x-monthly_fee": "-3"})
    assert resp.status_code == 422
    assert 'id="x-monthly_fee-error">A price cannot be negative.' in resp.get_data(as_text=True)
    assert _count(AddonPrice) == 0
    resp = client.post(f"/admin/prices/addons/{backup.id}/price", data={
        "csrf_token": csrf_token_from(page), "x-effective_from": nxt.isoformat(),
        "x-monthly_fee": "24,90"})
    assert resp.status_code == 302
    page = client.get(f"/admin/prices/addons/{backup.id}").get_data(as_text=True)
    assert "24.90" in page or "24,90" in page


def test_addon_prices_through_the_api(client, spec, factory):  # noqa: F811
    admin = factory.user(Role.ADMIN)
    agent = factory.user(Role.AGENT)
    db.session.commit()
    backup = factory.addon("cloud_backup")
    _, _this, nxt = _months()
    api = Api(client, spec, admin)
    body = api.call("POST", f"/api/v1/addons/{backup.id}/prices",
                    json={"effective_from": nxt.isoformat(), "monthly_fee": "26"},
                    expect=201).get_json()
    assert body["prices"] == [{"effective_from": nxt.isoformat(), "monthly_fee": "26.00"}]
    assert body["monthly_fee"] == f"{backup.monthly_fee:.2f}"  # today's fee, until then
    r = api.call("POST", f"/api/v1/addons/{backup.id}/prices",
                 json={"effective_from": nxt.isoformat(), "monthly_fee": "-2"}, expect=422)
    assert r.get_json()["fields"] == {"monthly_fee": "A price cannot be negative."}
    api.call("POST", "/api/v1/addons/999999/prices", json={}, expect=404)
    listed = api.call("GET", "/api/v1/addons").get_json()["items"]
    assert {a["code"] for a in listed} >= {"cloud_backup", "oncall"}
    Api(client, spec, agent).call("GET", "/api/v1/addons", expect=403)


# -- SLA targets per priority ---------------------------------------------------------------

DAY = date(2026, 3, 10)  # a Tuesday


def test_without_own_targets_every_priority_derives_from_the_normal_one(factory):
    standard = factory.package("standard")
    policy = standard.sla_policy
    base = SlaTargets(policy.first_response_minutes, policy.resolution_minutes)
    for priority in Priority.values():
        assert sla_targets.targets_on(standard, priority, DAY) == targets_for(base, priority)
    assert not any(t.own for t in sla_targets.table(standard, DAY))


def _ticket(client, priority: str, at: datetime):
    t = create_ticket(subject=f"{priority} at {at:%H:%M}", client_id=client.id, priority=priority,
                      created_at=at, actor="t")
    db.session.flush()
    return t


def test_own_urgent_targets_apply_from_their_day_and_leave_tickets_already_opened(factory):
    client = factory.client("Hitno d.o.o.")
    factory.contract(client, "standard", start=date(2025, 1, 1))
    standard = factory.package("standard")
    derived = sla_targets.targets_on(standard, "urgent", DAY)
    before = _ticket(client, "urgent", datetime(2026, 3, 10, 9, tzinfo=UTC))
    due_before = before.first_response_due

    sla_targets.set_targets(None, standard, priority="urgent", effective_from=DAY + timedelta(1),
                            first_response_minutes=30, resolution_minutes=200, today=DAY)
    db.session.flush()
    # 23:30 UTC on the 10th is already the 11th in Belgrade (the vendor's day).
    late = _ticket(client, "urgent", datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    normal = _ticket(client, "normal", datetime(2026, 3, 11, 9, tzinfo=UTC))
    early = _ticket(client, "urgent", datetime(2026, 3, 10, 22, 30, tzinfo=UTC))  # 23:30 local

    assert (late.sla_first_response_minutes, late.sla_resolution_minutes) == (30, 200)
    assert (early.sla_first_response_minutes, early.sla_resolution_minutes) == (
        derived.first_response_minutes, derived.resolution_minutes)
    policy = standard.sla_policy
    assert normal.sla_first_response_minutes == policy.first_response_minutes  # still derived
    # Recomputing the earlier ticket's clocks (e.g. after a reopen) keeps what it had.
    sla_service.start_clocks(before, before.created_at, keep_history=True)
    assert before.sla_first_response_minutes == derived.first_response_minutes
    assert before.first_response_due == due_before
    [row] = sla_targets.table(standard, DAY + timedelta(1))[3:]
    assert (row.priority, row.own, row.since) == ("urgent", True, DAY + timedelta(1))


def test_targets_remembered_for_a_batch_are_read_once_and_fresh_after_it(factory):
    """Many tickets opened at once (a batch of mail) read a package's targets once per
    priority and day; a change made after the block is seen by the next one."""
    standard = factory.package("standard")
    expected = {p: sla_targets.targets_on(standard, p, DAY) for p in ("normal", "urgent")}
    queries: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        if "sla_targets" in statement:
            queries.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with sla_targets.remembered():
            answers = [sla_targets.targets_on(standard, p, d)
                       for p in ("normal", "urgent", "normal", "urgent")
                       for d in (DAY, DAY, DAY + timedelta(1))]
        assert len(queries) == 4  # (normal, urgent) x (DAY, DAY + 1)
        assert answers[:2] == [expected["normal"]] * 2 and answers[3] == expected["urgent"]
        sla_targets.set_targets(None, standard, priority="urgent", effective_from=DAY,
                                first_response_minutes=25, resolution_minutes=250, today=DAY)
        db.session.flush()
        with sla_targets.remembered():
            fresh = sla_targets.targets_on(standard, "urgent", DAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert (fresh.first_response_minutes, fresh.resolution_minutes) == (25, 250)
    assert fresh != expected["urgent"]


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"first_response_minutes": 0, "resolution_minutes": 60}, "first_response_minutes",
     "at least 1 minute"),
    ({"first_response_minutes": -5, "resolution_minutes": 60}, "first_response_minutes",
     "at least 1 minute"),
    ({"first_response_minutes": 60, "resolution_minutes": 0}, "resolution_minutes",
     "at least 1 minute"),
    ({"first_response_minutes": 120, "resolution_minutes": 60}, "resolution_minutes",
     "cannot be shorter than the first response"),
    ({"first_response_minutes": "soon", "resolution_minutes": 60}, "first_response_minutes",
     "whole number of minutes"),
    ({"first_response_minutes": 30, "resolution_minutes": 60, "priority": "asap"}, "priority",
     "Choose a priority"),
    ({"first_response_minutes": 30, "resolution_minutes": 60, "effective_from": DAY - timedelta(1)},
     "effective_from", "keep their targets"),
])
def test_bad_sla_targets_name_the_field_and_save_nothing(factory, kwargs, field, message):
    standard = factory.package("standard")
    args = {"priority": "urgent", "effective_from": DAY, **kwargs}
    with pytest.raises(FieldError, match=message) as info:
        sla_targets.set_targets(None, standard, today=DAY, **args)
    assert info.value.field == field
    db.session.rollback()
    assert _count(SlaTarget) == 0


def test_sla_target_form_on_the_price_list_page(client, auth, factory):
    admin = factory.user(Role.ADMIN)
    db.session.commit()
    auth.login(admin.email)
    standard = factory.package("standard")
    url = f"/admin/prices/packages/{standard.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'id="sla-targets"' in page and 'name="s-priority"' in page
    today = datetime.now(BELGRADE).date()
    form = {"csrf_token": csrf_token_from(page), "s-priority": "low",
            "s-effective_from": today.isoformat(), "s-first_response_minutes": "600",
            "s-resolution_minutes": "300"}
    resp = client.post(f"{url}/sla", data=form)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert ('id="s-resolution_minutes-error">The resolution target cannot be shorter than the '
            'first response.') in html
    resp = client.post(f"{url}/sla", data={**form, "s-first_response_minutes": "0"})
    assert 'id="s-first_response_minutes-error">A target is at least 1 minute.' in \
        resp.get_data(as_text=True)
    assert _count(SlaTarget) == 0
    resp = client.post(f"{url}/sla", data={**form, "s-resolution_minutes": "2400"})
    assert resp.status_code == 302
    assert sla_targets.targets_on(standard, "low", today) == SlaTargets(600, 2400)
    assert db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "sla_targets"))


def test_sla_targets_through_the_api_and_the_cli(app, client, spec, factory):  # noqa: F811
    admin = factory.user(Role.ADMIN)
    manager = factory.user(Role.ACCOUNT_MANAGER)
    db.session.commit()
    extended = factory.package("extended")
    api = Api(client, spec, admin)
    body = api.call("POST", f"/api/v1/packages/{extended.id}/sla_targets", json={
        "priority": "high", "first_response_minutes": 90, "resolution_minutes": 360},
        expect=201).get_json()
    high = next(t for t in body["sla_targets"] if t["priority"] == "high")
    assert (high["first_response_minutes"], high["resolution_minutes"], high["own"]) == (
        90, 360, True)
    assert not next(t for t in body["sla_targets"] if t["priority"] == "urgent")["own"]
    r = api.call("POST", f"/api/v1/packages/{extended.id}/sla_targets", json={
        "priority": "high", "first_response_minutes": 90, "resolution_minutes": 30}, expect=422)
    assert set(r.get_json()["fields"]) == {"resolution_minutes"}
    Api(client, spec, manager).call("POST", f"/api/v1/packages/{extended.id}/sla_targets",
                                    json={"priority": "high"}, expect=403)

    runner = app.test_cli_runner()
    result = runner.invoke(args=["package", "sla", "extended", "urgent",
                                 "--first-response", "45", "--resolution", "20"])
    assert result.exit_code != 0
    assert "cannot be shorter than the first response" in result.output
    result = runner.invoke(args=["package", "sla", "extended", "urgent",
                                 "--first-response", "45", "--resolution", "180"])
    assert result.exit_code == 0, result.output
    row = db.session.get(SlaTarget, int(result.output.strip()))
    assert (row.priority, row.first_response_minutes, row.resolution_minutes) == (
        "urgent", 45, 180)
    listing = runner.invoke(args=["package", "list"]).output
    assert "urgent=45/180\n" in listing.split("extended", 1)[1]
    _, _this, nxt = _months()
    result = runner.invoke(args=["addon", "price", "oncall", "33", "--from", nxt.isoformat()])
    assert result.exit_code == 0, result.output
    assert db.session.get(AddonPrice, int(result.output.strip())).monthly_fee == Decimal("33.00")
    result = runner.invoke(args=["addon", "price", "oncall", "33", "--from",
                                 (nxt + timedelta(days=2)).isoformat()])
    assert result.exit_code != 0 and "first day of a month" in result.output


def test_the_price_list_shows_a_planned_fee_once_its_month_has_come(client, auth, factory):
    """A change planned for a later month is in force when that month comes, though the add-on
    row itself was written before (the admin page reads the dated rows, whatever the job did)."""
    admin = factory.user(Role.ADMIN)
    _, this, _ = _months()
    backup = factory.addon("cloud_backup")
    db.session.add_all([
        AddonPrice(addon_id=backup.id, effective_from=date(2000, 1, 1),
                   monthly_fee=backup.monthly_fee),
        AddonPrice(addon_id=backup.id, effective_from=this, monthly_fee=Decimal("21.70")),
    ])
    db.session.commit()
    auth.login(admin.email)
    page = client.get("/admin/prices").get_data(as_text=True)
    assert "21.70" in page and f"{backup.monthly_fee:.2f}" not in page.split("ad-h", 1)[1]


def test_the_daily_job_gives_packages_and_addons_the_price_planned_for_this_month(
        client, auth, factory):
    """A change planned last month for this one: the daily job writes it into the package and
    add-on, so the portal's contract page shows the fee billed; a second day changes nothing."""
    from helpdesk.models import PackagePrice, PortalRole, utcnow
    from helpdesk.scheduler.runner import run_job_now

    _, this, _ = _months()
    standard, backup = factory.package("standard"), factory.addon("cloud_backup")
    old_fee, old_backup = standard.monthly_fee, backup.monthly_fee
    db.session.add_all([
        PackagePrice(package_id=standard.id, effective_from=date(2000, 1, 1),
                     included_minutes=standard.included_minutes, monthly_fee=old_fee,
                     overage_rate=standard.overage_rate, visits_per_year=standard.visits_per_year),
        PackagePrice(package_id=standard.id, effective_from=this,
                     included_minutes=standard.included_minutes + 60, monthly_fee=old_fee + 15,
                     overage_rate=standard.overage_rate, visits_per_year=standard.visits_per_year),
        AddonPrice(addon_id=backup.id, effective_from=date(2000, 1, 1), monthly_fee=old_backup),
        AddonPrice(addon_id=backup.id, effective_from=this, monthly_fee=old_backup + 2),
    ])
    acme = factory.client("Acme d.o.o.")
    factory.contract(acme, "standard", start=date(2025, 1, 1), addons=("cloud_backup",))
    boss = factory.user(Role.CLIENT, client=acme, portal_role=PortalRole.ADMIN, language="en")
    db.session.commit()
    now = utcnow()
    for minute in (0, 1):  # two days' runs of the job chain, as the scheduler fires them
        runs = run_job_now("contract_changes", now + timedelta(days=minute))
        db.session.commit()
        assert {r.job: r.outcome for r in runs}.get("price_list") == "ok", runs
    db.session.refresh(standard)
    db.session.refresh(backup)
    assert (standard.monthly_fee, standard.included_minutes) == (old_fee + 15,
                                                                 standard.included_minutes)
    assert backup.monthly_fee == old_backup + 2
    changed = db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "price_change", AuditLog.actor == "price-list"))
    assert changed == 2  # the package once and the add-on once, not again on the second day
    auth.login(boss.email)
    page = client.get("/portal/contract").get_data(as_text=True)
    assert f"{old_fee + 15:.2f}" in page and f"{old_backup + 2:.2f}" in page
