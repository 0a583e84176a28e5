"""Client-user accounts: invitations, removal, password-reset links, and sign-in checks that do not
reveal which addresses have an account.

A reset or invitation link is usable once (helpdesk/auth/links.py: each link has a nonce of its own,
recorded server-side); choosing a password, a removal or a deactivation ends every outstanding link.
Services flush; the request commits, then sends the mail.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import datetime
from functools import cache

from flask import abort, current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_mail import Message
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit_log.record import record, snapshot
from ..extensions import db, mail
from ..hardening.links import public_url
from ..i18n import N_, language_for
from ..models import (
    ApiToken,
    LinkNonce,
    LinkPurpose,
    PortalRole,
    Role,
    SentNotification,
    User,
    utcnow,
)
from . import end_all_sessions
from .links import (  # noqa: F401  (RESET_SALT .. password_fingerprint: the module's API)
    DEFAULT_INVITE_MAX_AGE,
    DEFAULT_RESET_MAX_AGE,
    INVITE_SALT,
    RESET_SALT,
    issue_link,
    link_for_token,
    max_age,
    password_fingerprint,
    revoke_links,
    use_link,
)

log = logging.getLogger(__name__)

#: At most one reset mail per address in this many seconds (no mail bombing through the form).
RESET_MAIL_INTERVAL = 300
MIN_PASSWORD_LENGTH = 10
#: Roles a company administrator may give.
INVITABLE_ROLES = (PortalRole.MEMBER, PortalRole.SUBAGENT, PortalRole.ADMIN)
AUDITED_FIELDS = ("email", "name", "portal_role", "active", "client_id")

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """An invitation or removal that cannot be done; the message is for the person who tried."""


# -- links (helpdesk/auth/links.py) -----------------------------------------------------------


def make_token(user: User, *, invite: bool = False) -> str:
    """A new reset (or invitation) link token for ``user``, usable once."""
    return issue_link(user, LinkPurpose.INVITE if invite else LinkPurpose.RESET)


def _max_age(invite: bool) -> int:
    return max_age(LinkPurpose.INVITE if invite else LinkPurpose.RESET)


def user_for_token(token: str) -> User | None:
    """The user a still-usable link belongs to; None if forged, expired, used or ended."""
    link = link_for_token(token)
    return db.session.get(User, link.user_id) if link is not None else None


def check_new_password(password: str) -> str | None:
    """Why a new password is refused, or None if it will do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    return None


class LinkUsed(AccountError):
    """Another request used the link (or it was ended) while this one was filling the form."""


def set_password_through_link(link: LinkNonce, password: str) -> User:
    """Choose the password through a mailed link: the link is used up, once."""
    problem = check_new_password(password)
    if problem:
        raise AccountError(problem)
    if not use_link(link):
        raise LinkUsed(_("The link has expired or has already been used."))
    user = db.session.get(User, link.user_id)
    set_new_password(user, password)
    return user


def set_new_password(user: User, password: str) -> None:
    """Store the new password; every outstanding link and session of the user stops working."""
    problem = check_new_password(password)
    if problem:
        raise AccountError(problem)
    user.set_password(password)
    revoke_links(user)
    end_all_sessions(user)  # a stolen session or remember cookie stops working
    record(user, "password_set", user=user, after={"password": "changed"})


# -- sign-in without revealing accounts -------------------------------------------------------


@cache
def _dummy_hash() -> str:
    """A hash to check against when there is no account, so both answers take as long."""
    return generate_password_hash("no such account - timing equaliser")


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, doing the same work when there is none."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if user.check_password(password) else None


# -- mail --------------------------------------------------------------------------------------


def external_url(endpoint: str, **values) -> str:
    """An absolute link for mail: built on PUBLIC_URL only, never on a Host header we were sent."""
    return public_url(endpoint, **values)


def _message(user: User, subject: str, template: str, **context) -> Message:
    """A mail to ``user`` written in their language."""
    with force_locale(language_for(user)):
        return Message(
            subject=str(_(subject, vendor=current_app.config["VENDOR_NAME"])),
            recipients=[user.email],
            body=render_template(template, user=user, **context),
        )


def reset_message(user: User) -> Message:
    """The password-reset mail with its link."""
    hours = _max_age(False) // 3600
    return _message(
        user,
        N_("Choose a new password for %(vendor)s support"),
        "auth/reset_email.txt",
        link=external_url("auth.reset_password", token=make_token(user)),
        hours=max(hours, 1),
    )


def invite_message(user: User, inviter: User) -> Message:
    """The invitation mail with a link to set the first password."""
    return _message(
        user,
        N_("You are invited to the %(vendor)s support portal"),
        "portal/invite_email.txt",
        inviter=inviter,
        link=external_url("auth.reset_password", token=make_token(user, invite=True)),
        days=max(_max_age(True) // 86400, 1),
    )


_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="helpdesk-mail")
_pending: set[Future] = set()
_pending_lock = threading.Lock()


def send_later(message: Message) -> Future:
    """Send after the response: the answer takes as long whether or not a mail goes out."""
    app = current_app._get_current_object()

    def run() -> None:
        with app.app_context():
            try:
                mail.send(message)
            except Exception:
                log.exception("could not send %r to %s", message.subject, message.recipients)

    def forget(done: Future) -> None:
        with _pending_lock:
            _pending.discard(done)

    future = _executor.submit(run)
    with _pending_lock:
        _pending.add(future)
    future.add_done_callback(forget)
    return future


def wait_for_outbox(timeout: float = 10.0) -> None:
    """Wait until mail handed to ``send_later`` is out (tests, and the CLI before exiting)."""
    with _pending_lock:
        futures = list(_pending)
    wait_futures(futures, timeout=timeout)


