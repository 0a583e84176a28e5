"""The API fuzzed against its OpenAPI document (schemathesis): with an admin's and a client
user's token, a bounded number of generated requests per operation; any 5xx, or an answer that
does not match the document (status, content type, body), fails the suite."""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from helpdesk.extensions import db
from helpdesk.models import ApiToken, PortalRole, Role
from helpdesk.tickets.services import add_article, create_ticket

# Every answer's status, type and body must be the documented ones, and no 5xx.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: Generated requests per operation and token (keeps the whole module well under a minute).
EXAMPLES = 12


@pytest.fixture
def api_schema(app, factory):
    app.config["API_RATE_LIMIT"] = 10**6  # the per-token limit is tested on its own
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def tokens(app, factory):
    customer = factory.client("Fuzz d.o.o.")
    factory.contract(customer, "standard", start=date(2025, 1, 1))
    admin = factory.user(Role.ADMIN, email="fuzz-admin@vendor.test")
    member = factory.user(Role.CLIENT, client=customer, portal_role=PortalRole.ADMIN,
                          email="fuzz@client.test")
    for i in range(3):
        ticket = create_ticket(subject=f"Fuzz ticket {i}", client_id=customer.id, actor="test")
        add_article(ticket, direction="in", body_text="hello")
    plain = {}
    for name, user in (("admin", admin), ("client", member)):
        token, plain[name] = ApiToken.issue(user, "fuzz")
        db.session.add(token)
    db.session.commit()
    return plain


@pytest.fixture
def statuses(app) -> list[int]:
    """The status of every response the app gave (registered before its first request)."""
    seen: list[int] = []

    @app.after_request
    def _seen(response):
        seen.append(response.status_code)
        return response

    return seen


def test_api_answers_every_generated_request_as_documented(statuses, api_schema, tokens):
    """Every operation of the document, EXAMPLES generated requests each, for both tokens."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            for who in ("admin", "client"):
                case.call_and_validate(headers={"Authorization": f"Bearer {tokens[who]}"},
                                       checks=CHECKS)
                db.session.rollback()

        fuzz()
    # The requests did reach the app, and not only as refusals.
    assert len(statuses) >= len(operations) * 2 and any(code < 300 for code in statuses)


def _body_schema(document: dict, operation: dict) -> dict:
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_an_empty_object_is_taken_exactly_where_the_document_allows_it(client, factory):
    """A body whose schema requires nothing (no `required`, no `anyOf`) may be `{}` and is then
    answered 2xx; where the schema requires a field, `{}` is a 400/422, never a 2xx or 5xx."""
    customer = factory.client("Leer d.o.o.")
    contract = factory.contract(customer, "standard", start=date(2025, 1, 1))
    contact = factory.contact(customer, email="kontakt@leer.test")
    agent = factory.user(Role.AGENT, email="agent-leer@vendor.test")
    admin = factory.user(Role.ADMIN, email="admin-leer@vendor.test")
    ticket = create_ticket(subject="Leer", client_id=customer.id, actor="test")
    row, plain = ApiToken.issue(admin, "empty")
    db.session.add(row)
    db.session.commit()
    auth = {"Authorization": f"Bearer {plain}"}
    entry = client.post("/api/v1/time-entries", headers=auth, json={
        "client_id": customer.id, "kind": "remote", "started_at": "2026-11-03T09:00:00+01:00",
        "minutes": 30}).get_json()
    ids = {"client_id": customer.id, "contract_id": contract.id, "package_id": contract.package_id,
           "contact_id": contact.id, "user_id": agent.id, "number": ticket.number,
           "entry_id": entry["id"], "addon_id": factory.addon("cloud_backup").id}
    document = client.get("/api/v1/openapi.json").get_json()
    seen = {"empty allowed": [], "refused": []}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            schema = _body_schema(document, operation)
            allows_empty = not schema.get("required") and not schema.get("anyOf")
            r = client.open("/api/v1" + path.format(**ids), method=method.upper(), headers=auth,
                            json={})
            label = f"{method.upper()} {path}: {r.status_code} {r.get_data(as_text=True)[:200]}"
            if allows_empty:
                assert 200 <= r.status_code < 300, label
                seen["empty allowed"].append(path)
            else:
                assert r.status_code in (400, 422), label
                seen["refused"].append(path)
            db.session.rollback()
    assert "/time-entries/{entry_id}" in seen["empty allowed"]
    assert "/clients/{client_id}/contacts" in seen["refused"]
