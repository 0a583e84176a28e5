"""A realistic demo data set: the price list, staff, ten clients in every contract situation, and
tickets, messages and time entries of the last three months and the current one, dated relative
to the day it is loaded (so a fresh ``make run`` shows a live month). The two oldest months are
reviewed and closed (final reports), last month still waits for the review of its out-of-hours
work (the close rule), the current month is running. Deterministic, and loaded once."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from .accounting.closing import close_month, unreviewed_entries
from .accounting.ledger import log_entry, review_entry
from .extensions import db
from .models import (
    Addon,
    Channel,
    Client,
    ClientDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Contract,
    ContractAddon,
    ContractChange,
    Counter,
    Direction,
    EntrySource,
    Package,
    PortalRole,
    Priority,
    Role,
    TicketStatus,
    User,
)
from .pricelist.catalogue import ensure_catalogue
from .tickets.services import add_article, create_ticket, set_status

DEMO_PASSWORD = "demo-pass-2026"
MARKER = "demo_loaded"

STAFF = (
    ("admin@helpdesk.example", "Ana Admin", Role.ADMIN, "en"),
    ("marko@helpdesk.example", "Marko Petrović", Role.AGENT, "sr_Latn"),
    ("ayse@helpdesk.example", "Ayşe Yılmaz", Role.AGENT, "tr"),
    ("jelena@helpdesk.example", "Jelena Jovanović", Role.ACCOUNT_MANAGER, "sr_Latn"),
    ("mehmet@helpdesk.example", "Mehmet Demir", Role.ACCOUNT_MANAGER, "tr"),
)

# name, country, zone, language, domain, contact, phone, package, status, addons, manager
CLIENTS = (
    ("Jugodrvo d.o.o.", "RS", "Europe/Belgrade", "sr_Latn", "jugodrvo.rs", "Dragan Nikolić",
     "+381 11 3221 456", "standard", "active", ("cloud_backup",), "jelena"),
    ("Pekara Čubura", "RS", "Europe/Belgrade", "sr_Latn", "pekara-cubura.rs", "Milica Šarić",
     "+381 64 123 4567", "basic", "active", (), "jelena"),
    ("Novi Sad Logistika a.d.", "RS", "Europe/Belgrade", "sr_Latn", "nslogistika.rs",
     "Đorđe Živković", "+381 21 455 900", "extended", "active", ("oncall", "cloud_backup"),
     "jelena"),
    ("Anadolu Tekstil A.Ş.", "TR", "Europe/Istanbul", "tr", "anadolutekstil.com.tr",
     "Şükrü Öztürk", "+90 212 555 1020", "standard", "active", (), "mehmet"),
    ("İzmir Lojistik Ltd. Şti.", "TR", "Europe/Istanbul", "tr", "izmirlojistik.com.tr",
     "Gülşen Çağlar", "+90 232 444 7788", "extended", "active", ("oncall",), "mehmet"),
    ("Kragujevac Auto d.o.o.", "RS", "Europe/Belgrade", "sr_Latn", "kgauto.rs", "Nenad Ilić",
     "+381 34 300 200", "standard", "trial", (), "jelena"),
    ("Niš Farm d.o.o.", "RS", "Europe/Belgrade", "sr_Latn", "nisfarm.rs", "Ivana Stojanović",
     "+381 18 520 520", "basic", "expired", (), "jelena"),
    ("Subotica Foods", "RS", "Europe/Belgrade", "sr_Latn", "suboticafoods.rs", "Lajos Kovač",
     "+381 24 555 111", None, None, (), "jelena"),
    ("Balkan Travel d.o.o.", "RS", "Europe/Belgrade", "en", "balkantravel.rs", "Petar Marković",
     "+381 11 7700 800", "standard", "active", (), "jelena"),
    ("Danube Shipping Ltd", "GB", "Europe/London", "en", "danubeshipping.co.uk", "Emma Clarke",
     "+44 20 7946 0018", "basic", "active", ("cloud_backup",), "mehmet"),
)

SUBJECTS = {
    "sr_Latn": ["Ne radi štampanje faktura", "Greška pri prijavi u program", "Spor rad baze",
                "Zahtev za novi izveštaj", "Problem sa backup-om", "Ažuriranje cenovnika",
                "Pitanje o PDV obračunu", "Ne mogu da izvezem u Excel", "Zaključavanje dokumenta",
                "Instalacija na novom računaru"],
    "tr": ["Fatura yazdırılamıyor", "Programa giriş hatası", "Veritabanı çok yavaş",
           "Yeni rapor talebi", "Yedekleme sorunu", "Fiyat listesi güncellemesi",
           "KDV hesaplaması hakkında soru", "Excel'e aktarılamıyor", "Belge kilitlenmesi",
           "Yeni bilgisayara kurulum"],
    "en": ["Invoices do not print", "Login error in the application", "Database is slow",
           "Request for a new report", "Backup problem", "Price list update",
           "Question about VAT calculation", "Cannot export to Excel", "Document locked",
           "Installation on a new computer"],
}


@dataclass
class DemoSummary:
    created: bool
    counts: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        if not self.created:
            return "demo data already loaded: nothing changed"
        return "demo data loaded: " + ", ".join(f"{v} {k}" for k, v in self.counts.items())


def _first_of_month(d: date, back: int) -> date:
    y, m = d.year, d.month - back
    while m <= 0:
        m += 12
        y -= 1
    return date(y, m, 1)


def _logins() -> list[tuple[str, str]]:
    rows = [(str(r), e) for e, _n, r, _l in STAFF]
    rows.append(("client (admin)", "dragan@jugodrvo.rs"))
    rows.append(("client (subagent)", "partner@jugodrvo.rs"))
    rows.append(("client (admin)", "sukru@anadolutekstil.com.tr"))
    return rows


def load_demo(now: datetime | None = None, seed: int = 2026) -> DemoSummary:
    """Load everything once; a second call sees the marker and changes nothing."""
    if db.session.get(Counter, MARKER) is not None:
        return DemoSummary(created=False, logins=_logins())
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    ensure_catalogue()
    packages = {p.code: p for p in db.session.scalars(select(Package))}
    addons = {a.code: a for a in db.session.scalars(select(Addon))}

    staff = {}
    for email, name, role, lang in STAFF:
        user = User(email=email, name=name, role=role, language=lang)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        staff[email.split("@")[0]] = user
    db.session.flush()
    agents = [staff["marko"], staff["ayse"]]

    today = now.date()
    start3 = _first_of_month(today, 3)
    clients: list[tuple[Client, Contact, str]] = []
    for (name, country, tz, lang, domain, contact_name, phone, pkg, status, addon_codes,
         manager) in CLIENTS:
        client = Client(name=name, country=country, timezone=tz, language=lang,
                        account_manager_id=staff[manager].id)
        db.session.add(client)
        db.session.flush()
        db.session.add(ClientDomain(client_id=client.id, domain=domain))
        local = contact_name.split()[0].lower()
        local = local.translate(str.maketrans("čćšžđşğıöüçİ", "ccszdsgioüci")).replace("ü", "u")
        contact = Contact(client_id=client.id, name=contact_name, is_primary=True)
        contact.emails.append(ContactEmail(email=f"{local}@{domain}"))
        digits = "".join(ch for ch in phone if ch.isdigit())
        contact.phones.append(ContactPhone(number=phone, normalized=digits))
        db.session.add(contact)
        if name == "Subotica Foods":
            client.warranty_until = today + timedelta(days=200)
        if pkg is not None:
            _demo_contract(client, packages, addons, pkg, status, addon_codes, today, start3)
        clients.append((client, contact, lang))
    db.session.flush()

    # Client users: an admin per company for the first few, and a sub-agent.
    jugodrvo, anadolu = clients[0], clients[3]
    for (client, contact, lang), email, prole in (
        (jugodrvo, "dragan@jugodrvo.rs", PortalRole.ADMIN),
        (jugodrvo, "partner@jugodrvo.rs", PortalRole.SUBAGENT),
        (anadolu, "sukru@anadolutekstil.com.tr", PortalRole.ADMIN),
    ):
        user = User(email=email, name=contact.name if prole == PortalRole.ADMIN else
                    "Partner agencija", role=Role.CLIENT, client_id=client.id,
                    portal_role=prole, language=lang)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        if prole == PortalRole.SUBAGENT:
            partner = user
    db.session.flush()

    counts = {"tickets": 0, "articles": 0, "time entries": 0}
    entry_no = 0
    for i in range(300):
        client, contact, lang = clients[i % len(clients)]
        zone = ZoneInfo(client.timezone)
        day = _demo_day(today, (3, 2, 1, 0)[i % 4], rng)
        opened = datetime.combine(day, time(rng.randrange(7, 17), rng.randrange(60)), zone)
        opened = opened.astimezone(UTC)
        if opened >= now - timedelta(hours=1):
            opened = now - timedelta(hours=rng.randrange(2, 48))
        priority = rng.choices(Priority.values(), weights=[2, 10, 3, 1])[0]
        subject = rng.choice(SUBJECTS[lang])
        email = contact.email
        by_partner = client.id == jugodrvo[0].id and i % 3 == 0
        ticket = create_ticket(subject=subject, client_id=client.id, contact_id=contact.id,
                               channel=Channel.EMAIL, priority=priority, requester_email=email,
                               requester_name=contact.name, created_at=opened, actor="demo",
                               opened_by=partner if by_partner else None)
        ticket.assignee_id = rng.choice(agents).id if rng.random() < 0.8 else None
        domain = email.split("@")[1]
        add_article(ticket, direction=Direction.IN, from_addr=f"{contact.name} <{email}>",
                    to_addrs="support@helpdesk.example", subject=subject,
                    message_id=f"<demo-{i}-0@{domain}>",
                    body_text=f"{subject}.\n\n{contact.name}", created_at=opened)
        counts["tickets"] += 1
        counts["articles"] += 1
        age_hours = (now - opened).total_seconds() / 3600
        if age_hours > 3:
            agent = rng.choice(agents)
            reply_at = opened + timedelta(minutes=rng.randrange(20, min(int(age_hours * 60), 2000)))
            add_article(ticket, direction=Direction.OUT, author=agent,
                        from_addr="support@helpdesk.example", to_addrs=email,
                        subject=f"Re: {subject} {ticket.tag}",
                        message_id=f"<demo-{i}-1@helpdesk.example>",
                        body_text="Hvala, pogledaćemo." if lang == "sr_Latn" else
                        ("Teşekkürler, inceliyoruz." if lang == "tr" else
                         "Thank you, we are looking into it."), created_at=reply_at)
            counts["articles"] += 1
            # Time spent on it.
            for _ in range(rng.choice([0, 1, 1, 2])):
                kind = rng.choice(["remote", "phone", "phone", "email", "consulting"])
                start = reply_at + timedelta(minutes=rng.randrange(5, 240))
                if start >= now:
                    continue
                length = rng.choice([4, 9, 17, 25, 38, 52, 75])
                entry_no += 1
                log_entry(client=client, kind=kind, started_at=start,
                          ended_at=start + timedelta(minutes=length), ticket=ticket, agent=agent,
                          source=EntrySource.DEMO, external_ref=f"demo-{entry_no}",
                          note="demo", actor="demo")
                counts["time entries"] += 1
            if age_hours > 72 and rng.random() < 0.8:
                set_status(ticket, TicketStatus.RESOLVED, at=reply_at + timedelta(hours=2),
                           actor="demo")
                if rng.random() < 0.6:
                    set_status(ticket, TicketStatus.CLOSED, at=reply_at + timedelta(days=2),
                               actor="demo")
            elif rng.random() < 0.2:
                set_status(ticket, TicketStatus.PENDING, at=reply_at, actor="demo")
    _close_old_months(today, now, staff.get("jelena"))
    db.session.add(Counter(name=MARKER, value=1))
    db.session.flush()
    return DemoSummary(created=True, counts=counts, logins=_logins())


def _demo_day(today: date, back: int, rng: random.Random) -> date:
    """A working day of the month ``back`` months before today's (up to today in this month)."""
    first = _first_of_month(today, back)
    last = today if back == 0 else _first_of_month(today, back - 1) - timedelta(days=1)
    day = first + timedelta(days=rng.randrange((last - first).days + 1))
    while day.weekday() >= 5 and day > first:
        day -= timedelta(days=1)
    return day


