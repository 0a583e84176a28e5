"""People who log in: staff (admin, agent, account manager) and client users."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import StrEnum, UTCDateTime, enum_check, enum_column, utcnow


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    ACCOUNT_MANAGER = "account_manager"
    CLIENT = "client"


class PortalRole(StrEnum):
    """What a client user may do inside its company's portal."""

    ADMIN = "admin"  # sees all the company's tickets, invites and removes users
    MEMBER = "member"  # sees all the company's tickets
    SUBAGENT = "subagent"  # a B2B sub-agency: sees only the tickets it opened


STAFF_ROLES = (Role.ADMIN, Role.AGENT, Role.ACCOUNT_MANAGER)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(enum_check("role", Role), name="role"),
        CheckConstraint(
            "(role = 'client') = (client_id IS NOT NULL)", name="client_user_has_client"
        ),
        CheckConstraint(
            "portal_role IS NULL OR " + enum_check("portal_role", PortalRole), name="portal_role"
        ),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(enum_column(Role))
    #: Set for client users only: the company whose data they may see.
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    portal_role: Mapped[str | None] = mapped_column(enum_column(PortalRole))
    language: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Staff: the PBX extension whose calls are this person's (CDR imports match on it).
    extension: Mapped[str | None] = mapped_column(String(20), unique=True)
    #: Staff: the technician address in LogMeIn reports (imports match on it).
    logmein_email: Mapped[str | None] = mapped_column(String(254), unique=True)
    #: Staff: away (holiday, sick): gets no new tickets; their new tickets go to colleagues.
    away: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: Bumped on password set/reset, "sign out everywhere" and deactivation: every session and
    #: remember cookie carrying an older number stops working (see helpdesk/auth/sessions.py).
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    client = relationship("Client", foreign_keys=[client_id], back_populates="users")
    tokens = relationship("ApiToken", back_populates="user", cascade="all, delete-orphan")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def get_id(self) -> str:  # Flask-Login: the session and remember cookie carry the version
        return f"{self.id}:{self.session_version or 1}"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_client_user(self) -> bool:
        return self.role == Role.CLIENT

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class LinkPurpose(StrEnum):
    """What a mailed link to choose a password was issued for."""

    RESET = "reset"
    INVITE = "invite"


class LinkNonce(db.Model):
    """One mailed reset or invitation link (helpdesk/auth/links.py): the link carries the nonce,
    this row says whether it may still be used. Only a digest of the nonce is stored."""

    __tablename__ = "link_nonces"
    __table_args__ = (CheckConstraint(enum_check("purpose", LinkPurpose), name="purpose"),
                      Index("ix_link_nonces_user", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(enum_column(LinkPurpose))
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Set once, by the request that chose the password through the link.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set when a newer link of the same purpose, a password change or a removal ended it.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @staticmethod
    def hash(nonce: str) -> str:
        return hashlib.sha256(nonce.encode()).hexdigest()


class ApiToken(db.Model):
    """A bearer token for /api/v1; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="cli")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Comma-separated: ``read``, ``write`` (a token without ``write`` only reads).
    scopes: Mapped[str] = mapped_column(String(100), default="read,write")
    #: Set: the token sees only this client's data (others' ids answer 404).
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User", back_populates="tokens")

    def has_scope(self, scope: str) -> bool:
        return scope in {s.strip() for s in (self.scopes or "").split(",")}

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "cli") -> tuple[ApiToken, str]:
        """A new token; the plain text is returned once and never stored."""
        plain = "hd_" + secrets.token_urlsafe(32)
        return cls(user=user, token_hash=cls.hash(plain), name=name), plain


class LoginAttempt(db.Model):
    """Each login try, for throttling by account and by address."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
