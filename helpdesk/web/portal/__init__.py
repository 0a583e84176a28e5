"""The client portal: client users see their own company's data and nothing else."""

from flask import Blueprint
from flask_login import current_user

from ...auth.policy import require_roles
from ...models import Role

bp = Blueprint("portal", __name__)


@bp.before_request
def _client_users_only():
    if not current_user.is_authenticated:
        from ...extensions import login_manager

        return login_manager.unauthorized()
    require_roles(current_user, Role.CLIENT)


from . import (
    contract_self,  # noqa: F401
    routes,  # noqa: F401
)
