"""Staff rules shared by the admin pages, ``flask staff`` and the API. Flush, never commit."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_mail import Message
from sqlalchemy import func, select, update

from ..audit_log.record import record, snapshot
from ..auth.links import revoke_links
from ..clients.validate import EmailError, FieldError, check_language, clean_email
from ..extensions import db
from ..models import STAFF_ROLES, ApiToken, Client, Role, User

STAFF_FIELDS = ("email", "name", "role", "language", "extension", "logmein_email", "active")
MIN_PASSWORD_LENGTH = 10


def _clean(values: dict, user: User | None) -> dict:
    out: dict = {}
    if "email" in values:
        try:
            email = clean_email(values["email"])
        except EmailError as exc:
            raise FieldError("email", str(exc)) from None
        other = db.session.scalar(select(User).where(User.email == email))
        if other is not None and other is not user:
            raise FieldError("email", str(_l("%(email)s has an account already.", email=email)))
        out["email"] = email
    if "role" in values:
        if values["role"] not in [r.value for r in STAFF_ROLES]:
            raise FieldError("role", str(_l("Choose agent, account manager or admin.")))
        out["role"] = values["role"]
    if "name" in values:
        name = (values["name"] or "").strip()
        if len(name) > 200:
            raise FieldError("name", str(_l("At most 200 characters.")))
        out["name"] = name or None
    if "language" in values:
        lang = (values["language"] or "").strip() or None
        if lang:
            msg = check_language(lang)
            if msg:
                raise FieldError("language", msg)
        out["language"] = lang
    if "extension" in values:
        ext = (values["extension"] or "").strip() or None
        if ext is not None:
            if not ext.isdigit() or len(ext) > 20:
                raise FieldError("extension", str(_l("An extension is digits only, e.g. 201.")))
            other = db.session.scalar(select(User).where(User.extension == ext))
            if other is not None and other is not user:
                raise FieldError("extension", str(_l("Extension %(ext)s is %(name)s's already.",
                                                     ext=ext, name=other.name)))
        out["extension"] = ext
    if "logmein_email" in values:
        raw = (values["logmein_email"] or "").strip()
        lmi = None
        if raw:
            try:
                lmi = clean_email(raw)
            except EmailError as exc:
                raise FieldError("logmein_email", str(exc)) from None
            other = db.session.scalar(select(User).where(User.logmein_email == lmi))
            if other is not None and other is not user:
                raise FieldError("logmein_email", str(_l(
                    "%(email)s is the LogMeIn address of %(name)s already.",
                    email=lmi, name=other.name)))
        out["logmein_email"] = lmi
    return out


def check_password(password: str | None) -> None:
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise FieldError("password", str(_l("The password needs at least %(n)s characters.",
                                            n=MIN_PASSWORD_LENGTH)))


def create_staff(actor: User | None, *, email: str, role: str, name: str | None = None,
                 language: str | None = None, extension: str | None = None,
                 logmein_email: str | None = None, password: str | None = None) -> User:
    """A staff account; without a password the person sets one from a reset link."""
    values = _clean({"email": email, "role": role, "name": name, "language": language,
                         "extension": extension, "logmein_email": logmein_email}, None)
    check_password(password)
    values["name"] = values["name"] or values["email"].split("@")[0]
    user = User(active=True, **values)
    if password:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record(user, "create", user=actor, after=snapshot(user, STAFF_FIELDS))
    return user


def update_staff(actor: User | None, user: User, **fields) -> User:
    if not user.is_staff:
        raise FieldError("email", str(_l("Not a staff account.")))
    values = _clean(fields, user)
    if "name" in values and not values["name"]:
        raise FieldError("name", str(_l("Please give the name.")))
    if user.role == Role.ADMIN and values.get("role", Role.ADMIN) != Role.ADMIN:
        _keep_one_admin(user)
    before = snapshot(user, STAFF_FIELDS)
    for key, value in values.items():
        setattr(user, key, value)
    db.session.flush()
    after = snapshot(user, STAFF_FIELDS)
    if after != before:
        record(user, "update", user=actor, before=before, after=after)
    return user


def _keep_one_admin(user: User) -> None:
    others = db.session.scalar(select(func.count(User.id)).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != user.id))
    if not others:
        raise FieldError("role", str(_l("This is the only active admin: make another admin "
                                        "first.")))


def deactivate_staff(actor: User | None, user: User) -> User:
    """No more sign-in or API access; tickets, time and history keep the person's name."""
    if not user.is_staff:
        raise FieldError("email", str(_l("Not a staff account.")))
    if not user.active:
        raise FieldError("active", str(_l("%(email)s is deactivated already.", email=user.email)))
    if user.role == Role.ADMIN:
        _keep_one_admin(user)
    before = snapshot(user, STAFF_FIELDS)
    user.active = False
    revoke_links(user)
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))
    managed = db.session.scalar(select(func.count(Client.id)).where(
        Client.account_manager_id == user.id, Client.archived_at.is_(None)))
    db.session.flush()
    record(user, "deactivate", user=actor, before=before,
           after=snapshot(user, STAFF_FIELDS) | {"clients_managed": managed})
    return user


def reactivate_staff(actor: User | None, user: User) -> User:
    before = snapshot(user, STAFF_FIELDS)
    user.active = True
    db.session.flush()
    record(user, "reactivate", user=actor, before=before, after=snapshot(user, STAFF_FIELDS))
    return user


def reset_link(actor: User, user: User) -> Message:
    """The password-reset mail for a staff member (sent after the commit)."""
    from ..auth.accounts import reset_message

    if not user.active:
        raise FieldError("active", str(_l("%(email)s is deactivated.", email=user.email)))
    record(user, "password_reset_sent", user=actor, after={"email": user.email})
    return reset_message(user)


def staff_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == (email or "").strip().lower(),
                                                User.role.in_([r.value for r in STAFF_ROLES])))
