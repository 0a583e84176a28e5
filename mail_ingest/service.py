"""The scheduler's entry point (``helpdesk/jobs.py`` names ``mail_ingest.service:ingest_all``)."""

from mail_ingest.ingest import ingest_all

__all__ = ["ingest_all"]
