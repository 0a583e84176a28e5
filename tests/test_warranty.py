"""Warranty defects: marked and unmarked (with a reason) from the ticket page by staff, only while
the client's product is under warranty; a client user cannot do it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import AuditLog, PortalRole, Role, utcnow
from helpdesk.tickets.services import create_ticket


def _ticket(factory, warranty_until):
    client = factory.client(warranty_until=warranty_until)
    ticket = create_ticket(subject="Screen flickers", client_id=client.id)
    db.session.commit()
    return client, ticket


def post(client, auth, ticket, data):
    token = auth.csrf(f"/console/tickets/{ticket.number}")
    return client.post(f"/console/tickets/{ticket.number}/warranty",
                       data={**data, "csrf_token": token}, follow_redirects=True)


def test_agent_marks_and_unmarks_with_a_reason(client, auth, factory):
    agent = factory.user(Role.AGENT, language="en")
    _, ticket = _ticket(factory, date.today() + timedelta(days=100))
    auth.login(agent.email)
    page = client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert "Mark as warranty defect" in page
    post(client, auth, ticket, {"defect": "1"})
    db.session.expire_all()
    assert ticket.warranty_defect
    # Unmarking without a reason is refused and changes nothing.
    refused = post(client, auth, ticket, {"defect": "0", "reason": "  "})
    assert "Say why it is not a warranty defect." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert ticket.warranty_defect
    post(client, auth, ticket, {"defect": "0", "reason": "User dropped the laptop"})
    db.session.expire_all()
    assert not ticket.warranty_defect
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "warranty_unmark")).one()
    assert "dropped" in str(audit.after)


def test_no_marking_after_the_warranty_ended(client, auth, factory):
    agent = factory.user(Role.AGENT, language="en")
    _, ticket = _ticket(factory, utcnow().date() - timedelta(days=2))
    auth.login(agent.email)
    page = client.get(f"/console/tickets/{ticket.number}").get_data(as_text=True)
    assert "Mark as warranty defect" not in page
    refused = post(client, auth, ticket, {"defect": "1"})  # forged: posted directly
    assert "not under warranty" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert not ticket.warranty_defect


def test_a_client_user_cannot_mark_a_warranty_defect(client, auth, factory):
    customer, ticket = _ticket(factory, date.today() + timedelta(days=100))
    admin = factory.user(Role.CLIENT, client=customer, portal_role=PortalRole.ADMIN)
    db.session.commit()
    auth.login(admin.email)
    token = auth.csrf("/portal/")
    response = client.post(f"/console/tickets/{ticket.number}/warranty",
                           data={"defect": "1", "csrf_token": token})
    assert response.status_code in (403, 404)
    db.session.expire_all()
    assert not ticket.warranty_defect


def test_the_account_manager_chooses_the_package_after_a_trial_on_the_client_page(
        client, auth, factory):
    manager = factory.user(Role.ACCOUNT_MANAGER, language="en")
    agent = factory.user(Role.AGENT, language="en")
    customer = factory.client(manager=manager)
    trial = factory.contract(customer, "standard", status="trial",
                             start=utcnow().date() - timedelta(days=2))
    db.session.commit()
    url = f"/console/clients/{customer.id}"
    auth.login(agent.email)
    assert "Package after the trial" not in client.get(url).get_data(as_text=True)
    forged = client.post(f"{url}/contract/trial-choice",
                         data={"package": "basic", "csrf_token": auth.csrf(url)})
    assert forged.status_code == 403
    auth.logout()
    auth.login(manager.email)
    assert "Package after the trial" in client.get(url).get_data(as_text=True)
    client.post(f"{url}/contract/trial-choice",
                data={"package": "extended", "csrf_token": auth.csrf(url)})
    db.session.expire_all()
    assert trial.next_package.code == "extended"
