"""Schemathesis against the whole API v1 description: no generated request gets a 5xx."""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpdesk.extensions import db
from helpdesk.models import ApiToken, Role
from helpdesk.tickets.services import create_ticket


@pytest.fixture
def api_schema(app, factory):
    admin = factory.user(Role.ADMIN, email="fuzz@vendor.test")
    jugo = factory.client("Jugodrvo")
    factory.contract(jugo, "standard", start=date(2025, 1, 1))
    create_ticket(subject="Printer", client_id=jugo.id, actor="t")
    token, plain = ApiToken.issue(admin, "fuzz")
    db.session.add(token)
    db.session.commit()
    app.config["API_RATE_LIMIT"] = 10**6
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.headers = {"Authorization": f"Bearer {plain}"}
    return schema


def test_no_server_errors(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 17
    seen = set()

    @given(data=st.data())
    @settings(max_examples=15, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(data):
        for operation in operations:
            case = data.draw(operation.as_strategy(), label=operation.label)
            response = case.call()
            seen.add((operation.label, response.status_code))
            assert response.status_code < 500, (
                case.method, case.formatted_path, case.query, case.body, response.text[:500])
            db.session.rollback()

    run()
    assert {label for label, _ in seen} == {op.label for op in operations}
