"""Bearer tokens for the JSON API."""

from __future__ import annotations

from flask import Request, g
from sqlalchemy import select

from ..extensions import db
from ..models import ApiToken, User, utcnow


def user_from_bearer(request: Request) -> User | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = db.session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == ApiToken.hash(token.strip()), ApiToken.revoked.is_(False)
        )
    )
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    g.api_token = row  # scopes, client scope and rate limit (helpdesk.web.api.common)
    return row.user
