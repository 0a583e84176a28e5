"""Administration pages (``/admin``): job runs, ingest failures. Admins only."""

from flask import Blueprint
from flask_login import current_user

from ...auth.policy import require_roles
from ...models import Role

bp = Blueprint("admin", __name__)


@bp.before_request
def _admins_only():
    if not current_user.is_authenticated:
        from ...extensions import login_manager

        return login_manager.unauthorized()
    require_roles(current_user, Role.ADMIN)


from . import audit, mailboxes, pricing, routes, settings_views, staff  # noqa: F401  # noqa: F401
