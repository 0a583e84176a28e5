"""SLA: business-time targets per priority and the clock that turns them into due times."""

from helpdesk.sla.clock import (
    PRIORITIES,
    PRIORITY_FACTORS,
    Pause,
    SlaState,
    SlaTargets,
    due_at,
    elapsed_fraction,
    sla_state,
    targets_for,
)

__all__ = [
    "PRIORITIES",
    "PRIORITY_FACTORS",
    "Pause",
    "SlaState",
    "SlaTargets",
    "due_at",
    "elapsed_fraction",
    "sla_state",
    "targets_for",
]