def _reset_allowed_now(email: str, now: datetime) -> bool:
    """One reset mail per address per interval; recorded for unknown addresses too."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    key = f"password-reset:{digest}:{int(now.timestamp()) // RESET_MAIL_INTERVAL}"
    if db.session.scalar(select(SentNotification.id).where(SentNotification.key == key)):
        return False
    db.session.add(SentNotification(key=key, sent_at=now, recipients=None))
    db.session.flush()
    return True


def request_password_reset(email: str) -> Message | None:
    """Prepare the reset mail for ``email`` if it has an active account; same work either way.

    Returns the message to send once the request has committed (None when nothing is sent).
    """
    email = email.strip().lower()
    user = db.session.scalar(select(User).where(User.email == email))
    allowed = _reset_allowed_now(email, utcnow())
    real = user is not None and user.active
    # For an unknown address (or one mailed recently) build the same mail for a stand-in (never
    # saved), and drop it: the link mailed before keeps working.
    send = real and allowed
    target = user if send else User(id=0, email=email or "nobody@invalid", name="", role="agent")
    message = reset_message(target)
    return message if send else None


# -- company users (portal administrators) ---------------------------------------------------


def can_manage_company_users(user: User) -> bool:
    """Only a client company's portal administrator invites and removes its users."""
    return (
        user.is_authenticated
        and user.role == Role.CLIENT
        and user.client_id is not None
        and user.portal_role == PortalRole.ADMIN
    )


def company_users(admin: User) -> list[User]:
    """The admin's company's portal users, active first."""
    if not can_manage_company_users(admin):
        abort(404)
    return list(
        db.session.scalars(
            select(User)
            .where(User.client_id == admin.client_id, User.role == Role.CLIENT)
            .order_by(User.active.desc(), User.name, User.id)
        )
    )


def get_company_user_or_404(admin: User, user_id: int) -> User:
    """A user of the admin's own company; 404 for anyone else's, so ids are not confirmed."""
    if not can_manage_company_users(admin):
        abort(404)
    user = db.session.scalar(
        select(User).where(
            User.id == user_id, User.client_id == admin.client_id, User.role == Role.CLIENT
        )
    )
    if user is None:
        abort(404)
    return user


#: The one answer to every invitation, whoever the address belongs to.
INVITE_ANSWER = _l("An invitation was sent to %(email)s if the address can be invited.")


class InviteLimitReached(AccountError):
    """The company sent INVITES_PER_COMPANY_PER_HOUR invitations this hour."""


def _count_invite(admin: User, now: datetime) -> None:
    """Count one invitation attempt for the admin's company; refuse past the hourly limit."""
    limit = int(current_app.config.get("INVITES_PER_COMPANY_PER_HOUR", 20))
    prefix = f"portal-invite:{admin.client_id}:{int(now.timestamp()) // 3600}:"
    used = db.session.scalar(
        select(func.count()).select_from(SentNotification)
        .where(SentNotification.key.startswith(prefix, autoescape=True))
    ) or 0
    if used >= limit:
        raise InviteLimitReached(
            _l("Your company sent %(n)d invitations in the last hour. Try again later.", n=limit))
    db.session.add(SentNotification(key=f"{prefix}{secrets.token_hex(8)}", sent_at=now))
    db.session.flush()


def invite_user(admin: User, *, email: str, name: str, portal_role: str) -> User | None:
    """Create (or bring back) a company user with no password; the caller mails the link.

    None for an address that belongs to staff or to another company: the caller gives the same
    answer as for a sent invitation (INVITE_ANSWER), so the form tells nobody whose it is.
    """
    if not can_manage_company_users(admin):
        abort(404)
    email = email.strip().lower()
    name = name.strip()
    if not _EMAIL_RE.match(email) or len(email) > 254:
        raise AccountError(_l("Enter a valid email address."))
    if portal_role not in [r.value for r in INVITABLE_ROLES]:
        raise AccountError(_l("Choose a role."))
    _count_invite(admin, utcnow())
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None:
        same_company = existing.role == Role.CLIENT and existing.client_id == admin.client_id
        if not same_company:
            log.info("invitation of %s by %s not sent: not this company's address", email,
                     admin.email)
            return None
        if existing.active:
            raise AccountError(_l("This person already has access."))
        before = snapshot(existing, AUDITED_FIELDS)
        existing.active = True
        existing.name = name or existing.name
        existing.portal_role = portal_role
        existing.password_hash = None
        db.session.flush()
        record(existing, "invite", user=admin, before=before,
               after=snapshot(existing, AUDITED_FIELDS))
        return existing
    user = User(
        email=email,
        name=name or email.split("@")[0],
        role=Role.CLIENT,
        client_id=admin.client_id,
        portal_role=portal_role,
        password_hash=None,
        active=True,
    )
    db.session.add(user)
    db.session.flush()
    record(user, "invite", user=admin, after=snapshot(user, AUDITED_FIELDS))
    return user


def remove_user(admin: User, user: User) -> None:
    """Take away a company user's access: no sign-in, no links, no API tokens."""
    if not can_manage_company_users(admin) or user.client_id != admin.client_id:
        abort(404)
    if user.id == admin.id:
        raise AccountError(_l("You cannot remove yourself."))
    before = snapshot(user, AUDITED_FIELDS)
    user.active = False
    user.password_hash = None
    revoke_links(user)
    end_all_sessions(user)
    db.session.execute(
        update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True)
    )
    db.session.flush()
    record(user, "remove", user=admin, before=before, after=snapshot(user, AUDITED_FIELDS))
