"""API v1 tickets, and an OpenAPI description that matches what the API really does."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.models import ApiToken, Article, Role, Ticket
from helpdesk.tickets.services import add_article, create_ticket, set_status
from helpdesk.web.agent import sending

# -- a small validator for the JSON Schema subset the description uses ----------------------------

PY_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def resolve(schema: dict, spec: dict) -> dict:
    while "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix), schema["$ref"]
        schema = spec["components"]["schemas"][schema["$ref"][len(prefix):]]
    return schema


def check(instance, schema: dict, spec: dict, where: str = "$") -> None:
    """Fail with the JSON path when ``instance`` does not fit ``schema`` (objects are closed)."""
    schema = resolve(schema, spec)
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        assert any(PY_TYPES[t](instance) for t in types), f"{where}: {instance!r} is not {types}"
    if "enum" in schema:
        assert instance in schema["enum"], f"{where}: {instance!r} not in {schema['enum']}"
    if schema.get("format") == "date-time" and isinstance(instance, str):
        assert datetime.fromisoformat(instance).tzinfo is not None, f"{where}: naive time"
    if isinstance(instance, dict) and "properties" in schema:
        props = schema["properties"]
        for name in schema.get("required", []):
            assert name in instance, f"{where}: missing {name}"
        extra = set(instance) - set(props)
        assert not extra, f"{where}: undocumented {sorted(extra)}"
        for name, value in instance.items():
            check(value, props[name], spec, f"{where}.{name}")
    if isinstance(instance, dict) and isinstance(schema.get("additionalProperties"), dict):
        for name, value in instance.items():
            check(value, schema["additionalProperties"], spec, f"{where}.{name}")
    if isinstance(instance, list) and "items" in schema:
        for i, value in enumerate(instance):
            check(value, schema["items"], spec, f"{where}[{i}]")


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def spec(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


class Api:
    """Calls the API with a user's token and checks every answer against the description."""

    def __init__(self, client, spec, user):
        token, self.plain = ApiToken.issue(user, "test")
        db.session.add(token)
        db.session.commit()
        self.client, self.spec, self.user = client, spec, user

    def _operation(self, method: str, url: str) -> dict:
        path = url.split("?", 1)[0].removeprefix("/api/v1")
        for template, item in self.spec["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
            if re.match(pattern, path) and method.lower() in item:
                return item[method.lower()]
        raise AssertionError(f"{method} {path} is not described")

    def call(self, method: str, url: str, json=None, expect: int = 200):
        r = self.client.open(url, method=method, json=json,
                             headers={"Authorization": f"Bearer {self.plain}"})
        assert r.status_code == expect, (r.status_code, r.get_json())
        operation = self._operation(method, url)
        assert str(r.status_code) in operation["responses"], f"{r.status_code} not described"
        described = operation["responses"][str(r.status_code)]
        schema = described["content"][r.mimetype]["schema"]
        check(r.get_json(), schema, self.spec)
        return r


@pytest.fixture
def data(factory):
    jugo = factory.client("Jugodrvo")
    factory.contract(jugo, "standard", start=date(2025, 1, 1))
    other = factory.client("Other Co")
    agent = factory.user(Role.AGENT)
    portal = factory.user(Role.CLIENT, client=jugo, email="dragan@jugodrvo.example")
    t1 = create_ticket(subject="Printer jam", client_id=jugo.id, requester_email=portal.email,
                       created_at=datetime(2026, 11, 17, 8, tzinfo=UTC), actor="t")
    add_article(t1, direction="in", body_text="Paper stuck", from_addr=portal.email)
    add_article(t1, direction="out", internal=True, body_text="Secret note")
    t2 = create_ticket(subject="Invoices", client_id=jugo.id, assignee_id=agent.id, actor="t")
    t3 = create_ticket(subject="Other company's printer", client_id=other.id, actor="t")
    set_status(t3, "closed")
    db.session.commit()
    return {"jugo": jugo, "other": other, "agent": agent, "portal": portal,
            "t1": t1, "t2": t2, "t3": t3}


# -- the description ------------------------------------------------------------------------------


def test_every_api_route_is_described_and_nothing_else(app, spec):
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    described = {(path, method) for path, item in spec["paths"].items()
                 for method in item if method in {"get", "post", "put", "patch", "delete"}}
    assert served == described


def test_the_description_is_well_formed(spec):
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] and spec["info"]["version"]
    operation_ids = []
    for path, item in spec["paths"].items():
        declared = set(re.findall(r"\{([^}]+)\}", path))
        for method, op in item.items():
            operation_ids.append(op["operationId"])
            assert op["responses"], (path, method)
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == declared, (path, method)
            for p in op.get("parameters", []):
                assert p["in"] in ("path", "query", "header") and "schema" in p
            for response in op["responses"].values():
                assert response["description"]
                for media in response.get("content", {}).values():
                    resolve(media["schema"], spec)
            if "requestBody" in op:
                resolve(op["requestBody"]["content"]["application/json"]["schema"], spec)
    assert len(operation_ids) == len(set(operation_ids))
    for name, schema in spec["components"]["schemas"].items():
        for prop in schema.get("properties", {}).values():
            resolve(prop, spec)
        assert set(schema.get("required", [])) <= set(schema.get("properties", {})), name


