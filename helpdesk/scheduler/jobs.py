"""The schedule as data: which service each recurring job calls, and the setting holding its time.

Each job names a service function (``"module:function"``, imported when the job runs, so the
packages that call ``helpdesk`` - ``mail_ingest``, ``reports`` - are never imported by it) and the
arguments it gets, chosen from a few kinds the runner knows how to fill in:

* ``"now"``: the runner's clock, an aware UTC datetime;
* ``"period"``: the billing month before the scheduled time, in the vendor's zone (``"YYYY-MM"``):
  a run made up on the 3rd still closes the month that ended on the 1st;
* ``"app"``: the Flask application;

and, where a service wants them, fixed keyword ``options`` (the audit actor "scheduler").

The time of each job is a setting (``SCHEDULE_*``, see :mod:`helpdesk.config`), written as
``"every N minutes"``, ``"daily HH:MM"``, ``"monthly D HH:MM"`` or ``"off"`` in the vendor's time
zone. A job with ``after`` has no time of its own: it runs right after that job succeeded, for the
same scheduled time. The runner lives in :mod:`helpdesk.scheduler.runner`; it is the only place that
knows about exactly-once runs, so the services stay plain functions the CLI calls too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import N_

#: Argument kinds a job may ask for.
ARG_KINDS = frozenset({"now", "period", "app"})


@dataclass(frozen=True)
class Job:
    """One recurring job: the service it calls and when."""

    #: Stored in ``JobRun.job`` (at most 50 characters).
    name: str
    #: ``"package.module:function"``.
    target: str
    #: The setting holding its schedule; None for a job that runs ``after`` another.
    schedule_key: str | None
    args: tuple[str, ...] = ()
    #: Fixed keyword arguments, e.g. ``(("actor", "scheduler"),)`` for the audit log.
    options: tuple[tuple[str, object], ...] = ()
    #: Run right after this job's successful run, for the same scheduled time.
    after: str | None = None
    #: Make up every fire time missed since the last recorded run (months), not just the latest.
    catch_up_all: bool = False
    #: A literal schedule (jobs added by the SCHEDULER_EXTRA_JOBS setting); wins over the key.
    schedule: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 50:
            raise ValueError(f"job name {self.name!r}: 1 to 50 characters")
        if ":" not in self.target:
            raise ValueError(f"job {self.name}: target must be 'module:function'")
        unknown = set(self.args) - ARG_KINDS
        if unknown:
            raise ValueError(f"job {self.name}: unknown argument kinds {sorted(unknown)}")
        if (self.after is None) == (self.schedule_key is None and self.schedule is None):
            raise ValueError(f"job {self.name}: give either a schedule or 'after', not both")


JOBS: tuple[Job, ...] = (
    Job(
        "mail_ingest",
        "mail_ingest.ingest:ingest_all",
        "SCHEDULE_MAIL_INGEST",
        ("app",),
        description=N_("Fetch new mail from every mailbox into tickets."),
    ),
    Job(
        "sla_sweep",
        "helpdesk.sla.sweep:sweep",
        "SCHEDULE_SLA_SWEEP",
        ("now",),
        description=N_("Warn about and flag SLA targets that are near or past due."),
    ),
    Job(
        "capacity_plan",
        "helpdesk.capacity.planner:plan_due_weeks",
        "SCHEDULE_CAPACITY_PLAN",
        ("now",),
        description="Reserve next week's agent hours for the contract clients.",
    ),
    Job(
        "sla_escalation",
        "helpdesk.capacity.escalation:escalate",
        None,
        ("now",),
        after="sla_sweep",
        description="Escalate SLA breaches to the team lead, then to the account manager.",
    ),
    Job(
        "on_call_routing",
        "helpdesk.assignment.oncall:route_to_on_call",
        None,
        ("now",),
        after="sla_sweep",
        description=N_("Hand urgent out-of-hours tickets of on-call clients to the agent on call."),
    ),
    Job(
        "notifications",
        "helpdesk.notifications.mailer:send_pending",
        "SCHEDULE_NOTIFICATIONS",
        ("now",),
        description="Mail staff notifications: one mail per person and ticket per burst.",
    ),
    Job(
        "visit_planner",
        "helpdesk.visits.planner:plan_visits",
        "SCHEDULE_VISIT_PLANNER",
        ("now",),
        description=N_("Propose the contract year's on-site visits."),
    ),
    Job(
        "reminders",
        "helpdesk.contracts.reminders:send_due_reminders",
        "SCHEDULE_REMINDERS",
        ("now",),
        description=N_("Renewal, trial, hours and visit reminders, each sent once."),
    ),
    Job(
        "month_close",
        "helpdesk.accounting.closing:close_due_months",
        "SCHEDULE_MONTH_CLOSE",
        ("period",),
        options=(("actor", "scheduler"),),
        catch_up_all=True,
        description=N_("Freeze the months that ended and are reviewed; tell the account "
                       "managers what blocks the others."),
    ),
    Job(
        "monthly_reports",
        "reports.batch:scheduled_monthly",
        None,
        ("period",),
        options=(("email", True),),
        after="month_close",
        description=N_("Monthly PDF reports of the closed month, mailed to the clients once."),
    ),
    Job(
        "contract_changes",
        "helpdesk.contracts.changes:apply_due_changes",
        "SCHEDULE_CONTRACT_CHANGES",
        ("now",),
        description=N_("Contract lifecycle: renewals, ends, trials, planned package changes, "
                       "warranty offers."),
    ),
    Job(
        "price_list",
        "helpdesk.pricelist.services:apply_prices_in_force",
        None,
        ("now",),
        after="contract_changes",
        description=N_("Price list: packages and add-ons take the price planned for this month."),
    ),
    Job(
        "backup",
        "helpdesk.backup.archive:run_backup",
        "SCHEDULE_BACKUP",
        ("now",),
        description=N_("Back up the database and attachments; drop old backups."),
    ),
    Job(
        "import_drop",
        "helpdesk.integrations.dropfolder:pick_up",
        "SCHEDULE_IMPORT_DROP",
        ("now",),
        description="Import LogMeIn and CDR files left in the drop folders, each once.",
    ),
    Job(
        "import_resume",
        "helpdesk.integrations.imports.worker:resume_stalled",
        "SCHEDULE_IMPORT_RESUME",
        ("now",),
        description="Resume console previews and imports whose worker stopped.",
    ),
    Job(
        "import_cleanup",
        "helpdesk.integrations.imports.cleanup:sweep",
        "SCHEDULE_IMPORT_CLEANUP",
        ("now",),
        description="Delete uploaded import files no longer needed; abandon old previews.",
    ),
    Job(
        "webhooks",
        "helpdesk.integrations.webhooks:deliver_due",
        "SCHEDULE_WEBHOOKS",
        ("now",),
        description="Deliver webhook events, retrying failed ones with back-off.",
    ),
    Job(
        "prune_job_runs",
        "helpdesk.scheduler.runs:prune_job_runs",
        "SCHEDULE_PRUNE_JOB_RUNS",
        ("now",),
        description=N_("Forget old job runs (the latest of each job is kept)."),
    ),
)
