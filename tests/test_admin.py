"""Administration: price changes and closed months, bad input with nothing half-saved, the
first-run redirect, rights as attacks, and the CLI commands."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.usage import usage_for
from helpdesk.clients import services as clients
from helpdesk.clients.validate import FieldError
from helpdesk.contracts.admin import create_contract
from helpdesk.extensions import db
from helpdesk.models import (
    AuditLog,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    Contract,
    Package,
    PackagePrice,
    Role,
    Setting,
    StoredReport,
    Ticket,
    User,
)
from helpdesk.pricelist.services import change_price
from helpdesk.tickets.services import create_ticket
from reports.service import report_pdf
from tests.conftest import csrf_token_from

BELGRADE = ZoneInfo("Europe/Belgrade")


def _months():
    today = datetime.now(BELGRADE).date()
    this = today.replace(day=1)
    last = (this - timedelta(days=1)).replace(day=1)
    nxt = (this + timedelta(days=32)).replace(day=1)
    return last, this, nxt


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# -- prices ---------------------------------------------------------------------------------


def test_price_change_from_next_month_keeps_closed_report_and_changes_the_open_month(factory):
    last, this, nxt = _months()
    client = factory.client("Preis d.o.o.", timezone="Europe/Belgrade")
    factory.contract(client, "standard", start=last.replace(year=last.year - 1))
    db.session.commit()
    period_last, period_this, period_next = (f"{d:%Y-%m}" for d in (last, this, nxt))
    close_month(period_last, force=True)
    frozen = report_pdf(client, period_last)
    db.session.commit()
    before_next = usage_for(client, period_next)
    before_this = usage_for(client, period_this)
    assert before_next.fee == Decimal("120.00")

    standard = factory.package("standard")
    change_price(None, standard, effective_from=nxt, included_minutes=360,
                 monthly_fee="135.50", overage_rate="42", visits_per_year=1)
    db.session.commit()

    assert report_pdf(client, period_last) == frozen  # byte-identical, from the store
    assert _count(StoredReport) == 1
    assert usage_for(client, period_last).fee == Decimal("120.00")
    assert usage_for(client, period_this).fee == before_this.fee  # this month keeps its price
    after = usage_for(client, period_next)
    assert (after.fee, after.included_minutes) == (Decimal("135.50"), 360)
    assert after.fee != before_next.fee
    # The change is audited.
    assert db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "package_prices"))


def test_a_price_change_into_a_closed_month_or_negative_is_refused_and_nothing_saved(factory):
    last, this, _ = _months()
    close_month(f"{last:%Y-%m}", force=True)
    standard = factory.package("standard")
    with pytest.raises(FieldError, match="closed"):
        change_price(None, standard, effective_from=last, included_minutes=300,
                     monthly_fee="120", overage_rate="40", visits_per_year=1)
    with pytest.raises(FieldError, match="cannot be negative") as info:
        change_price(None, standard, effective_from=this, included_minutes=300,
                     monthly_fee="-1", overage_rate="40", visits_per_year=1)
    assert info.value.field == "monthly_fee"
    with pytest.raises(FieldError, match="first day of a month"):
        change_price(None, standard, effective_from=this + timedelta(days=1),
                     included_minutes=300, monthly_fee="1", overage_rate="40", visits_per_year=1)
    db.session.rollback()
    assert _count(PackagePrice) == 0
    assert factory.package("standard").monthly_fee == Decimal("120.00")


def test_negative_price_in_the_browser_form_is_shown_next_to_the_field(client, auth, factory):
    admin = factory.user(Role.ADMIN)
    db.session.commit()
    auth.login(admin.email)
    standard = factory.package("standard")
    page = client.get(f"/admin/prices/packages/{standard.id}")
    token = csrf_token_from(page.get_data(as_text=True))
    _, _this, nxt = _months()
    resp = client.post(f"/admin/prices/packages/{standard.id}/price", data={
        "csrf_token": token, "x-effective_from": nxt.isoformat(), "x-included_minutes": "300",
        "x-monthly_fee": "-20", "x-overage_rate": "40", "x-visits_per_year": "1"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="x-monthly_fee-error">A price cannot be negative.' in html
    assert _count(PackagePrice) == 0


# -- clients, contacts, contracts: bad input -------------------------------------------------


def test_a_domain_of_another_client_names_that_client_and_saves_nothing(factory):
    owner = factory.client("Acme d.o.o.", domain="acme.example")
    db.session.commit()
    with pytest.raises(FieldError) as info:
        clients.create_client(None, name="Copycat", domains=["new.example", "ACME.example"])
    assert info.value.field == "domains"
    assert f"Acme d.o.o. (id {owner.id})" in info.value.message
    db.session.rollback()
    assert db.session.scalar(select(Client).where(Client.name == "Copycat")) is None
    assert _count(ClientDomain) == 1


def test_a_second_client_with_the_same_non_ascii_name_is_refused(factory):
    """SQLite's lower() leaves Š/Đ alone, so the case-folded look-up missed the same name: a field
    error, not a 500 from the unique index."""
    owner = factory.client("ŠTAMPAČI Đorđević")
    db.session.commit()
    with pytest.raises(FieldError) as info:
        clients.create_client(None, name=" ŠTAMPAČI Đorđević ")
    assert info.value.field == "name" and f"(id {owner.id})" in info.value.message
    db.session.rollback()


def test_archiving_with_open_tickets_asks_then_keeps_them_readable(client, auth, factory):
    admin = factory.user(Role.ADMIN)
    acme = factory.client("Acme d.o.o.")
    ticket = create_ticket(subject="Still open", client_id=acme.id, actor="test")
    db.session.commit()
    auth.login(admin.email)
    page = client.get(f"/admin/clients/{acme.id}")
    token = csrf_token_from(page.get_data(as_text=True))
    asked = client.post(f"/admin/clients/{acme.id}/archive", data={"csrf_token": token})
    assert asked.status_code == 409
    assert "has 1 open tickets" in asked.get_data(as_text=True)
    assert 'name="confirm"' in asked.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Client, acme.id).archived_at is None
    done = client.post(f"/admin/clients/{acme.id}/archive",
                       data={"csrf_token": token, "confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Client, acme.id).archived_at is not None
    assert db.session.get(Ticket, ticket.id).status in ("new", "open")
    assert client.get(f"/console/tickets/{ticket.number}").status_code == 200
    with pytest.raises(FieldError, match="archived"):
        create_contract(None, db.session.get(Client, acme.id), factory.package("basic"),
                        start=date.today())


def test_overlapping_contract_is_refused_with_the_other_contract_named(factory):
    acme = factory.client("Acme d.o.o.")
    first = create_contract(None, acme, factory.package("standard"), start=date(2026, 1, 1))
    db.session.commit()
    assert first.end_date == date(2026, 12, 31)
    with pytest.raises(FieldError) as info:
        create_contract(None, acme, factory.package("basic"), start=date(2026, 12, 31))
    assert f"#{first.id}" in info.value.message and info.value.field == "start"
    db.session.rollback()
    assert _count(Contract) == 1
    nxt = create_contract(None, acme, factory.package("basic"), start=date(2027, 1, 1),
                          term_months=1, auto_renew=False)
    assert nxt.end_date == date(2027, 1, 31) and nxt.renewal_date is None


@pytest.mark.parametrize("emails, phones, field", [
    (["not-an-email"], [], "emails"),
    (["ok@acme.example", "two@@acme.example"], [], "emails"),
    (["ok@acme.example"], ["12"], "phones"),
    (["ok@acme.example"], ["call me maybe"], "phones"),
])
def test_invalid_email_or_phone_saves_no_part_of_the_contact(factory, emails, phones, field):
    acme = factory.client("Acme d.o.o.")
    db.session.commit()
    with pytest.raises(FieldError) as info:
        clients.add_contact(None, acme, name="Jana", emails=emails, phones=phones)
    assert info.value.field == field and "Not a valid" in info.value.message
    db.session.rollback()
    assert _count(Contact) == 0 and _count(ContactEmail) == 0


def test_contact_form_shows_the_error_next_to_the_field(client, auth, factory):
    admin = factory.user(Role.ADMIN)
    acme = factory.client("Acme d.o.o.")
    db.session.commit()
    auth.login(admin.email)
    url = f"/admin/clients/{acme.id}/contacts/new"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    resp = client.post(url, data={"csrf_token": token, "name": "Jana", "emails": "jana@acme",
                                  "phones": ""})
    assert resp.status_code == 422
    assert 'id="emails-error">Not a valid email address: jana@acme' in resp.get_data(as_text=True)
    assert _count(Contact) == 0


def test_staff_email_and_extension_are_validated(factory):
    from helpdesk.staff.services import create_staff, deactivate_staff

    with pytest.raises(FieldError, match="Not a valid email"):
        create_staff(None, email="notanemail", role="agent")
    with pytest.raises(FieldError, match="digits"):
        create_staff(None, email="a@vendor.example", role="agent", extension="2o1")
    admin = create_staff(None, email="boss@vendor.example", role="admin", name="Boss")
    with pytest.raises(FieldError, match="only active admin"):
        deactivate_staff(None, admin)


# -- first run ------------------------------------------------------------------------------


@pytest.fixture
def first_run_app(app):
    app.config["SETUP_REDIRECT"] = True
    app.extensions.pop("helpdesk_setup_done", None)
    return app


def test_first_visit_leads_to_setup_and_env_settings_win(first_run_app, monkeypatch, factory):
    web = first_run_app.test_client()
    assert web.get("/console/").location.endswith("/setup")
    assert web.get("/api/v1/tickets").status_code == 401  # the API is not redirected
    first_run_app.config["WTF_CSRF_ENABLED"] = False
    monkeypatch.setenv("HELPDESK_CURRENCY", "USD")
    first_run_app.config["CURRENCY"] = "USD"
    resp = web.post("/setup", data={
        "vendor_name": "Podrška Plus", "vendor_email": "help@vendor.example", "timezone": "Europe/Istanbul",
        "currency": "TRY", "holiday_country": "TR", "workday_start": "09:00", "workday_end": "17:00",
        "admin_name": "Boss", "admin_email": "boss@vendor.example", "password": "long-password-1",
        "password2": "long-password-1"})
    assert resp.status_code == 302
    stored = {s.key: s.value for s in db.session.scalars(select(Setting))}
    assert stored["VENDOR_NAME"] == "Podrška Plus" and "CURRENCY" not in stored
    assert first_run_app.config["CURRENCY"] == "USD"  # the environment wins
    assert first_run_app.config["TIMEZONE"] == "Europe/Istanbul"
    page = web.get("/admin/settings").get_data(as_text=True)
    assert "Podrška Plus · " in page and "HELPDESK_CURRENCY" in page
    assert web.get("/setup").status_code == 302  # only once


def test_setup_with_a_bad_address_saves_nothing(first_run_app):
    first_run_app.config["WTF_CSRF_ENABLED"] = False
    web = first_run_app.test_client()
    resp = web.post("/setup", data={
        "vendor_name": "V", "vendor_email": "not-an-address", "timezone": "Europe/Belgrade",
        "currency": "EUR", "holiday_country": "RS", "workday_start": "08:00", "workday_end": "16:00",
        "admin_name": "Boss", "admin_email": "boss@vendor.example", "password": "long-password-1",
        "password2": "long-password-1"})
    assert resp.status_code == 422
    assert 'id="vendor_email-error">Not a valid email address' in resp.get_data(as_text=True)
    assert _count(User) == 0 and _count(Setting) == 0


# -- rights as attacks ----------------------------------------------------------------------


def _posting(client, auth, user, url, data):
    auth.login(user.email)
    token = auth.csrf("/admin/clients/")
    return client.post(url, data=dict(data, csrf_token=token))


def test_account_manager_cannot_edit_another_managers_client(client, auth, factory):
    mine_am = factory.user(Role.ACCOUNT_MANAGER)
    other_am = factory.user(Role.ACCOUNT_MANAGER)
    theirs = factory.client("Theirs", manager=other_am)
    contact = factory.contact(theirs, email="boss@theirs.example", name="Boss")
    contract = factory.contract(theirs, "standard", start=date(2026, 1, 1))
    db.session.commit()
    attacks = [
        (f"/admin/clients/{theirs.id}/contacts/new", {"name": "X", "emails": "x@evil.example"}),
        (f"/admin/clients/contacts/{contact.id}", {"name": "Hacked", "emails": "a@evil.example"}),
        (f"/admin/clients/contacts/{contact.id}/deactivate", {}),
        (f"/admin/clients/{theirs.id}/contracts/new", {"package": "1", "start": "2030-01-01",
                                                       "term_months": "12"}),
        (f"/admin/clients/contracts/{contract.id}/end", {"end": "2026-12-31"}),
        (f"/admin/clients/{theirs.id}", {"name": "Renamed"}),  # the record itself: admins only
    ]
    auth.login(mine_am.email)
    token = auth.csrf("/admin/clients/")
    for url, data in attacks:
        resp = client.post(url, data=dict(data, csrf_token=token))
        assert resp.status_code in (403, 404), url
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).name == "Boss"
    assert db.session.get(Contact, contact.id).active is True
    assert _count(Contract) == 1 and db.session.get(Contract, contract.id).end_date is None
    assert db.session.get(Client, theirs.id).name == "Theirs"
    # Their own client works.
    mine = factory.client("Mine", manager=mine_am)
    db.session.commit()
    ok = client.post(f"/admin/clients/{mine.id}/contacts/new",
                     data={"csrf_token": token, "name": "Jana", "emails": "jana@mine.example"})
    assert ok.status_code == 302


def test_agent_reads_but_every_edit_is_forbidden(client, auth, factory):
    agent = factory.user(Role.AGENT)
    acme = factory.client("Acme d.o.o.")
    db.session.commit()
    auth.login(agent.email)
    assert client.get(f"/admin/clients/{acme.id}").status_code == 200
    token = auth.csrf("/admin/clients/")
    for url in (f"/admin/clients/{acme.id}", "/admin/clients/new",
                f"/admin/clients/{acme.id}/archive", f"/admin/clients/{acme.id}/contacts/new",
                f"/admin/clients/{acme.id}/contracts/new", "/admin/staff/new", "/admin/settings",
                "/admin/prices/packages/1/price"):
        resp = client.post(url, data={"csrf_token": token, "name": "Hacked"})
        assert resp.status_code == 403, url
    db.session.expire_all()
    assert db.session.get(Client, acme.id).name == "Acme d.o.o."


def test_client_user_gets_nothing(client, auth, factory):
    acme = factory.client("Acme d.o.o.")
    user = factory.user(Role.CLIENT, client=acme)
    db.session.commit()
    auth.login(user.email)
    assert client.get("/admin/clients/").status_code == 403
    assert client.get(f"/admin/clients/{acme.id}").status_code == 403


def test_deactivated_staff_cannot_sign_in_and_keeps_history(client, auth, factory):
    from helpdesk.staff.services import deactivate_staff

    agent = factory.user(Role.AGENT)
    acme = factory.client("Acme d.o.o.")
    ticket = create_ticket(subject="Old work", client_id=acme.id, actor="test")
    ticket.assignee_id = agent.id
    deactivate_staff(None, agent)
    db.session.commit()
    resp = auth.login(agent.email)
    assert "/console" not in (resp.location or "")
    assert client.get("/console/").status_code in (302, 401)
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).assignee.name == agent.name


# -- CLI ------------------------------------------------------------------------------------


def test_cli_onboards_a_client_and_prints_ids(app, factory):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["staff", "create", "milan@vendor.example", "--role",
                              "account_manager", "--name", "Milan", "--extension", "202",
                              "--no-send-reset"])
    assert out.exit_code == 0, out.output
    manager_id = int(out.output.strip().splitlines()[-1])
    out = runner.invoke(args=["client", "create", "Acme d.o.o.", "--domain", "acme.example",
                              "--domain", "acme.rs", "--country", "RS", "--language", "en",
                              "--account-manager", "milan@vendor.example"])
    assert out.exit_code == 0, out.output
    client_id = int(out.output.strip())
    acme = db.session.get(Client, client_id)
    assert acme.account_manager_id == manager_id
    assert sorted(d.domain for d in acme.domains) == ["acme.example", "acme.rs"]
    out = runner.invoke(args=["contact", "add", str(client_id), "Jana@Acme.example", "--name",
                              "Jana", "--phone", "+381 11 222 3344"])
    assert out.exit_code == 0, out.output
    contact = db.session.get(Contact, int(out.output.strip()))
    assert contact.emails[0].email == "jana@acme.example"
    assert contact.phones[0].normalized == "381112223344"
    out = runner.invoke(args=["contract", "create", str(client_id), "standard", "--start",
                              "2026-01-01", "--term-months", "6", "--no-auto-renew"])
    assert out.exit_code == 0, out.output
    contract = db.session.get(Contract, int(out.output.strip()))
    assert (contract.end_date, contract.auto_renew) == (date(2026, 6, 30), False)
    out = runner.invoke(args=["contract", "end", str(contract.id), "--on", "2026-03-31"])
    assert out.exit_code == 0, out.output
    db.session.expire_all()
    assert db.session.get(Contract, contract.id).end_date == date(2026, 3, 31)
    # The accounting's package-change commands are still in the same group.
    assert {"upgrade", "downgrade", "create", "end"} <= set(
        app.cli.get_command(None, "contract").list_commands(None))
    listing = runner.invoke(args=["client", "list"]).output
    assert f"{client_id}\tAcme d.o.o.\tacme.example,acme.rs\tmilan@vendor.example" in listing


def test_cli_errors_are_one_line(app, factory):
    runner = app.test_cli_runner()
    taken = factory.client("Acme d.o.o.", domain="acme.example")
    db.session.commit()
    cases = [
        (["client", "create", "Other", "--domain", "acme.example"], "Acme d.o.o."),
        (["contact", "add", str(taken.id), "notanemail"], "Not a valid email address"),
        (["contact", "add", "999", "a@b.example"], "no client with id 999"),
        (["contract", "create", str(taken.id), "gold"], "no package 'gold'"),
        (["staff", "create", "notanemail", "--role", "agent"], "Not a valid email"),
        (["staff", "deactivate", "nobody@vendor.example"], "no staff member"),
        (["user", "create", "notanemail", "--role", "agent", "--password", "x" * 12],
         "Not a valid email"),
    ]
    for args, text in cases:
        out = runner.invoke(args=args)
        assert out.exit_code != 0, args
        assert text in out.output and "Traceback" not in out.output, out.output


def test_cli_archive_asks_when_tickets_are_open(app, factory):
    acme = factory.client("Acme d.o.o.")
    create_ticket(subject="Open", client_id=acme.id, actor="test")
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["client", "archive", str(acme.id)], input="n\n")
    assert out.exit_code != 0 and "1 open tickets" in out.output
    db.session.expire_all()
    assert db.session.get(Client, acme.id).archived_at is None
    out = runner.invoke(args=["client", "archive", str(acme.id), "--yes"])
    assert out.exit_code == 0, out.output
    db.session.expire_all()
    assert db.session.get(Client, acme.id).archived_at is not None


def test_cli_setup_then_refuses_a_second_time(app):
    runner = app.test_cli_runner()
    args = ["setup", "--vendor-name", "Podrška Plus", "--support-address", "help@vendor.example",
            "--timezone", "Europe/Belgrade", "--currency", "EUR", "--holiday-country", "RS",
            "--admin-email", "boss@vendor.example", "--admin-name", "Boss",
            "--password", "long-password-1"]
    out = runner.invoke(args=args)
    assert out.exit_code == 0, out.output
    admin = db.session.get(User, int(out.output.strip()))
    assert admin.role == "admin" and admin.check_password("long-password-1")
    assert db.session.scalar(select(func.count(Package.id))) == 3  # the seed price list
    out = runner.invoke(args=args[:-4] + ["--admin-email", "two@vendor.example",
                                          "--admin-name", "Two", "--password", "long-password-2"])
    assert out.exit_code != 0 and "set up already" in out.output


def test_every_command_option_is_documented(app):
    runner = app.test_cli_runner()
    for args in (["client", "create"], ["client", "list"], ["client", "archive"],
                 ["contact", "add"], ["contract", "create"], ["contract", "end"],
                 ["staff", "create"],
                 ["staff", "deactivate"], ["setup"]):
        cmd = app.cli.get_command(None, args[0]) if len(args) == 1 else None
        out = runner.invoke(args=args + ["--help"])
        assert out.exit_code == 0
        group = app.cli.get_command(app.app_context(), args[0])
        command = group if len(args) == 1 else group.get_command(None, args[1])
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{' '.join(args)} {param.opts} has no help"
        del cmd


# -- business calendar ----------------------------------------------------------------------


def test_an_extra_closing_day_is_a_day_off_for_that_country_only(client, auth, factory, app):
    from helpdesk.sla.service import business_calendar

    admin = factory.user(Role.ADMIN)
    rs = factory.client("Beograd d.o.o.", country="RS", timezone="Europe/Belgrade")
    tr = factory.client("İstanbul A.Ş.", country="TR", timezone="Europe/Istanbul")
    db.session.commit()
    day = date(2027, 3, 17)  # a Wednesday, no public holiday in RS or TR (10 March is Ramazan Bayramı)
    assert business_calendar(rs).is_working_day(day)
    auth.login(admin.email)
    token = auth.csrf("/admin/settings")
    bad = client.post("/admin/settings/closing-days",
                      data={"csrf_token": token, "day": "2027-03-17", "country": "XX",
                            "name": "Inventory"})
    assert bad.status_code == 422 and "Not a two-letter country code" in bad.get_data(as_text=True)
    ok = client.post("/admin/settings/closing-days",
                     data={"csrf_token": token, "day": "2027-03-17", "country": "rs",
                           "name": "Inventory"})
    assert ok.status_code == 302
    from flask import g

    g.pop("_helpdesk_closing_days", None)  # read once per request or job: this is a new one
    if True:
        assert not business_calendar(rs).is_working_day(day)
        assert business_calendar(tr).is_working_day(day)
        # The business hours move over the closed day.
        cal = business_calendar(rs)
        start = datetime(2027, 3, 16, 15, 0, tzinfo=BELGRADE)
        assert cal.add_business_minutes(start, 120).date() == date(2027, 3, 18)


def test_working_hours_setting_drives_the_calendar(client, auth, factory, app):
    from helpdesk.sla.service import business_calendar

    admin = factory.user(Role.ADMIN)
    acme = factory.client("Acme d.o.o.")
    db.session.commit()
    auth.login(admin.email)
    token = auth.csrf("/admin/settings")
    base = {"csrf_token": token, "vendor_name": "V", "vendor_email": "help@vendor.example",
            "timezone": "Europe/Belgrade", "currency": "EUR", "holiday_country": "RS"}
    bad = client.post("/admin/settings", data=dict(base, workday_start="17:00",
                                                   workday_end="09:00"))
    assert bad.status_code == 422
    assert "must end after it starts" in bad.get_data(as_text=True)
    assert _count(Setting) == 0
    ok = client.post("/admin/settings", data=dict(base, workday_start="09:00",
                                                  workday_end="17:00"))
    assert ok.status_code == 302
    assert business_calendar(acme).start.hour == 9
    assert db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "settings"))


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def test_logo_upload_is_checked_stored_and_shown(client, auth, factory, app, tmp_path):
    import io

    app.config["BRANDING_DIR"] = str(tmp_path)
    admin = factory.user(Role.ADMIN)
    db.session.commit()
    auth.login(admin.email)
    token = auth.csrf("/admin/settings")
    base = {"csrf_token": token, "vendor_name": "Logo d.o.o.", "vendor_email": "help@v.example",
            "timezone": "Europe/Belgrade", "currency": "EUR", "holiday_country": "RS",
            "workday_start": "08:00", "workday_end": "16:00"}
    bad = client.post("/admin/settings", content_type="multipart/form-data",
                      data=dict(base, vendor_logo=(io.BytesIO(b"<svg onload=x>"), "x.svg")))
    assert bad.status_code == 422 and "PNG, JPEG or GIF" in bad.get_data(as_text=True)
    assert _count(Setting) == 0
    ok = client.post("/admin/settings", content_type="multipart/form-data",
                     data=dict(base, vendor_logo=(io.BytesIO(_png()), "logo.png")))
    assert ok.status_code == 302
    stored = db.session.get(Setting, "VENDOR_LOGO").value
    assert stored.startswith(str(tmp_path / "logo-")) and stored.endswith(".png")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "/vendor-logo?v=" in page and "Logo d.o.o. · " in page
    served = client.get("/vendor-logo")
    assert served.status_code == 200 and served.data == _png()
    served.close()
    from reports.data import _vendor

    assert _vendor().logo_path.read_bytes() == _png()  # the reports print the same file


def test_an_archived_clients_portal_user_reads_history_but_opens_no_ticket(client, auth, factory):
    acme = factory.client("Acme d.o.o.")
    user = factory.user(Role.CLIENT, client=acme)
    old = create_ticket(subject="Last year's question", client_id=acme.id, actor="test")
    clients.archive_client(None, acme, confirm=True)
    db.session.commit()
    auth.login(user.email)
    token = auth.csrf("/portal/tickets/new")
    resp = client.post("/portal/tickets/new", data={"csrf_token": token, "subject": "New one",
                                                    "body": "Hello"})
    assert resp.status_code == 400
    # In the client's language (Serbian here).
    assert "Acme d.o.o. je arhiviran: nema novih ugovora ni tiketa." in resp.get_data(as_text=True)
    assert _count(Ticket) == 1
    assert "Last year&#39;s question" in client.get("/portal/").get_data(as_text=True) or \
        "Last year's question" in client.get("/portal/").get_data(as_text=True)
    assert old.id
