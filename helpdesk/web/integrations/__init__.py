"""Console pages of the integrations: imports (admins, account managers), API tokens (everyone
signed in, under the user menu) and webhooks (staff)."""

from flask import Blueprint
from flask_login import current_user

bp = Blueprint("integrations", __name__)


@bp.before_request
def _signed_in():
    if not current_user.is_authenticated:
        from ...extensions import login_manager

        return login_manager.unauthorized()
    return None


from . import account, imports  # noqa: F401
