"""Blueprints by audience: auth, the agent console, the client portal, the JSON API."""

from __future__ import annotations

from flask import Flask, redirect, url_for
from flask_login import current_user


def register_blueprints(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .agent import bp as agent_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .feeds import bp as feeds_bp
    from .integrations import bp as integrations_bp
    from .portal import bp as portal_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(agent_bp, url_prefix="/console")
    app.register_blueprint(portal_bp, url_prefix="/portal")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(feeds_bp)
    app.register_blueprint(integrations_bp, url_prefix="/integrations")
    from .admin.clients import bp as manage_bp
    from .admin.setup import bp as setup_bp

    app.register_blueprint(manage_bp, url_prefix="/admin/clients")
    app.register_blueprint(setup_bp)

    @app.route("/")
    def index():
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(home_url(current_user))

    from . import errors, filters

    filters.init_app(app)
    errors.init_app(app)


def home_url(user) -> str:
    return url_for("portal.home") if user.is_client_user else url_for("agent.queue")
