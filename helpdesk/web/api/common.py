"""What every API v1 endpoint shares: token scopes, per-client tokens, rate limits, ETags,
cursor pagination and ``updated_since`` filtering.

* Scopes: ``read`` for GET, ``write`` for everything else (403 ``insufficient_scope``).
* A token tied to a client (``ApiToken.client_id``) sees only that client: any other client's
  id, in the path, the query or the body, is answered 404 as if it did not exist.
* Rate limit: ``API_RATE_LIMIT`` requests per token per ``API_RATE_WINDOW_SECONDS`` (backend
  ``API_RATE_BACKEND``: ``db``, shared by all processes, or ``memory``, per process); every answer
  has ``X-RateLimit-Limit/-Remaining/-Reset``; over the limit: 429 with ``Retry-After``.
* ETags: every 200 GET answer has a strong ETag of its body; ``If-None-Match`` with it → 304.
* Lists: ``limit`` (1-200, default 50), ``cursor`` (the ``next_cursor`` of the previous page)
  and ``updated_since`` (ISO 8601), newest change last, so a poller never misses a row.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, g, jsonify, request
from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute

from ...accounting.ledger import insert_ignoring_conflict
from ...extensions import db
from ...integrations.models import ApiRateCounter
from ...models import Ticket
from . import bp
from .routes import Invalid

_memory_counts: dict[tuple[int, int], int] = {}
_memory_lock = threading.Lock()


def token():
    return g.get("api_token")


def scoped_client_id() -> int | None:
    """The client a client-scoped token is tied to (None: not tied)."""
    t = token()
    if t is not None and t.client_id is not None:
        return t.client_id
    user = g.get("api_user")
    return user.client_id if user is not None and user.is_client_user else None


def allowed_client(client_id: int | None) -> bool:
    scope = scoped_client_id()
    return scope is None or client_id == scope


def require_client(client_id: int | None) -> None:
    """404 for a client the token may not see."""
    if not allowed_client(client_id):
        abort(404)


def _count(token_id: int, window: int) -> int:
    if current_app.config["API_RATE_BACKEND"] == "memory":
        with _memory_lock:
            key = (token_id, window)
            _memory_counts[key] = _memory_counts.get(key, 0) + 1
            for old in [k for k in _memory_counts if k[1] < window]:
                del _memory_counts[old]
            return _memory_counts[key]
    insert_ignoring_conflict(ApiRateCounter, {"token_id": token_id, "window": window, "count": 0},
                             ["token_id", "window"])
    db.session.execute(update(ApiRateCounter).where(
        ApiRateCounter.token_id == token_id, ApiRateCounter.window == window
    ).values(count=ApiRateCounter.count + 1))
    count = db.session.scalar(select(ApiRateCounter.count).where(
        ApiRateCounter.token_id == token_id, ApiRateCounter.window == window))
    db.session.commit()  # counted even when the request fails later
    return int(count or 0)


#: Ids beyond this are no row's (and overflow 32-bit INTEGER columns on PostgreSQL).
MAX_ID = 2**31 - 1


def _too_big(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_ID
    if isinstance(value, dict):
        return any(_too_big(v) for v in value.values())
    if isinstance(value, list):
        return any(_too_big(v) for v in value)
    return False


@bp.before_request
def _scopes_and_limits():
    if any(_too_big(v) for v in (request.view_args or {}).values()):
        abort(404)
    for name, value in request.args.items():
        digits = value[1:] if value.startswith(("-", "+")) else value
        if (digits.isascii() and digits.isdigit()) and int(digits) > MAX_ID:
            raise Invalid({name: "Out of range."})
    if request.is_json and _too_big(request.get_json(silent=True)):
        raise Invalid({"body": "A number is out of range."})
    t = token()
    if t is None:
        return None
    cfg = current_app.config
    size = max(1, int(cfg["API_RATE_WINDOW_SECONDS"]))
    now = int(time.time())
    window = now - now % size
    used = _count(t.id, window)
    limit = int(cfg["API_RATE_LIMIT"])
    g.rate = (limit, max(0, limit - used), window + size)
    if used > limit:
        response = jsonify(error="rate_limited",
                           message=f"More than {limit} requests in {size} s; slow down.")
        response.status_code = 429
        response.headers["Retry-After"] = str(window + size - now)
        return response
    needed = "read" if request.method in ("GET", "HEAD") else "write"
    if not t.has_scope(needed):
        return jsonify(error="insufficient_scope",
                       message=f"This token lacks the {needed!r} scope."), 403
    if t.client_id is not None:
        _check_client_scope()
    return None


def _check_client_scope() -> None:
    """Other clients' ids anywhere in the request are 404 for a client-scoped token."""
    args = request.view_args or {}
    if "client_id" in args:
        require_client(args["client_id"])
    if "number" in args:
        client_id = db.session.scalar(select(Ticket.client_id).where(
            Ticket.number == args["number"]))
        require_client(client_id)
    value = request.args.get("client_id")
    if value and (value.isascii() and value.isdigit()):
        require_client(int(value))
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("client_id"), int):
            require_client(body["client_id"])