def test_openapi_document_is_valid_openapi(spec):
    from openapi_spec_validator import validate

    validate(spec)


# -- auth -----------------------------------------------------------------------------------------


def test_a_token_is_needed(client, spec, data):
    for url in ("/api/v1/tickets", f"/api/v1/tickets/{data['t1'].number}", "/api/v1/me"):
        r = client.get(url)
        assert r.status_code == 401
        check(r.get_json(), {"$ref": "#/components/schemas/Error"}, spec)
    r = client.get("/api/v1/tickets", headers={"Authorization": "Bearer hd_wrong"})
    assert r.status_code == 401
    api = Api(client, spec, data["agent"])
    db.session.scalar(select(ApiToken).where(ApiToken.user_id == data["agent"].id)).revoked = True
    db.session.commit()
    api.call("GET", "/api/v1/tickets", expect=401)


def test_me(client, spec, data):
    body = Api(client, spec, data["portal"]).call("GET", "/api/v1/me").get_json()
    assert body == {"id": data["portal"].id, "email": data["portal"].email, "role": "client",
                    "client_id": data["jugo"].id}


# -- listing --------------------------------------------------------------------------------------


def numbers(r) -> list[int]:
    return [item["number"] for item in r.get_json()["items"]]


def test_list_filters_and_pages(client, spec, data):
    api = Api(client, spec, data["agent"])
    t1, t2, t3 = data["t1"], data["t2"], data["t3"]
    assert numbers(api.call("GET", "/api/v1/tickets")) == [t3.number, t2.number, t1.number]
    assert numbers(api.call("GET", "/api/v1/tickets?status=closed")) == [t3.number]
    assert numbers(api.call("GET", f"/api/v1/tickets?client_id={data['jugo'].id}")) == [
        t2.number, t1.number]
    assert numbers(api.call("GET", f"/api/v1/tickets?assignee_id={data['agent'].id}")) == [
        t2.number]
    assert numbers(api.call("GET", "/api/v1/tickets?q=printer")) == [t3.number, t1.number]
    assert numbers(api.call("GET", "/api/v1/tickets?q=paper")) == [t1.number]
    # Open statuses read in queue order: both reserved, t1 is due first (opened earlier).
    queue = api.call("GET", "/api/v1/tickets?status=new,open,pending").get_json()
    assert [i["number"] for i in queue["items"]] == [t1.number, t2.number]
    first = api.call("GET", "/api/v1/tickets?limit=2").get_json()
    assert first["count"] == 3 and not first["count_capped"] and first["next_cursor"]
    rest = api.call("GET", f"/api/v1/tickets?limit=2&cursor={first['next_cursor']}").get_json()
    assert [i["number"] for i in first["items"] + rest["items"]] == [
        t3.number, t2.number, t1.number]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("query", ["status=bogus", "limit=0", "limit=x", "cursor=abc",
                                   "order=sideways", "client_id=-1"])
def test_bad_list_parameters_are_422(client, spec, data, query):
    r = Api(client, spec, data["agent"]).call("GET", f"/api/v1/tickets?{query}", expect=422)
    assert r.get_json()["fields"]


def test_client_users_see_their_company_without_internal_notes(client, spec, data):
    api = Api(client, spec, data["portal"])
    assert numbers(api.call("GET", "/api/v1/tickets")) == [data["t2"].number, data["t1"].number]
    api.call("GET", f"/api/v1/tickets/{data['t3'].number}", expect=404)
    detail = api.call("GET", f"/api/v1/tickets/{data['t1'].number}").get_json()
    assert [a["body_text"] for a in detail["articles"]] == ["Paper stuck"]
    staff = Api(client, spec, data["agent"]).call(
        "GET", f"/api/v1/tickets/{data['t1'].number}").get_json()
    assert [a["body_text"] for a in staff["articles"]] == ["Paper stuck", "Secret note"]
    assert [c["target"] for c in staff["sla"]] == ["first_response", "resolution"]
    assert staff["sla"][0]["due"] == "2026-11-17T12:00:00+00:00"  # 09:00 Belgrade + 4 h


