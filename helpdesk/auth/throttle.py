"""Failed-login throttling, kept in the database so it holds across worker processes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import LoginAttempt, utcnow


def is_locked(email: str, ip: str, max_failures: int, window_seconds: int) -> bool:
    """True when the account or the address failed too often within the window."""
    since = utcnow() - timedelta(seconds=window_seconds)
    failures = select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.success.is_(False), LoginAttempt.at >= since
    )
    by_email = db.session.scalar(failures.where(LoginAttempt.email == email.lower()))
    # An address may try a few accounts (an office behind one NAT), but not endlessly.
    by_ip = db.session.scalar(failures.where(LoginAttempt.ip == ip))
    return by_email >= max_failures or by_ip >= max_failures * 4


def record_attempt(email: str, ip: str, success: bool) -> None:
    db.session.add(LoginAttempt(email=email.lower()[:254], ip=ip[:64], success=success))
    if success:
        # A good login clears the account's failures: the owner is not locked by old typos.
        db.session.execute(
            delete(LoginAttempt).where(
                LoginAttempt.email == email.lower(), LoginAttempt.success.is_(False)
            )
        )


def prune(older_than_days: int = 7) -> int:
    result = db.session.execute(
        delete(LoginAttempt).where(LoginAttempt.at < utcnow() - timedelta(days=older_than_days))
    )
    return result.rowcount or 0