@bp.after_request
def _headers(response):
    rate = g.get("rate")
    if rate is not None:
        limit, remaining, reset = rate
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(remaining)
        response.headers["X-RateLimit-Reset"] = str(reset)
    if (request.method == "GET" and response.status_code == 200
            and not response.direct_passthrough):
        response.add_etag()
        response.headers.setdefault("Cache-Control", "private, no-cache")
        response.make_conditional(request)
    return response


# -- lists ------------------------------------------------------------------------------------


def page_limit() -> int:
    value = request.args.get("limit", "")
    if not value:
        return 50
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 200:
        raise Invalid({"limit": "Between 1 and 200."})
    return int(value)


def updated_since() -> datetime | None:
    value = request.args.get("updated_since")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid({"updated_since": "An ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z."}) \
            from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decode_cursor(value: str) -> tuple[Any, int]:
    try:
        tag, key, row_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return (datetime.fromisoformat(key) if tag == "d" else key), int(row_id)
    except (ValueError, TypeError, IndexError, KeyError):
        raise Invalid({"cursor": "Not a cursor this list handed out."}) from None


def _encode_cursor(key: Any, row_id: int) -> str:
    raw = ["d", key.isoformat(), row_id] if isinstance(key, datetime) else ["v", key, row_id]
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


def paginate(stmt: Select, model: Any, order: InstrumentedAttribute,
             since: InstrumentedAttribute | None = None) -> tuple[list[Any], str | None]:
    """A keyset page of ``stmt`` ordered by ``order`` then id (oldest first)."""
    limit = page_limit()
    if since is not None and (moment := updated_since()) is not None:
        stmt = stmt.where(since >= moment)
    cursor = request.args.get("cursor")
    if cursor:
        key, last_id = _decode_cursor(cursor)
        stmt = stmt.where(or_(order > key, and_(order == key, model.id > last_id)))
    rows = list(db.session.scalars(stmt.order_by(order, model.id).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode_cursor(getattr(last, order.key), last.id)
    return rows, next_cursor


# -- shared pieces of the description ---------------------------------------------------------

LIST_PARAMETERS = [
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "`next_cursor` of the previous page."},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
     "description": "Page size."},
    {"name": "updated_since", "in": "query", "required": False,
     "schema": {"type": "string", "format": "date-time"},
     "description": "Only rows changed at or after this time (ISO 8601)."},
]


def err(description: str) -> dict:
    """An error answer: a problem document (helpdesk/hardening/errors.py)."""
    return {"description": description, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def ok(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def body(schema: str) -> dict:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


COMMON_RESPONSES = {
    "400": err("A malformed query or body (the detail says which)."),
    "422": err("A value out of range or of the wrong kind (the detail says which)."),
    "401": err("No or a bad bearer token."),
    "403": err("The token lacks the scope, or the user the role."),
    "429": err("Rate limit reached; see Retry-After."),
}
GET_RESPONSES = {**COMMON_RESPONSES, "304": {"description": "Not modified (If-None-Match)."}}


def list_schema(item: str) -> dict:
    return {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
        "next_cursor": {"type": ["string", "null"],
                        "description": "Pass as `cursor` for the next page; null on the last."},
    }}


def _with_common_responses(build):
    """Every operation of the description (others' too) answers the shared statuses."""

    def spec() -> dict:
        document = build()
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if path == "/openapi.json" or not isinstance(operation, dict):
                    continue
                responses = operation.setdefault("responses", {})
                shared = GET_RESPONSES if method == "get" else COMMON_RESPONSES
                for code, response in shared.items():
                    responses.setdefault(code, response)
                responses.setdefault("404", err("Not found, or not for this token's client."))
        document["info"]["description"] += (
            " Tokens are made under the user menu (API tokens) and carry scopes (`read`, "
            "`write`) and optionally one client; lists page with `cursor`/`limit` and filter "
            "with `updated_since`; GET answers carry ETags (send If-None-Match for a 304); "
            "each token has a rate limit (X-RateLimit-* headers, 429 with Retry-After)."
        )
        return document

    return spec


from . import openapi as _openapi

_openapi.spec = _with_common_responses(_openapi.spec)
