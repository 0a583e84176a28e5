"""The API answers every error as ``application/problem+json`` (RFC 9457), unknown URLs too."""

from __future__ import annotations

import logging

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

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
            from ..web.errors import PAGES, _page

            return _page(exc) if exc.code in PAGES else exc
        response = problem(exc.code or 500, exc.name, exc.description)
        for name, value in (exc.get_headers() or []):
            if name.lower() in ("allow", "retry-after", "www-authenticate"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http_error(exc)
        if not is_api_request():
            from ..web.errors import _server_error

            return _server_error(exc)  # rolls back, logs, shows the styled page
        from ..extensions import db

        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "The server could not answer; it is logged.")

    @app.after_request
    def _errors_as_problems(response: Response) -> Response:
        """API modules that answer an error with their own JSON (``error``, ``message``,
        ``fields``) get the problem document's members added and its media type."""
        if (response.status_code < 400 or not is_api_request()
                or response.mimetype != "application/json"):
            return response
        try:
            body = json.loads(response.get_data())
        except ValueError:
            return response
        if not isinstance(body, dict) or "type" in body:
            return response
        title = HTTP_STATUS_CODES.get(response.status_code, "Error")
        message = body.get("message") or body.get("detail") or title
        body = {"type": "about:blank", "title": title, "status": response.status_code,
                "error": body.get("error") or title.lower().replace(" ", "_"),
                "message": message, "detail": message,
                **{k: v for k, v in body.items() if k not in ("error", "message")}}
        response.set_data(json.dumps(body))
        response.mimetype = PROBLEM_JSON
        return response