# -- changing tickets -----------------------------------------------------------------------------


def test_staff_create_a_ticket_with_sla(client, spec, data):
    api = Api(client, spec, data["agent"])
    r = api.call("POST", "/api/v1/tickets", json={
        "subject": "Phone: cannot log in", "body": "Called at 10", "client_id": data["jugo"].id,
        "priority": "high"}, expect=201)
    body = r.get_json()
    assert r.headers["Location"].endswith(f"/api/v1/tickets/{body['number']}")
    assert body["channel"] == "phone" and body["priority"] == "high" and body["reserved"]
    assert body["first_response_due"] and [a["direction"] for a in body["articles"]] == ["in"]
    r = api.call("POST", "/api/v1/tickets", json={"subject": "", "body": "x",
                                                 "client_id": 999999}, expect=422)
    assert set(r.get_json()["fields"]) == {"subject"}
    r = api.call("POST", "/api/v1/tickets", json={"subject": "s", "body": "x",
                                                 "client_id": 999999}, expect=422)
    assert set(r.get_json()["fields"]) == {"client_id"}
    api.call("POST", "/api/v1/tickets", json=["not", "an", "object"], expect=422)


def test_client_users_open_tickets_for_their_own_company(client, spec, data):
    api = Api(client, spec, data["portal"])
    body = api.call("POST", "/api/v1/tickets", json={"subject": "From the API", "body": "Help"},
                    expect=201).get_json()
    t = db.session.scalar(select(Ticket).where(Ticket.number == body["number"]))
    assert t.client_id == data["jugo"].id and t.opened_by_id == data["portal"].id
    assert body["channel"] == "portal"
    r = api.call("POST", "/api/v1/tickets", json={"subject": "x", "body": "y",
                                                 "client_id": data["other"].id}, expect=422)
    assert "client_id" in r.get_json()["fields"]


def test_replies_notes_and_client_messages(client, spec, data, monkeypatch):
    sent = []
    monkeypatch.setattr(sending, "outgoing_sender", lambda: sent.append)
    t1 = data["t1"]
    staff = Api(client, spec, data["agent"])
    note = staff.call("POST", f"/api/v1/tickets/{t1.number}/articles",
                      json={"body": "Check the tray", "internal": True}, expect=201).get_json()
    assert note["internal"] and sent == []
    reply = staff.call("POST", f"/api/v1/tickets/{t1.number}/articles",
                       json={"body": "Open the back panel"}, expect=201).get_json()
    assert reply["to"] == data["portal"].email and reply["direction"] == "out"
    assert [a.id for a in sent] == [reply["id"]]
    db.session.expire_all()
    assert db.session.get(Ticket, t1.id).first_response_at is not None
    staff.call("POST", f"/api/v1/tickets/{t1.number}/status", json={"status": "pending"})
    portal = Api(client, spec, data["portal"])
    message = portal.call("POST", f"/api/v1/tickets/{t1.number}/articles",
                          json={"body": "Done, still stuck"}, expect=201).get_json()
    assert message["direction"] == "in" and message["channel"] == "portal"
    db.session.expire_all()
    assert db.session.get(Ticket, t1.id).status == "open"  # the client's reply resumes it
    portal.call("POST", f"/api/v1/tickets/{t1.number}/articles",
                json={"body": "x", "internal": True}, expect=422)
    portal.call("POST", f"/api/v1/tickets/{data['t3'].number}/articles", json={"body": "x"},
                expect=404)
    staff.call("POST", f"/api/v1/tickets/{t1.number}/articles", json={}, expect=422)
    assert db.session.scalar(select(db.func.count()).select_from(Article).where(
        Article.ticket_id == t1.id)) == 5


def test_status_changes_are_for_staff(client, spec, data):
    t2 = data["t2"]
    Api(client, spec, data["portal"]).call("POST", f"/api/v1/tickets/{t2.number}/status",
                                           json={"status": "closed"}, expect=403)
    staff = Api(client, spec, data["agent"])
    staff.call("POST", f"/api/v1/tickets/{t2.number}/status", json={"status": "gone"},
               expect=422)
    body = staff.call("POST", f"/api/v1/tickets/{t2.number}/status",
                      json={"status": "resolved"}).get_json()
    assert body["status"] == "resolved" and body["resolved_at"]
    staff.call("POST", "/api/v1/tickets/999999/status", json={"status": "open"}, expect=404)
