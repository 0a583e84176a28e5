"""The agent console: staff only (admins, agents, account managers)."""

from flask import Blueprint
from flask_login import current_user

from ...auth.policy import AGENT_ROLES, require_roles

bp = Blueprint("agent", __name__)


@bp.before_request
def _staff_only():
    if not current_user.is_authenticated:
        from ...extensions import login_manager

        return login_manager.unauthorized()
    require_roles(current_user, *AGENT_ROLES)


from . import (  # noqa: F401 - the console's route modules register on bp
    bell,
    capacity,
    contract_change,
    contract_lifecycle,
    dashboards,
    day,
    exports,
    mail_intake,
    new_ticket,
    reports,
    routes,
    time_cost,
    time_entries,
    time_month,
    time_panel,
    time_timers,
    visit_calendar,
    visits,
    warranty,
)
