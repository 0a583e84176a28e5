"""JSON API v1: bearer tokens, JSON errors, no CSRF (no cookies are used)."""

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ...auth.tokens import user_from_bearer
from ...extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)


@bp.before_request
def _authenticate():
    g.api_user = user_from_bearer(request)
    if g.api_user is None:
        return jsonify(error="unauthorized", message="Send 'Authorization: Bearer <token>'."), 401


@bp.errorhandler(HTTPException)
def _json_error(exc: HTTPException):
    return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code


from . import routes  # noqa: E402,F401
