"""The agent's day through the API: described, staff only, the same refusals as the console."""

from __future__ import annotations

from helpdesk.extensions import db
from helpdesk.models import ClientDomain, Ticket
from helpdesk.tickets.services import create_ticket
from tests.test_api import Api, data, spec  # noqa: F401 - fixtures


def test_staff_link_a_triage_ticket_and_manage_followers(client, spec, data):  # noqa: F811
    db.session.add(ClientDomain(client_id=data["jugo"].id, domain="jugodrvo.example"))
    db.session.add(ClientDomain(client_id=data["other"].id, domain="other.example"))
    triage = create_ticket(subject="?", client_id=None, requester_email="neko@mail.example",
                           actor="t")
    db.session.commit()
    api = Api(client, spec, data["agent"])
    linked = api.call("POST", f"/api/v1/tickets/{triage.number}/link",
                      json={"client_id": data["jugo"].id}).get_json()
    assert linked["client_id"] == data["jugo"].id and linked["contact_id"]
    assert not db.session.get(Ticket, triage.id).needs_triage
    url = f"/api/v1/tickets/{data['t1'].number}/followers"
    refused = api.call("POST", url, json={"email": "x@other.example"}, expect=400).get_json()
    assert "Other Co" in refused["message"]
    added = api.call("POST", url, json={"email": "mila@jugodrvo.example"}).get_json()
    (follower,) = added["followers"]
    assert api.call("DELETE", f"{url}/{follower['id']}").get_json()["followers"] == []
    assert api.call("PUT", "/api/v1/me/away", json={"away": True}).get_json()["away"] is True


def test_client_users_cannot_touch_followers_or_link(client, spec, data):  # noqa: F811
    api = Api(client, spec, data["portal"])
    api.call("POST", f"/api/v1/tickets/{data['t1'].number}/followers",
             json={"email": "a@jugodrvo.example"}, expect=404)
    api.call("POST", f"/api/v1/tickets/{data['t1'].number}/link",
             json={"client_id": data["other"].id}, expect=404)
