"""Production hardening: mail links from PUBLIC_URL, safe redirects, security headers, the proxy
fix, bounded URL numbers, JSON errors for the API, ``/healthz`` and ``flask doctor``."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import bounds, errors, headers, health, proxy

    proxy.init_app(app)
    bounds.init_app(app)
    headers.init_app(app)
    errors.init_app(app)
    health.init_app(app)
