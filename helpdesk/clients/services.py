"""Client companies, their mail domains and contacts: the rules every edge (page, CLI, API) calls.

Functions take the acting user, flush and never commit. Bad input raises :class:`FieldError`
before anything is changed, so nothing is half-saved.
"""

from __future__ import annotations

from datetime import date

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_mail import Message
from sqlalchemy import func, or_, select, update

from ..audit_log.record import record, snapshot
from ..auth.links import revoke_links
from ..extensions import db
from ..models import (
    OPEN_STATUSES,
    ApiToken,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    PortalRole,
    Role,
    Ticket,
    TimeEntry,
    User,
    utcnow,
)
from .validate import (
    EmailError,
    FieldError,
    check_country,
    check_language,
    check_timezone,
    clean_domain,
    clean_email,
    clean_phone,
)

CLIENT_FIELDS = ("name", "tax_id", "country", "timezone", "language", "account_manager_id",
                 "warranty_until", "notes", "archived_at")
CONTACT_FIELDS = ("client_id", "name", "language", "is_primary", "active")


# -- rights ---------------------------------------------------------------------------------


def can_manage_client(user: User, client: Client) -> bool:
    """Admins any client; an account manager the clients they look after."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.ACCOUNT_MANAGER and client.account_manager_id == user.id


def can_edit_client_record(user: User) -> bool:
    """The client's own record (name, domains, manager, archive): admins only."""
    return user.role == Role.ADMIN


# -- clients --------------------------------------------------------------------------------


def _clean_client(values: dict, client: Client | None) -> dict:
    out: dict = {}
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            raise FieldError("name", str(_l("Please give the client's name.")))
        if len(name) > 200:
            raise FieldError("name", str(_l("At most 200 characters.")))
        # SQLite's lower() folds ASCII only: the exact name is looked for too (it is unique).
        other = db.session.scalar(select(Client).where(
            or_(Client.name == name, func.lower(Client.name) == name.lower())).limit(1))
        if other is not None and other is not client:
            raise FieldError("name", str(_l("A client named %(name)s exists already (id %(id)s).",
                                            name=other.name, id=other.id)))
        out["name"] = name
    for key, check, upper in (("country", check_country, True),
                              ("timezone", check_timezone, False),
                              ("language", check_language, False)):
        if key in values:
            value = (values[key] or "").strip()
            value = value.upper() if upper else value
            msg = check(value)
            if msg:
                raise FieldError(key, msg)
            out[key] = value
    if "account_manager" in values:
        manager = values["account_manager"]
        if manager is not None and (manager.role != Role.ACCOUNT_MANAGER and
                                    manager.role != Role.ADMIN or not manager.active):
            raise FieldError("account_manager",
                             str(_l("%(email)s is not an active account manager.",
                                    email=manager.email)))
        out["account_manager_id"] = manager.id if manager is not None else None
    for key in ("tax_id", "notes"):
        if key in values:
            out[key] = (values[key] or "").strip() or None
    if "tax_id" in out and out["tax_id"] and len(out["tax_id"]) > 40:
        raise FieldError("tax_id", str(_l("At most 40 characters.")))
    if "warranty_until" in values:
        out["warranty_until"] = values["warranty_until"]
    return out


def _unique_values(raws, field: str, clean, owner_of, mine, taken, *, key=lambda v: v,
                   errors: type[Exception] = ValueError) -> list:
    """Each non-blank raw value cleaned, once; refused (``taken(value, other)``) when another
    owner than ``mine`` already has it. Domains, contact emails and phone numbers share this."""
    cleaned: list = []
    for raw in raws:
        if not (raw or "").strip():
            continue
        try:
            value = clean(raw)
        except errors as exc:
            raise FieldError(field, str(exc)) from None
        if key(value) in {key(v) for v in cleaned}:
            continue
        other = owner_of(key(value))
        if other is not None and other is not mine:
            raise FieldError(field, taken(value, other))
        cleaned.append(value)
    return cleaned


def _clean_domains(domains, client: Client | None) -> list[str]:
    return _unique_values(
        domains, "domains", clean_domain,
        lambda domain: db.session.scalar(
            select(Client).join(ClientDomain).where(ClientDomain.domain == domain)),
        client,
        lambda domain, owner: str(_l(
            "The domain %(domain)s belongs to another client: %(name)s (id %(id)s).",
            domain=domain, name=owner.name, id=owner.id)))


def create_client(actor: User | None, *, name: str, domains=(), country: str = "RS",
                  timezone: str = "Europe/Belgrade", language: str = "sr_Latn",
                  account_manager: User | None = None, tax_id: str | None = None,
                  warranty_until: date | None = None, notes: str | None = None) -> Client:
    values = _clean_client({"name": name, "country": country, "timezone": timezone, "language": language,
                                "account_manager": account_manager, "tax_id": tax_id,
                                "warranty_until": warranty_until, "notes": notes}, None)
    cleaned = _clean_domains(domains, None)
    client = Client(**values)
    db.session.add(client)
    db.session.flush()
    for domain in cleaned:
        db.session.add(ClientDomain(client_id=client.id, domain=domain))
    db.session.flush()
    after = snapshot(client, CLIENT_FIELDS) | {"domains": cleaned}
    record(client, "create", user=actor, after=after)
    return client


