"""Error pages for people: styled, in the reader's language, with the navigation kept.

The JSON API answers its errors itself (``web/api``); an unknown address under the API prefix
gets JSON here too, so a script never has to parse a page.
"""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError

from ..extensions import db

log = logging.getLogger(__name__)

#: code -> (title, what it means for the reader)
PAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    403: (_l("Not allowed"), _l("Your account may not open this page.")),
    404: (_l("Not found"), _l("There is nothing at this address, or it is not for your account.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    500: (
        _l("Something went wrong"),
        _l("The page could not be shown because of an error on our side. It has been logged."),
    ),
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _page(exc: HTTPException) -> ResponseReturnValue:
    code = exc.code or 500
    if _wants_json():
        from ..hardening.errors import problem

        return problem(code, exc.name, exc.description)
    title, message = PAGES.get(code, (exc.name, exc.description))
    if request.url_rule is None and code == 400 and "trusted" in (exc.description or ""):
        return exc  # a request for a host we do not serve: no page of ours links anywhere
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _server_error(exc: Exception) -> ResponseReturnValue:
    """An unexpected exception: roll back what the request did, log it, show our page."""
    db.session.rollback()
    original = getattr(exc, "original_exception", None) or exc
    if not isinstance(original, HTTPException):
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
    return _page(InternalServerError())


def init_app(app: Flask) -> None:
    for code in PAGES:
        if code != 500:
            app.register_error_handler(code, _page)
    app.register_error_handler(500, _server_error)
