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