def update_client(actor: User | None, client: Client, *, domains=None, **fields) -> Client:
    values = _clean_client(fields, client)
    cleaned = _clean_domains(domains, client) if domains is not None else None
    before = snapshot(client, CLIENT_FIELDS) | {"domains": sorted(d.domain for d in client.domains)}
    for key, value in values.items():
        setattr(client, key, value)
    if cleaned is not None:
        keep = set(cleaned)
        for row in list(client.domains):
            if row.domain not in keep:
                client.domains.remove(row)
        db.session.flush()
        have = {d.domain for d in client.domains}
        for domain in cleaned:
            if domain not in have:
                client.domains.append(ClientDomain(domain=domain))
    db.session.flush()
    after = snapshot(client, CLIENT_FIELDS) | {"domains": sorted(d.domain for d in client.domains)}
    if after != before:
        record(client, "update", user=actor, before=before, after=after)
    return client


def open_ticket_count(client: Client) -> int:
    return db.session.scalar(
        select(func.count(Ticket.id)).where(Ticket.client_id == client.id,
                                            Ticket.status.in_(OPEN_STATUSES))
    ) or 0


def archive_client(actor: User | None, client: Client, *, confirm: bool = False) -> Client:
    """Archive: no new contracts or tickets; history stays readable. Open tickets need ``confirm``."""
    if client.archived_at is not None:
        raise FieldError("archive", str(_l("%(name)s is archived already.", name=client.name)))
    count = open_ticket_count(client)
    if count and not confirm:
        raise FieldError("archive", str(_l(
            "%(name)s has %(count)s open tickets. They stay open and readable after archiving; "
            "confirm to archive anyway.", name=client.name, count=count)), confirm=True)
    before = snapshot(client, CLIENT_FIELDS)
    client.archived_at = utcnow()
    db.session.flush()
    record(client, "archive", user=actor, before=before, after=snapshot(client, CLIENT_FIELDS))
    return client


def unarchive_client(actor: User | None, client: Client) -> Client:
    before = snapshot(client, CLIENT_FIELDS)
    client.archived_at = None
    db.session.flush()
    record(client, "unarchive", user=actor, before=before, after=snapshot(client, CLIENT_FIELDS))
    return client


def delete_client(actor: User | None, client: Client) -> None:
    """Only a client with no tickets and no time ever goes away; the others are archived."""
    has_history = db.session.scalar(select(Ticket.id).where(Ticket.client_id == client.id)
                                     .limit(1)) or db.session.scalar(
        select(TimeEntry.id).where(TimeEntry.client_id == client.id).limit(1))
    if has_history or client.contracts:
        raise FieldError("delete", str(_l(
            "%(name)s has tickets, time or contracts: archive it instead.", name=client.name)))
    record(client, "delete", user=actor, before=snapshot(client, CLIENT_FIELDS))
    db.session.delete(client)
    db.session.flush()


def require_not_archived(client: Client, field: str = "client") -> None:
    if client.archived_at is not None:
        raise FieldError(field, str(_l("%(name)s is archived: no new contracts or tickets.",
                                       name=client.name)))


# -- contacts -------------------------------------------------------------------------------


def _clean_contact_lists(emails, phones, contact: Contact | None) -> tuple[list[str], list]:
    clean_emails = _unique_values(
        emails, "emails", clean_email,
        lambda email: db.session.scalar(
            select(Contact).join(ContactEmail).where(ContactEmail.email == email)),
        contact,
        lambda email, other: str(_l(
            "%(email)s is already the address of %(name)s (%(client)s).",
            email=email, name=other.name, client=other.client.name)),
        errors=EmailError)
    code = current_app.config.get("PHONE_COUNTRY_CODE", "381")
    clean_phones = _unique_values(
        phones, "phones", lambda raw: clean_phone(raw, code),
        lambda digits: db.session.scalar(
            select(Contact).join(ContactPhone).where(ContactPhone.normalized == digits)),
        contact,
        lambda phone, other: str(_l(
            "%(number)s is already the number of %(name)s (%(client)s).",
            number=phone[0], name=other.name, client=other.client.name)),
        key=lambda phone: phone[1])
    return clean_emails, clean_phones


def _contact_after(contact: Contact) -> dict:
    return snapshot(contact, CONTACT_FIELDS) | {
        "emails": [e.email for e in contact.emails],
        "phones": [p.number for p in contact.phones],
    }


