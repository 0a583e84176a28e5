"""Who is asking: sessions (Flask-Login), API tokens, and the access policy in one place."""

from __future__ import annotations

from flask import Flask

from ..extensions import db, login_manager
from ..models import User


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        # "<id>:<session version>" (User.get_id): a session or remember cookie made before the
        # password was set, reset, the user signed out everywhere or was deactivated is refused.
        ident, _, version = str(user_id).partition(":")
        if not ident.isdigit() or not version.isdigit() or len(ident) > 18:
            return None
        user = db.session.get(User, int(ident))
        if user is None or not user.active or int(version) != (user.session_version or 1):
            return None
        return user


def end_all_sessions(user: User) -> None:
    """Every session and remember cookie of ``user`` stops working (the caller commits)."""
    user.session_version = (user.session_version or 1) + 1
    db.session.flush()
