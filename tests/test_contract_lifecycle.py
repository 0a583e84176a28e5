"""The contract lifecycle run by the scheduler's own daily job, across month and year boundaries:
renewals, ends, trials, warranty offers; each run twice changes nothing the second time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpdesk.accounting.ledger import log_entry
from helpdesk.accounting.usage import usage_for
from helpdesk.contracts import active_contract
from helpdesk.contracts.changes import choose_next_package
from helpdesk.contracts.lifecycle import trial_last_day
from helpdesk.extensions import db
from helpdesk.models import AuditLog, Contract, EntryKind, Role, SentNotification
from helpdesk.scheduler.jobs import JOBS
from helpdesk.scheduler.runner import resolve, run_due_jobs
from helpdesk.tickets.services import create_ticket
from tests.servers import free_port, smtp_server  # noqa: F401 - fixture

BELGRADE = ZoneInfo("Europe/Belgrade")
ISTANBUL = ZoneInfo("Europe/Istanbul")
JOB = next(job for job in JOBS if job.name == "contract_changes")


@pytest.fixture
def app_config(smtp_server):  # noqa: F811 - the fixture
    from tests.test_scheduler import BUILTIN_OFF

    return {
        **BUILTIN_OFF,
        "SCHEDULE_CONTRACT_CHANGES": "daily 00:15",
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
    }


@pytest.fixture
def manager(factory):
    return factory.user(Role.ACCOUNT_MANAGER, email="am@vendor.test", name="Ana")


def run_scheduled(day: date):
    """The scheduler's own run of the daily contract job on ``day`` (00:15 Belgrade + 1 min)."""
    now = datetime.combine(day, time(0, 16), BELGRADE).astimezone(UTC)
    runs = [r for r in run_due_jobs(now) if r.job == JOB.name]
    assert runs and runs[0].outcome == "ok", runs and runs[0].error
    return now


def run_again(now: datetime):
    """The same job function again for the same moment (a second process, a made-up run)."""
    summary = resolve(JOB.target)(now)
    db.session.commit()
    return summary


def contracts_of(client) -> list[Contract]:
    return db.session.scalars(
        select(Contract).where(Contract.client_id == client.id).order_by(Contract.start_date)
    ).all()


def test_a_renewing_contract_renews_on_its_end_date_across_the_year(factory, manager):
    client = factory.client(manager=manager)
    contract = factory.contract(client, "standard", start=date(2026, 1, 1), end=date(2026, 12, 31),
                                addons=("cloud_backup",))
    contract.auto_renew = True
    contract.monthly_fee = Decimal("150.00")  # negotiated for this term only
    db.session.commit()

    run_scheduled(date(2026, 12, 30))
    assert len(contracts_of(client)) == 1
    now = run_scheduled(date(2026, 12, 31))
    old, new = contracts_of(client)
    assert (old.status, old.ended_reason) == ("active", "renewed")  # still serves its last day
    assert (new.start_date, new.end_date, new.status) == (date(2027, 1, 1), date(2027, 12, 31),
                                                          "active")
    assert new.previous_id == old.id and new.package.code == "standard"
    assert new.monthly_fee is None  # the price list of the renewal day
    assert [ca.addon.code for ca in new.addons] == ["cloud_backup"]
    # Both years are served: the last day of the old term and the first of the new.
    assert active_contract(client.id, date(2026, 12, 31)).id == old.id
    assert active_contract(client.id, date(2027, 1, 1)).id == new.id
    # December still bills the negotiated fee, January the list price.
    assert usage_for(client, "2026-12").fee == Decimal("150.00")
    assert usage_for(client, "2027-01").fee == new.package.monthly_fee
    assert run_again(now).changed == 0
    now = run_scheduled(date(2027, 1, 1))
    assert len(contracts_of(client)) == 2 and old.status == "expired"
    assert run_again(now).changed == 0
    audit = db.session.scalars(select(AuditLog.action).where(AuditLog.actor == "scheduler")).all()
    assert "lifecycle_renewed" in audit


