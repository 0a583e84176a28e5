"""Mailed links to choose a password (reset and invitation), each usable once.

A link's token is signed with the SECRET_KEY (itsdangerous, a salt per purpose) and names a nonce
of its own; the server keeps a row per issued nonce (``LinkNonce``: purpose, user, issued,
expires, used, revoked). A link works while its row is neither used, revoked nor expired, the user
is active and the password is the one it was issued against. So:

* using a link uses it up, and ends every other outstanding link of the person (the password is
  chosen now; older links must not change it again);
* a newer reset link ends the older reset links, a newer invitation the older invitations; a
  reset link leaves an invitation alone and the other way round (either may be the one the person
  opens);
* removing or deactivating a person ends all their links, so an invitation sent before a removal
  fails after the person is invited again;
* a token with a nonce the server never issued fails even when its signature is good.
Services flush; the request commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update

from ..extensions import db
from ..models import LinkNonce, LinkPurpose, User, utcnow

RESET_SALT = "helpdesk.password-reset"
INVITE_SALT = "helpdesk.portal-invite"
SALTS = {LinkPurpose.RESET: RESET_SALT, LinkPurpose.INVITE: INVITE_SALT}
#: How long links stay valid unless PASSWORD_RESET_MAX_AGE / INVITE_MAX_AGE (seconds) say otherwise.
DEFAULT_RESET_MAX_AGE = 2 * 3600
DEFAULT_INVITE_MAX_AGE = 7 * 24 * 3600


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALTS[purpose])


def max_age(purpose: str) -> int:
    cfg = current_app.config
    if purpose == LinkPurpose.INVITE:
        return int(cfg.get("INVITE_MAX_AGE", DEFAULT_INVITE_MAX_AGE))
    return int(cfg.get("PASSWORD_RESET_MAX_AGE", DEFAULT_RESET_MAX_AGE))


def password_fingerprint(user: User) -> str:
    """A short digest of the password hash and session version: it changes with either."""
    material = f"{user.password_hash or '-'}|{user.session_version or 1}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _outstanding(user_id: int, purposes: tuple[str, ...]):
    return (LinkNonce.user_id == user_id, LinkNonce.purpose.in_(purposes),
            LinkNonce.used_at.is_(None), LinkNonce.revoked_at.is_(None))


def revoke_links(user: User, purposes: tuple[str, ...] = tuple(LinkPurpose.values())) -> None:
    """End ``user``'s outstanding links of these purposes (all by default)."""
    if user.id is None:
        return
    db.session.execute(update(LinkNonce).where(*_outstanding(user.id, purposes))
                       .values(revoked_at=utcnow()))
    db.session.flush()


def issue_link(user: User, purpose: str) -> str:
    """A new signed link token for ``user``; older links of the same purpose stop working.

    A user that is not stored (the stand-in of an unknown address) gets a token that is never
    recorded, so it works nowhere.
    """
    nonce = secrets.token_urlsafe(24)
    if user.id:
        revoke_links(user, (purpose,))
        now = utcnow()
        db.session.add(LinkNonce(user_id=user.id, purpose=purpose, nonce_hash=LinkNonce.hash(nonce),
                                 issued_at=now, expires_at=now + timedelta(seconds=max_age(purpose))))
        db.session.flush()
    return _serializer(purpose).dumps(
        {"u": user.id or 0, "n": nonce, "p": password_fingerprint(user)})


def link_for_token(token: str) -> LinkNonce | None:
    """The still-usable link a token names; None if forged, expired, used, ended, or its person
    was removed or changed the password since."""
    for purpose in (LinkPurpose.RESET, LinkPurpose.INVITE):
        try:
            data = _serializer(purpose).loads(token, max_age=max_age(purpose))
        except SignatureExpired:
            return None
        except BadSignature:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("n"), str) \
                or not isinstance(data.get("u"), int) or isinstance(data.get("u"), bool):
            return None
        link = db.session.scalar(select(LinkNonce).where(
            LinkNonce.nonce_hash == LinkNonce.hash(data["n"])))
        if (link is None or link.user_id != data["u"] or link.purpose != purpose
                or link.used_at is not None or link.revoked_at is not None
                or link.expires_at <= utcnow()):
            return None
        user = db.session.get(User, link.user_id)
        if user is None or not user.active or data.get("p") != password_fingerprint(user):
            return None
        return link
    return None


def use_link(link: LinkNonce) -> bool:
    """Mark the link used, once: False when another request used or ended it first. Every other
    outstanding link of the person ends with it."""
    now = utcnow()
    claimed = db.session.execute(
        update(LinkNonce)
        .where(LinkNonce.id == link.id, LinkNonce.used_at.is_(None),
               LinkNonce.revoked_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return False
    db.session.execute(
        update(LinkNonce)
        .where(*_outstanding(link.user_id, tuple(LinkPurpose.values())))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(link)
    db.session.flush()
    return True
