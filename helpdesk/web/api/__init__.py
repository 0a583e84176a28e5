"""JSON API v1: bearer tokens, JSON errors, no CSRF (no cookies are used).

Every route needs a token except the OpenAPI description, which says how to get one.
"""

from flask import Blueprint, g, request
from werkzeug.exceptions import HTTPException

from ...auth.tokens import user_from_bearer
from ...extensions import csrf
from ...hardening.errors import problem

bp = Blueprint("api", __name__)
csrf.exempt(bp)

#: Endpoints anyone may call.
PUBLIC_ENDPOINTS = frozenset({"api.openapi_json"})


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    g.api_user = user_from_bearer(request)
    if g.api_user is None:
        return problem(401, "Unauthorized", "Send 'Authorization: Bearer <token>'.")
    return None


@bp.errorhandler(HTTPException)
def _json_error(exc: HTTPException):
    return problem(exc.code or 500, exc.name, exc.description)


from . import (  # noqa: F401 - the API's route modules register on bp
    admin_objects,
    agent_day,
    common,
    contract_history,
    exports,
    imports,
    integrations,
    mailboxes,
    openapi,
    routes,
    time_entries,
    usage,
    webhooks,
)
