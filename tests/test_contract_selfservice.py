"""Portal self-service of the contract by the company administrator; refusals save nothing."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.usage import usage_json
from helpdesk.extensions import db, mail
from helpdesk.models import (
    AuditLog,
    ClosedMonth,
    ContractAddon,
    ContractChange,
    PortalRole,
    Role,
    utcnow,
)

BELGRADE = ZoneInfo("Europe/Belgrade")


def today() -> date:
    return utcnow().astimezone(BELGRADE).date()


@pytest.fixture
def outbox(app):
    with mail.record_messages() as sent:
        yield sent


@pytest.fixture
def company(factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, email="am@vendor.test", name="Ana",
                           language="sr_Latn")
    client = factory.client("Balon d.o.o.", manager=manager, language="sr_Latn")
    contract = factory.contract(client, "standard", start=today() - timedelta(days=200),
                                end=today() + timedelta(days=165))
    admin = factory.user(Role.CLIENT, email="admin@balon.test", client=client,
                         portal_role=PortalRole.ADMIN)
    member = factory.user(Role.CLIENT, email="member@balon.test", client=client,
                          portal_role=PortalRole.MEMBER)
    db.session.commit()
    return client, contract, admin, member


def post(client, auth, path, data):
    token = auth.csrf("/portal/contract/change")
    return client.post(path, data={**data, "csrf_token": token})


def counts():
    return (db.session.scalar(select(func.count()).select_from(ContractChange)),
            db.session.scalar(select(func.count()).select_from(ContractAddon)),
            db.session.scalar(select(func.count()).select_from(AuditLog)))


def test_admin_upgrades_after_confirming_the_figures_of_the_usage_api(client, auth, company,
                                                                       outbox):
    customer, contract, admin, _ = company
    auth.login(admin.email)
    page = client.get("/portal/contract/change")
    assert "Extended" in page.get_data(as_text=True)
    before = counts()
    confirm = post(client, auth, "/portal/contract/upgrade", {"package": "extended"})
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert counts() == before  # the preview saved nothing
    db.session.expire_all()
    assert contract.package.code == "standard"
    done = post(client, auth, "/portal/contract/upgrade/confirm", {"package": "extended"})
    assert done.status_code == 302
    db.session.expire_all()
    assert contract.package.code == "extended"
    period = today().strftime("%Y-%m")
    usage = usage_json(customer, period)
    assert f'data-figure="fee-after">{fee_text(usage["fee"])}<' in html
    [message] = [m for m in outbox if "am@vendor.test" in m.recipients]
    assert "Balon d.o.o." in message.subject and "Extended" in message.body
    # Twice (a double click): refused, nothing more.
    after = counts()
    again = post(client, auth, "/portal/contract/upgrade/confirm", {"package": "extended"})
    assert again.status_code == 400 and counts() == after


def fee_text(amount: str) -> str:
    """The fee as the portal writes money in Serbian (e.g. 1.234,56 €)."""
    from babel.numbers import format_currency

    return format_currency(amount, "EUR", locale="sr_Latn")


@pytest.mark.parametrize("code", ["standard", "basic"])
def test_an_upgrade_to_the_current_or_a_smaller_package_is_refused(client, auth, company, code):
    _, contract, admin, _ = company
    auth.login(admin.email)
    before = counts()
    for path in ("/portal/contract/upgrade", "/portal/contract/upgrade/confirm"):
        response = post(client, auth, path, {"package": code})
        assert response.status_code == 400
        text = response.get_data(as_text=True)
        assert ("već na" in text) or ("manji" in text), text[:2000]
    assert counts() == before
    db.session.expire_all()
    assert contract.package.code == "standard"


def test_a_second_downgrade_while_one_is_pending_is_refused(client, auth, company, outbox):
    _, contract, admin, _ = company
    auth.login(admin.email)
    first = post(client, auth, "/portal/contract/downgrade", {"package": "basic"})
    assert first.status_code == 302, first.get_data(as_text=True)[:500]
    db.session.expire_all()
    [planned] = [c for c in contract.changes if c.kind == "downgrade"]
    assert planned.effective_date.day == 1 and planned.effective_date > today()
    before = counts()
    second = post(client, auth, "/portal/contract/downgrade", {"package": "basic"})
    assert second.status_code == 400
    assert "već planirana" in second.get_data(as_text=True)
    assert counts() == before
    assert len([m for m in outbox if "am@vendor.test" in m.recipients]) == 1


def test_a_member_who_is_not_the_company_admin_cannot_change_anything(client, auth, company,
                                                                        outbox):
    _, contract, _, member = company
    auth.login(member.email)
    before = counts()
    for path, data in (("/portal/contract/upgrade/confirm", {"package": "extended"}),
                       ("/portal/contract/downgrade", {"package": "basic"}),
                       ("/portal/contract/addons/cloud_backup/add", {}),
                       ("/portal/contract/cancel-renewal", {})):
        response = post(client, auth, path, data)
        assert response.status_code == 403, path
        assert "administrator" in response.get_data(as_text=True) or "administrator" in \
            response.get_data(as_text=True).lower()
    assert counts() == before
    db.session.expire_all()
    assert contract.auto_renew and contract.package.code == "standard"
    assert outbox == []


def test_a_change_on_a_closed_month_is_refused(client, auth, company, app):
    _, contract, admin, _ = company
    period = today().strftime("%Y-%m")
    close_month(period, force=True)
    db.session.commit()
    assert db.session.scalar(select(ClosedMonth.id).where(ClosedMonth.period == period))
    auth.login(admin.email)
    before = counts()
    for path, data in (("/portal/contract/upgrade", {"package": "extended"}),
                       ("/portal/contract/upgrade/confirm", {"package": "extended"}),
                       ("/portal/contract/addons/cloud_backup/add", {})):
        response = post(client, auth, path, data)
        assert response.status_code == 400, path
        assert "zatvoren" in response.get_data(as_text=True)
    assert counts() == before
    db.session.expire_all()
    assert contract.package.code == "standard" and contract.addons == []


def test_addon_and_cancelled_renewal_show_in_the_history(client, auth, company, outbox):
    _customer, contract, admin, _ = company
    auth.login(admin.email)
    assert post(client, auth, "/portal/contract/addons/cloud_backup/add", {}).status_code == 302
    assert post(client, auth, "/portal/contract/cancel-renewal", {}).status_code == 302
    db.session.expire_all()
    assert not contract.auto_renew and contract.renewal_cancelled_at is not None
    assert [ca.addon.code for ca in contract.addons] == ["cloud_backup"]
    assert len([m for m in outbox if "am@vendor.test" in m.recipients]) == 2
    page = client.get("/portal/contract").get_data(as_text=True)
    history = page[page.index("Istorija ugovora"):]
    assert "Obnova otkazana" in history and "Dodata dodatna usluga" in history, history[:1500]
