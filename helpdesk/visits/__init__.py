"""On-site visits of the support contracts: planning, confirming, reminding, used and left."""

from .planner import (
    OPEN_VISIT_STATUSES,
    PlanResult,
    VisitError,
    VisitsSummary,
    assign_visit,
    can_manage_visit,
    complete_visit,
    confirm_visit,
    contract_year,
    move_visit,
    plan_contract,
    plan_visits,
    send_visit_reminders,
    visits_summary,
)

__all__ = [
    "OPEN_VISIT_STATUSES",
    "PlanResult",
    "VisitError",
    "VisitsSummary",
    "assign_visit",
    "can_manage_visit",
    "complete_visit",
    "confirm_visit",
    "contract_year",
    "move_visit",
    "plan_contract",
    "plan_visits",
    "send_visit_reminders",
    "visits_summary",
]
