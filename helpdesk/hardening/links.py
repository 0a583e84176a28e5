"""Absolute links for mail, built only from ``PUBLIC_URL``: never from the Host a request sent."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for

#: Used when PUBLIC_URL is unset, which the settings check allows outside production only.
DEVELOPMENT_BASE = "http://localhost:5000"


def public_base() -> str:
    return (current_app.config.get("PUBLIC_URL") or DEVELOPMENT_BASE).rstrip("/")


def public_url(endpoint: str, **values) -> str:
    """``PUBLIC_URL`` + the endpoint's path (works in requests, jobs and CLI commands alike)."""
    base = public_base()
    parts = urlsplit(base)
    # A request context on the public base gives its path prefix (an app under /helpdesk/);
    # the scheme and host come from PUBLIC_URL, not from SERVER_NAME or the current request.
    with current_app.test_request_context("/", base_url=base + "/"):
        path = url_for(endpoint, **values)
    return f"{parts.scheme}://{parts.netloc}{path}"
