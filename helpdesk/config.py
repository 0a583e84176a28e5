"""Settings: built-in defaults, then ``instance/config.py``, then ``HELPDESK_*`` environment variables.

Every key here can be overridden as ``HELPDESK_<KEY>``; values from the environment are parsed as JSON
when they look like JSON (numbers, booleans, lists), as Flask's ``from_prefixed_env`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

ENV_PREFIX = "HELPDESK"


class ConfigError(RuntimeError):
    """A setting is missing or wrong; raised at start-up, never silently defaulted in production."""


def defaults(instance_path: str) -> dict:
    """The built-in defaults: a working development set-up on SQLite in ``instance/``."""
    inst = Path(instance_path)
    return {
        # Flask and security
        "SECRET_KEY": None,
        "ENV": "development",  # "production" refuses to start without a SECRET_KEY
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,  # production requires True (HTTPS only)
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": None,  # None: the same as SESSION_COOKIE_SECURE
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        #: Host names the app answers for (Flask TRUSTED_HOSTS); others get 400. Empty: any.
        "TRUSTED_HOSTS": [],
        #: How many reverse proxies in front set X-Forwarded-For/-Proto/-Host (werkzeug ProxyFix).
        "PROXY_FIX_HOPS": 0,
        #: Invitations one company's portal administrators may send per hour.
        "INVITES_PER_COMPANY_PER_HOUR": 20,
        "MAX_CONTENT_LENGTH": 30 * 1024 * 1024,
        # Database
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{inst / 'helpdesk.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # The vendor and its locale
        "VENDOR_NAME": "Demo Software d.o.o.",
        "VENDOR_LOGO": None,
        "VENDOR_EMAIL": "support@helpdesk.example",
        "TIMEZONE": "Europe/Belgrade",
        "CURRENCY": "EUR",
        "HOLIDAY_COUNTRY": "RS",
        #: While no admin exists, pages lead to /setup (the first run). Tests switch it off.
        "SETUP_REDIRECT": True,
        "DEFAULT_LANGUAGE": "en",
        "LANGUAGES": ["en", "sr_Latn", "tr"],
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Belgrade",
        # Working hours (local wall clock of the client's zone)
        "WORKDAY_START": "08:00",
        "WORKDAY_END": "16:00",
        # Billing rules (see README, "Hour accounting")
        "BILLING_INCREMENT_MINUTES": 15,
        "OUT_OF_HOURS_MULTIPLIER": "1.5",
        "NO_CONTRACT_RATE": "50.00",
        "DEVELOPMENT_RATE": "60.00",
        "TRIAL_DAYS": 30,
        #: Days before the product warranty's end when the maintenance-contract offer is mailed.
        "WARRANTY_OFFER_DAYS": 30,
        # SLA
        "SLA_WARNING_FRACTION": 0.8,
        # Links in mail are built on this base URL (set it in production, e.g. https://help.example.com)
        "PUBLIC_URL": None,
        "PASSWORD_RESET_MAX_AGE": 2 * 3600,
        "INVITE_MAX_AGE": 7 * 24 * 3600,
        # Login throttling
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_FAILURE_WINDOW_SECONDS": 900,
        # Files
        "ATTACHMENT_DIR": str(inst / "attachments"),
        "ATTACHMENT_MAX_BYTES": 25 * 1024 * 1024,
        "BACKUP_DIR": str(inst / "backups"),
        "BACKUP_KEEP_DAYS": 14,
        #: `flask doctor` fails a directory with less free space than this (MB).
        "DOCTOR_MIN_FREE_MB": 500,
        "REPORT_DIR": str(inst / "reports"),
        #: Where a logo uploaded in /setup or /admin/settings is kept.
        "BRANDING_DIR": str(inst / "branding"),
        # Outgoing mail (Flask-Mail)
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 1025,
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_DEFAULT_SENDER": "support@helpdesk.example",
        "MAIL_SUPPRESS_SEND": False,
        "AUTO_REPLY_LIMIT_PER_HOUR": 3,
        # Incoming mail (IMAP); several mailboxes via IMAP_MAILBOXES (a list of dicts)
        "IMAP_HOST": None,
        "IMAP_PORT": 993,
        "IMAP_USER": None,
        "IMAP_PASSWORD": None,
        "IMAP_SECURITY": "ssl",
        "IMAP_FOLDER": "INBOX",
        "IMAP_PROCESSED_FOLDER": "Processed",
        "IMAP_FAILED_FOLDER": "Failed",
        "IMAP_QUEUE": "support",
        "IMAP_BATCH_SIZE": 100,
        "IMAP_MAILBOXES": [],
        # Mail ingest (mail_ingest/): see the README's settings table
        "INGEST_PARSE_WORKERS": None,  # parse worker processes; None: one per CPU
        "INGEST_IDLE_SECONDS": 300,  # IMAP IDLE before a watch re-reads the folder anyway
        "INGEST_AUTHSERV_ID": None,  # our receiving server's name in Authentication-Results
        "INGEST_ACK_RETRY_SECONDS": 120,  # a queued acknowledgement this old is sent again
        "INGEST_ACK_JOURNAL": None,  # sent-acknowledgement journal; None: instance/ack-sent.journal
        "MAIL_MESSAGE_ID_DOMAIN": None,  # right-hand side of our Message-IDs; None: the sender's
        "MAIL_TIMEOUT": 30,  # seconds an SMTP conversation may stall
        "MAIL_BLOCK_REMOTE_IMAGES": True,  # remote images in mail load only on "show images"
        # Telephony: the support extensions whose calls become phone entries
        "SUPPORT_EXTENSIONS": ["200", "201", "202"],
        "PHONE_COUNTRY_CODE": "381",
        # Scheduler (`flask scheduler`): one schedule per job in the vendor's TIMEZONE, written as
        # "every N minutes", "daily HH:MM", "monthly D HH:MM" or "off" (see helpdesk/scheduler/jobs.py).
        "SCHEDULE_MAIL_INGEST": "every 1 minutes",
        "SCHEDULE_SLA_SWEEP": "every 1 minutes",
        "SCHEDULE_NOTIFICATIONS": "every 1 minutes",
        "SCHEDULE_VISIT_PLANNER": "daily 05:00",
        "SCHEDULE_CAPACITY_PLAN": "daily 05:15",
        "SCHEDULE_REMINDERS": "daily 08:00",
        "SCHEDULE_MONTH_CLOSE": "monthly 1 06:00",  # the monthly reports run right after it
        "SCHEDULE_CONTRACT_CHANGES": "daily 00:15",
        "SCHEDULE_BACKUP": "daily 02:00",
        "SCHEDULE_PRUNE_JOB_RUNS": "daily 03:30",
        "SCHEDULE_IMPORT_DROP": "every 5 minutes",
        "SCHEDULE_WEBHOOKS": "every 1 minutes",
        "SCHEDULE_IMPORT_RESUME": "every 5 minutes",
        "SCHEDULE_IMPORT_CLEANUP": "daily 03:45",
        # Imports and integrations (issue 19)
        "IMPORT_DIR": str(inst / "imports"),
        "IMPORT_DROP_LOGMEIN": "",
        "IMPORT_DROP_CDR": "",
        "IMPORT_LOGMEIN_TIMEZONE": "",
        "IMPORT_MAX_UPLOAD_MB": 50,
        "IMPORT_BACKGROUND": True,  # previews and imports of the console in a thread pool
        "IMPORT_WORKERS": 1,
        "IMPORT_STALE_MINUTES": 10,  # a worker quiet this long is taken over by import_resume
        "IMPORT_KEEP_DAYS": 7,  # previews never imported are abandoned (their file deleted)
        "API_RATE_LIMIT": 600,
        "API_RATE_WINDOW_SECONDS": 60,
        "API_RATE_BACKEND": "db",
        "WEBHOOK_TIMEOUT_SECONDS": 10,
        "WEBHOOK_MAX_ATTEMPTS": 6,
        "WEBHOOK_RETRY_BASE_SECONDS": 60,
        "WEBHOOK_DISABLE_AFTER": 3,
        "WEBHOOK_BATCH": 100,
        #: More jobs: [{"name", "target": "module:function", "schedule", "args": ["now"]}].
        "SCHEDULER_EXTRA_JOBS": [],
        "SCHEDULER_LOCK_FILE": str(inst / "scheduler.lock"),
        "SCHEDULER_LOCK_POLL_SECONDS": 10,
        "SCHEDULER_MAX_WORKERS": 4,
        "JOB_RUN_KEEP_DAYS": 30,
        # Visits and reminders (days before the date; percentages of the month's package)
        "VISIT_LEAD_DAYS": 14,
        "VISIT_REMINDER_DAYS": 7,
        #: Hours an on-site visit takes out of the agent's day when the visit does not say.
        "VISIT_DEFAULT_MINUTES": 240,
        # Capacity plan (helpdesk/capacity): a contract client is owed its package's monthly
        # minutes divided by this many weeks, plus this much per open ticket due within the week.
        "CAPACITY_WEEKS_PER_MONTH": "52/12",
        "CAPACITY_MINUTES_PER_DUE_TICKET": 30,
        #: An urgent ticket of a client without a contract waits at most this many business hours
        #: before it is served ahead of low-priority contract tickets.
        "CAPACITY_URGENT_WAIT_HOURS": 4,
        # SLA escalation levels: 1 the assignee (warning and breach), 2 the team lead at a breach
        # (these addresses; empty: every active admin), 3 the account manager when a breach is
        # still unmet this many business hours later.
        "ESCALATION_TEAM_LEADS": [],
        "ESCALATION_MANAGER_AFTER_HOURS": 4,
        "RENEWAL_REMINDER_DAYS": [30, 7],
        "TRIAL_REMINDER_DAYS": [7, 1],
        "HOURS_REMINDER_PERCENTS": [80, 100],
        # Backups (PostgreSQL: these client programs must match the server's major version)
        "PG_DUMP": "pg_dump",
        "PG_RESTORE": "pg_restore",
        # New tickets go round-robin to the agents on duty (a client's dedicated agent always wins)
        "AUTO_ASSIGN": True,
        "ON_CALL_ROUTING": True,
        # Console: seconds a "viewing/replying" presence lasts without a heartbeat
        "PRESENCE_SECONDS": 20,
    }


def load_config(app: Flask, test_config: dict | None = None) -> None:
    """Fill ``app.config`` in precedence order and check it."""
    app.config.from_mapping(defaults(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env(ENV_PREFIX)
    if test_config:
        app.config.from_mapping(test_config)
    check_config(app)


def check_config(app: Flask) -> None:
    """Refuse to start with settings that would be unsafe or broken."""
    cfg = app.config
    production = str(cfg.get("ENV", "")).lower() == "production"
    if not cfg.get("SECRET_KEY"):
        if production:
            raise ConfigError(
                "HELPDESK_SECRET_KEY is not set. In production the secret key must be configured "
                "(instance/config.py or the HELPDESK_SECRET_KEY environment variable)."
            )
        cfg["SECRET_KEY"] = _development_secret(app.instance_path)
    if cfg.get("REMEMBER_COOKIE_SECURE") is None:
        cfg["REMEMBER_COOKIE_SECURE"] = bool(cfg.get("SESSION_COOKIE_SECURE"))
    public_url = (cfg.get("PUBLIC_URL") or "").strip()
    if public_url and not public_url.startswith(("http://", "https://")):
        raise ConfigError(f"HELPDESK_PUBLIC_URL must start with https:// (got {public_url!r}).")
    if production:
        if not public_url:
            raise ConfigError(
                "HELPDESK_PUBLIC_URL is not set. In production links in mail are built only from "
                "it, e.g. HELPDESK_PUBLIC_URL=https://help.example.com."
            )
        if not cfg.get("SESSION_COOKIE_SECURE") or not cfg.get("REMEMBER_COOKIE_SECURE"):
            raise ConfigError(
                "HELPDESK_SESSION_COOKIE_SECURE must be true in production (cookies over HTTPS "
                "only)."
            )
    if cfg.get("TRUSTED_HOSTS") and isinstance(cfg["TRUSTED_HOSTS"], str):
        cfg["TRUSTED_HOSTS"] = [h.strip() for h in cfg["TRUSTED_HOSTS"].split(",") if h.strip()]
    cfg["TRUSTED_HOSTS"] = cfg.get("TRUSTED_HOSTS") or None
    uri = cfg["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver we ship; SQLAlchemy's bare "postgresql://" means psycopg2.
        cfg["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri.split("://", 1)[1]


def _development_secret(instance_path: str) -> str:
    """A per-checkout random key kept in instance/, so dev sessions survive restarts."""
    path = Path(instance_path) / ".dev-secret-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        os.makedirs(instance_path, exist_ok=True)
        key = os.urandom(32).hex()
        path.write_text(key)
        return key