def test_a_non_renewing_contract_ends_and_the_next_ticket_is_not_reserved(factory, manager):
    client = factory.client(manager=manager, timezone="Europe/Istanbul", language="tr")
    contract = factory.contract(client, "standard", start=date(2025, 2, 1), end=date(2026, 1, 31))
    contract.auto_renew = False
    db.session.commit()
    open_ticket = create_ticket(subject="Printer", client_id=client.id,
                                created_at=datetime(2026, 1, 20, 9, 0, tzinfo=ISTANBUL))
    db.session.commit()
    assert open_ticket.reserved

    now = run_scheduled(date(2026, 1, 31))  # its last day: still served
    assert contract.status == "active" and open_ticket.reserved
    now = run_scheduled(date(2026, 2, 1))
    assert (contract.status, contract.ended_reason) == ("expired", "ended")
    assert active_contract(client.id, date(2026, 2, 1)) is None
    db.session.refresh(open_ticket)
    assert not open_ticket.reserved  # kept, with its history, but no longer reserved
    assert run_again(now).changed == 0

    feb = datetime(2026, 2, 2, 10, 0, tzinfo=ISTANBUL)
    ticket = create_ticket(subject="Mail down", client_id=client.id, created_at=feb)
    log_entry(client=client, kind=EntryKind.EMAIL, started_at=feb.astimezone(UTC), minutes=60,
              ticket=ticket)
    db.session.commit()
    assert not ticket.reserved
    usage = usage_for(client, "2026-02")
    assert usage.status == "expired" and usage.fee == 0
    assert usage.no_contract_amount == Decimal("50.00")  # one hour at NO_CONTRACT_RATE
    # January was still the contract's: no no-contract charge.
    assert usage_for(client, "2026-01").no_contract_amount == 0


def test_a_trial_with_a_choice_converts_to_the_chosen_package(app, factory, manager):
    client = factory.client(manager=manager)
    trial = factory.contract(client, "standard", status="trial", start=date(2026, 11, 15))
    choose_next_package(trial, factory.package("extended"), user=manager)
    db.session.commit()
    last = trial_last_day(trial)
    assert last == date(2026, 12, 14)  # TRIAL_DAYS = 30

    run_scheduled(last - timedelta(days=1))
    assert len(contracts_of(client)) == 1
    now = run_scheduled(last)
    trial_row, paid = contracts_of(client)
    assert (trial_row.status, trial_row.ended_reason, trial_row.end_date) == (
        "trial", "trial_converted", last)
    assert (paid.status, paid.package.code, paid.start_date) == ("active", "extended",
                                                                 date(2026, 12, 15))
    assert paid.end_date == date(2027, 12, 14)
    assert run_again(now).changed == 0
    # The trial days stay free, the paid days of December are billed.
    december = usage_for(client, "2026-12")
    assert Decimal(0) < december.fee < paid.package.monthly_fee


def test_a_trial_without_a_choice_ends(factory, manager):
    client = factory.client(manager=manager)
    trial = factory.contract(client, "standard", status="trial", start=date(2026, 12, 10),
                             end=date(2027, 1, 8))
    db.session.commit()
    run_scheduled(date(2027, 1, 8))
    assert trial.ended_reason is None and active_contract(client.id, date(2027, 1, 8))
    now = run_scheduled(date(2027, 1, 9))
    assert trial.ended_reason == "trial_ended" and len(contracts_of(client)) == 1
    assert active_contract(client.id, date(2027, 1, 9)) is None
    assert run_again(now).changed == 0


def test_downtime_is_made_up_with_a_later_date(app, factory, manager):
    client = factory.client(manager=manager)
    factory.contract(client, "standard", start=date(2024, 3, 1), end=date(2025, 2, 28))
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["contract", "apply-due", "--date", "2026-03-05"])
    assert result.exit_code == 0, result.output
    assert "2 renewed" in result.output
    terms = contracts_of(client)
    assert [(c.start_date, c.end_date) for c in terms] == [
        (date(2024, 3, 1), date(2025, 2, 28)),
        (date(2025, 3, 1), date(2026, 2, 28)),
        (date(2026, 3, 1), date(2027, 2, 28)),
    ]
    again = runner.invoke(args=["contract", "apply-due", "--date", "2026-03-05"])
    assert "0 renewed" in again.output and len(contracts_of(client)) == 3