def add_contact(actor: User | None, client: Client, *, name: str | None, emails=(), phones=(),
                language: str | None = None, is_primary: bool = False) -> Contact:
    emails_c, phones_c = _clean_contact_lists(emails, phones, None)
    if not emails_c and not phones_c:
        raise FieldError("emails", str(_l("Give at least one email address or phone number.")))
    if language:
        msg = check_language(language)
        if msg:
            raise FieldError("language", msg)
    name = (name or "").strip() or (emails_c[0].split("@")[0] if emails_c else phones_c[0][0])
    contact = Contact(client_id=client.id, name=name[:200], language=language or None,
                      is_primary=is_primary, active=True)
    db.session.add(contact)
    for email in emails_c:
        contact.emails.append(ContactEmail(email=email))
    for number, digits in phones_c:
        contact.phones.append(ContactPhone(number=number, normalized=digits))
    db.session.flush()
    record(contact, "create", user=actor, after=_contact_after(contact))
    return contact


def update_contact(actor: User | None, contact: Contact, *, name: str, emails, phones,
                   language: str | None = None, is_primary: bool = False) -> Contact:
    emails_c, phones_c = _clean_contact_lists(emails, phones, contact)
    if not emails_c and not phones_c:
        raise FieldError("emails", str(_l("Give at least one email address or phone number.")))
    if language:
        msg = check_language(language)
        if msg:
            raise FieldError("language", msg)
    if not (name or "").strip():
        raise FieldError("name", str(_l("Please give the contact's name.")))
    before = _contact_after(contact)
    contact.name = name.strip()[:200]
    contact.language = language or None
    contact.is_primary = is_primary
    for row in [e for e in contact.emails if e.email not in emails_c]:
        contact.emails.remove(row)
    for row in [p for p in contact.phones if p.normalized not in {d for _, d in phones_c}]:
        contact.phones.remove(row)
    db.session.flush()
    have = {e.email for e in contact.emails}
    contact.emails.extend(ContactEmail(email=e) for e in emails_c if e not in have)
    have_p = {p.normalized for p in contact.phones}
    contact.phones.extend(ContactPhone(number=n, normalized=d) for n, d in phones_c
                          if d not in have_p)
    db.session.flush()
    after = _contact_after(contact)
    if after != before:
        record(contact, "update", user=actor, before=before, after=after)
    return contact


def portal_user(contact: Contact) -> User | None:
    emails = [e.email for e in contact.emails]
    if not emails:
        return None
    return db.session.scalar(select(User).where(User.email.in_(emails), User.role == Role.CLIENT,
                                                User.client_id == contact.client_id))


def deactivate_contact(actor: User | None, contact: Contact) -> Contact:
    """No longer matched or mailed, portal access ends; tickets and time stay."""
    before = _contact_after(contact)
    contact.active = False
    contact.is_primary = False
    user = portal_user(contact)
    if user is not None and user.active:
        revoke_portal(actor, user)
    db.session.flush()
    record(contact, "deactivate", user=actor, before=before, after=_contact_after(contact))
    return contact


def grant_portal(actor: User, contact: Contact, role: str) -> tuple[User, Message]:
    """Invite the contact to the portal with ``role``; returns the user and the mail to send
    once the request has committed."""
    from ..auth.accounts import AUDITED_FIELDS, invite_message

    if role not in PortalRole.values():
        raise FieldError("portal_role", str(_l("Choose a role.")))
    if not contact.emails:
        raise FieldError("portal_role", str(_l("The contact needs an email address first.")))
    if not contact.active:
        raise FieldError("portal_role", str(_l("The contact is deactivated.")))
    require_not_archived(contact.client, "portal_role")
    email = contact.emails[0].email
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None and (user.role != Role.CLIENT or user.client_id != contact.client_id):
        raise FieldError("portal_role", str(_l(
            "%(email)s is already an account of someone else.", email=email)))
    if user is None:
        user = User(email=email, name=contact.name, role=Role.CLIENT, client_id=contact.client_id,
                    portal_role=role, language=contact.language, password_hash=None, active=True)
        db.session.add(user)
        db.session.flush()
        record(user, "invite", user=actor, after=snapshot(user, AUDITED_FIELDS))
    else:
        before = snapshot(user, AUDITED_FIELDS)
        user.portal_role = role
        if not user.active:
            user.active = True
            user.password_hash = None
        db.session.flush()
        record(user, "invite", user=actor, before=before, after=snapshot(user, AUDITED_FIELDS))
    return user, invite_message(user, actor)


def set_portal_role(actor: User, user: User, role: str) -> User:
    from ..auth.accounts import AUDITED_FIELDS

    if role not in PortalRole.values():
        raise FieldError("portal_role", str(_l("Choose a role.")))
    before = snapshot(user, AUDITED_FIELDS)
    user.portal_role = role
    db.session.flush()
    record(user, "update", user=actor, before=before, after=snapshot(user, AUDITED_FIELDS))
    return user


def revoke_portal(actor: User | None, user: User) -> User:
    from ..auth.accounts import AUDITED_FIELDS
    before = snapshot(user, AUDITED_FIELDS)
    user.active = False
    user.password_hash = None
    revoke_links(user)
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True))
    db.session.flush()
    record(user, "remove", user=actor, before=before, after=snapshot(user, AUDITED_FIELDS))
    return user