def _close_old_months(today: date, now: datetime, manager: User | None) -> None:
    """The two oldest months reviewed and closed; last month left waiting for its review."""
    reviewer = manager or db.session.scalar(select(User).where(User.role == Role.ADMIN))
    for back in (3, 2):
        period = _first_of_month(today, back).strftime("%Y-%m")
        for entry in unreviewed_entries(period):
            review_entry(entry, user=reviewer, decision="approve", actor="demo")
        close_month(period, reviewer, now=now, actor="demo")


def _demo_contract(client, packages, addons, pkg, status, addon_codes, today, start3):
    if status == "trial":
        start, end = today - timedelta(days=10), today + timedelta(days=19)
    elif status == "expired":
        start, end = start3 - timedelta(days=365), today - timedelta(days=45)
    else:
        start = start3 - timedelta(days=200)
        end = start + timedelta(days=365 * 2 - 1)
    package = packages[pkg]
    contract = Contract(client_id=client.id, package_id=package.id, status=status,
                        start_date=start, end_date=end, renewal_date=end + timedelta(days=1),
                        auto_renew=status != "trial")
    contract.changes.append(ContractChange(effective_date=start, kind="start",
                                           package_id=package.id))
    if client.name == "Balkan Travel d.o.o.":
        # Upgraded from Basic to Standard in the middle of last month.
        contract.changes[0].package_id = packages["basic"].id
        mid_last = _first_of_month(today, 1) + timedelta(days=14)
        contract.changes.append(ContractChange(effective_date=mid_last, kind="upgrade",
                                               from_package_id=packages["basic"].id,
                                               package_id=package.id))
    for code in addon_codes:
        contract.addons.append(ContractAddon(addon_id=addons[code].id, start_date=start))
    db.session.add(contract)