def test_the_warranty_offer_is_mailed_once_in_the_clients_language(factory, manager, smtp_server):  # noqa: F811
    client = factory.client(manager=manager, language="tr", timezone="Europe/Istanbul",
                            warranty_until=date(2027, 1, 31))
    factory.contact(client, email="musteri@firma.test")
    other = factory.client(manager=manager, warranty_until=date(2027, 6, 30))
    factory.contact(other, email="later@firma.test")
    db.session.commit()

    run_scheduled(date(2026, 12, 31))  # 31 days before: not yet
    now = run_scheduled(date(2027, 1, 1))
    run_again(now)
    run_scheduled(date(2027, 1, 2))
    mails = smtp_server.wait_for(1)
    assert len(mails) == 1
    assert sorted(mails[0].rcpt_tos) == ["am@vendor.test", "musteri@firma.test"]
    message = mails[0].message()
    assert "31 Ocak 2027" in message["Subject"] + message.get_content()
    assert db.session.scalar(select(func.count()).select_from(SentNotification)) == 1


def test_the_account_manager_chooses_for_a_trial_from_the_command_line(app, factory, manager):
    client = factory.client(manager=manager)
    today = utcnow_local_date()
    trial = factory.contract(client, "standard", status="trial", start=today - timedelta(days=3))
    db.session.commit()
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["contract", "trial-choice", str(client.id), "gold"])
    assert bad.exit_code != 0 and "no package 'gold'" in bad.output
    ok = runner.invoke(args=["contract", "trial-choice", str(client.id), "basic", "--user",
                             manager.email])
    assert ok.exit_code == 0, ok.output
    db.session.expire_all()
    assert trial.next_package.code == "basic"
    again = runner.invoke(args=["contract", "cancel-renewal", str(client.id)])
    assert again.exit_code != 0 and "only an active contract" in again.output


def utcnow_local_date() -> date:
    from helpdesk.models import utcnow

    return utcnow().astimezone(BELGRADE).date()


def test_the_history_api_lists_the_renewal_and_hides_other_managers_clients(app, client,
                                                                            factory, manager):
    from helpdesk.models import ApiToken

    customer = factory.client(manager=manager)
    factory.contract(customer, "standard", start=date(2025, 1, 1), end=date(2025, 12, 31))
    other_manager = factory.user(Role.ACCOUNT_MANAGER)
    token, plain = ApiToken.issue(manager, "t")
    other, other_plain = ApiToken.issue(other_manager, "t")
    db.session.add_all([token, other])
    db.session.commit()
    run_again(datetime(2026, 1, 2, 12, tzinfo=UTC))
    url = f"/api/v1/clients/{customer.id}/contract-history"
    data = client.get(url, headers={"Authorization": f"Bearer {plain}"}).get_json()
    assert [(e["day"], e["kind"]) for e in data["events"]] == [
        ("2025-01-01", "start"), ("2026-01-01", "renewal")]
    assert client.get(url, headers={"Authorization": f"Bearer {other_plain}"}).status_code == 404


def test_a_downgrade_asked_in_the_last_month_starts_the_next_term(factory, manager):
    from helpdesk.contracts.selfservice import SelfServiceError, self_downgrade
    from helpdesk.models import PortalRole

    client = factory.client(manager=manager)
    contract = factory.contract(client, "extended", start=date(2026, 1, 1),
                                end=date(2026, 12, 31))
    admin = factory.user(Role.CLIENT, client=client, portal_role=PortalRole.ADMIN)
    db.session.commit()
    assert self_downgrade(admin, contract, factory.package("standard"), date(2026, 12, 10)) is None
    db.session.commit()
    with pytest.raises(SelfServiceError):  # one is pending already
        self_downgrade(admin, contract, factory.package("basic"), date(2026, 12, 11))
    db.session.rollback()
    run_scheduled(date(2026, 12, 31))
    _, new = contracts_of(client)
    assert new.package.code == "standard" and new.start_date == date(2027, 1, 1)
    assert usage_for(client, "2026-12").fee == factory.package("extended").monthly_fee
