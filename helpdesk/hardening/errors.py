"""The API answers every error as ``application/problem+json`` (RFC 9457), unknown URLs too."""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, **extra) -> Response:
    """A problem document; ``error``/``message`` kept for clients of the first API version."""
    code = title.lower().replace(" ", "_").replace("'", "")
    body = {"type": "about:blank", "title": title, "status": status,
            "error": extra.pop("error", code), "message": detail or title, **extra}
    if detail:
        body["detail"] = detail
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX) or request.path == API_PREFIX.rstrip("/")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if not is_api_request():
            return exc
        response = problem(exc.code or 500, exc.name, exc.description)
        for name, value in (exc.get_headers() or []):
            if name.lower() in ("allow", "retry-after", "www-authenticate"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http_error(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not is_api_request():
            return InternalServerError()
        return problem(500, "Internal Server Error", "The server could not answer; it is logged.")
