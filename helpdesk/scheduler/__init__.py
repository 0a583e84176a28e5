"""Scheduled jobs: the runner, the job table and the one-scheduler lock."""
