"""The administration API: the same rules as the pages, every answer checked against the
OpenAPI description, and the rights as attacks."""

from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.models import Client, Contact, Contract, Role
from tests.test_api import Api, spec  # noqa: F401


def test_admin_onboards_a_client_over_the_api(client, spec, factory):  # noqa: F811
    admin = Api(client, spec, factory.user(Role.ADMIN))
    am = admin.call("POST", "/api/v1/staff", json={
        "email": "milan@vendor.example", "role": "account_manager", "name": "Milan",
        "extension": "205"}, expect=201).get_json()
    acme = admin.call("POST", "/api/v1/clients", json={
        "name": "Acme d.o.o.", "domains": ["acme.example"], "language": "en",
        "account_manager_id": am["id"]}, expect=201).get_json()
    assert acme["domains"] == ["acme.example"] and acme["account_manager_id"] == am["id"]
    clash = admin.call("POST", "/api/v1/clients", json={
        "name": "Other", "domains": ["acme.example"]}, expect=422).get_json()
    assert "Acme d.o.o." in clash["fields"]["domains"]
    contact = admin.call("POST", f"/api/v1/clients/{acme['id']}/contacts", json={
        "name": "Jana", "emails": ["jana@acme.example"], "phones": ["+381 11 222 3344"]},
        expect=201).get_json()
    assert contact["emails"] == ["jana@acme.example"]
    contract = admin.call("POST", f"/api/v1/clients/{acme['id']}/contracts", json={
        "package": "basic", "start": "2026-01-01", "term_months": 12}, expect=201).get_json()
    assert contract["end_date"] == "2026-12-31"
    admin.call("POST", f"/api/v1/clients/{acme['id']}/contracts", json={
        "package": "standard", "start": "2026-06-01"}, expect=422)
    changed = admin.call("POST", f"/api/v1/contracts/{contract['id']}/package", json={
        "package": "standard", "on": "2026-03-10"}).get_json()
    assert [c["package"] for c in changed["changes"]] == ["basic", "standard"]
    packages = admin.call("GET", "/api/v1/packages").get_json()["items"]
    assert [p["code"] for p in packages] == ["basic", "standard", "extended"]
    bad = admin.call("POST", f"/api/v1/packages/{packages[1]['id']}/prices", json={
        "effective_from": "2030-01-01", "included_minutes": 300, "monthly_fee": "-1",
        "overage_rate": "40", "visits_per_year": 1}, expect=422).get_json()
    assert bad["fields"] == {"monthly_fee": "A price cannot be negative."}
    admin.call("GET", "/api/v1/staff")
    admin.call("PATCH", f"/api/v1/staff/{am['id']}", json={"active": False})
    assert db.session.scalar(select(func.count(Contact.id))) == 1


def test_account_manager_token_reaches_only_own_clients(client, spec, factory):  # noqa: F811
    mine_am = factory.user(Role.ACCOUNT_MANAGER)
    other_am = factory.user(Role.ACCOUNT_MANAGER)
    mine = factory.client("Mine", manager=mine_am)
    theirs = factory.client("Theirs", manager=other_am)
    their_contract = factory.contract(theirs, "standard")
    their_contact = factory.contact(theirs, email="boss@theirs.example", name="Boss")
    db.session.commit()
    api = Api(client, spec, mine_am)
    listed = api.call("GET", "/api/v1/clients").get_json()["items"]
    assert [c["id"] for c in listed] == [mine.id]
    api.call("GET", f"/api/v1/clients/{theirs.id}", expect=404)
    api.call("POST", f"/api/v1/clients/{theirs.id}/contacts",
             json={"emails": ["x@evil.example"]}, expect=404)
    api.call("PATCH", f"/api/v1/contacts/{their_contact.id}", json={"name": "Hacked"},
             expect=404)
    api.call("POST", f"/api/v1/contracts/{their_contract.id}/end", json={"end": "2026-12-31"},
             expect=404)
    api.call("PATCH", f"/api/v1/clients/{mine.id}", json={"name": "Renamed"}, expect=403)
    api.call("POST", "/api/v1/staff", json={"email": "x@vendor.example", "role": "admin"},
             expect=403)
    api.call("POST", f"/api/v1/clients/{mine.id}/contacts",
             json={"emails": ["ok@mine.example"]}, expect=201)
    db.session.expire_all()
    assert db.session.get(Contact, their_contact.id).name == "Boss"
    assert db.session.get(Contract, their_contract.id).end_date is None
    assert db.session.get(Client, mine.id).name == "Mine"


def test_agent_and_client_tokens_are_refused(client, spec, factory):  # noqa: F811
    acme = factory.client("Acme d.o.o.")
    for user in (factory.user(Role.AGENT), factory.user(Role.CLIENT, client=acme)):
        api = Api(client, spec, user)
        api.call("GET", "/api/v1/clients", expect=403)
        api.call("POST", "/api/v1/clients", json={"name": "X"}, expect=403)
        api.call("GET", f"/api/v1/clients/{acme.id}/contacts", expect=403)
    assert db.session.scalar(select(func.count(Client.id))) == 1
