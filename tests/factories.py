"""Factories for tests: each returns a flushed object with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from helpdesk.extensions import db
from helpdesk.models import (
    Addon,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Contract,
    ContractAddon,
    ContractChange,
    Package,
    PortalRole,
    Role,
    User,
)
from helpdesk.pricelist.catalogue import ensure_catalogue

PASSWORD = "secret-pass-1"
_seq = itertools.count(1)


class Factory:
    def __init__(self) -> None:
        ensure_catalogue()
        db.session.commit()

    def package(self, code: str) -> Package:
        return db.session.query(Package).filter_by(code=code).one()

    def addon(self, code: str) -> Addon:
        return db.session.query(Addon).filter_by(code=code).one()

    def user(self, role: str = Role.AGENT, *, email: str | None = None, client: Client | None = None,
             portal_role: str | None = None, password: str = PASSWORD, **kw) -> User:
        n = next(_seq)
        u = User(email=email or f"{role}{n}@example.test", name=kw.pop("name", f"{role} {n}"),
                 role=role, client_id=client.id if client else None,
                 portal_role=(portal_role or PortalRole.MEMBER) if role == Role.CLIENT else None,
                 **kw)
        u.set_password(password)
        db.session.add(u)
        db.session.flush()
        return u

    def client(self, name: str | None = None, *, country: str = "RS",
               timezone: str = "Europe/Belgrade", language: str = "sr_Latn",
               domain: str | None = None, manager: User | None = None, **kw) -> Client:
        n = next(_seq)
        c = Client(name=name or f"Client {n}", country=country, timezone=timezone,
                   language=language, account_manager_id=manager.id if manager else None, **kw)
        db.session.add(c)
        db.session.flush()
        if domain:
            db.session.add(ClientDomain(client_id=c.id, domain=domain))
        db.session.flush()
        return c

    def contact(self, client: Client, email: str | None = None, phone: str | None = None,
                name: str = "Contact Person", normalized: str | None = None) -> Contact:
        ct = Contact(client_id=client.id, name=name, is_primary=True)
        if email:
            ct.emails.append(ContactEmail(email=email.lower()))
        if phone:
            digits = normalized or "".join(ch for ch in phone if ch.isdigit())
            ct.phones.append(ContactPhone(number=phone, normalized=digits))
        db.session.add(ct)
        db.session.flush()
        return ct

    def contract(self, client: Client, package: str = "standard", *, status: str = "active",
                 start: date | None = None, end: date | None = None,
                 addons: tuple[str, ...] = ()) -> Contract:
        start = start or date.today() - timedelta(days=400)
        pkg = self.package(package)
        c = Contract(client_id=client.id, package_id=pkg.id, status=status, start_date=start,
                     end_date=end)
        c.changes.append(ContractChange(effective_date=start, kind="start", package_id=pkg.id))
        for code in addons:
            c.addons.append(ContractAddon(addon_id=self.addon(code).id, start_date=start))
        db.session.add(c)
        db.session.flush()
        return c
