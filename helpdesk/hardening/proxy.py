"""Behind ``PROXY_FIX_HOPS`` reverse proxies trust that many X-Forwarded-* values (ProxyFix), so
throttling and the audit log see the client's address, not the proxy's."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
