"""Benchmark of the agent console on a large helpdesk: queue, search, ticket page, client page,
dashboards.

Loads ``--tickets`` tickets (default 100,000) with ten messages each on average (1,000,000) and
``--entries-per-ticket`` time entries per ticket (default 10: 1,000,000) by bulk inserts
(executemany on SQLite, COPY on PostgreSQL), then times the pages over HTTP with the Flask test
client, logged in as an agent (who sees every client's figures on the dashboards).
The last line printed is one JSON object:

    {"queue_p50_ms": .., "queue_p95_ms": .., "search_p50_ms": .., "search_p95_ms": ..,
     "ticket_p50_ms": .., "ticket_p95_ms": .., "client_p50_ms": .., "client_p95_ms": ..,
     "dashboard_p50_ms": .., "dashboard_p95_ms": .., "sla_due_per_s": .., ...}

The dashboard case cycles through the four dashboard pages of the latest month (and, every
fifth request, one client's or one agent's view of them).

Usage:
    python bench/console.py                      # SQLite file in a temporary directory
    python bench/console.py --tickets 10000      # a quick run
    python bench/console.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench_console
    python bench/console.py --db sqlite:////tmp/big.db --reuse   # time an existing load again
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from helpdesk import create_app
from helpdesk.calendar.business import get_calendar
from helpdesk.extensions import db
from helpdesk.models import (
    PRIORITY_RANK,
    Client,
    Contract,
    ContractChange,
    Package,
    Role,
    Ticket,
    User,
)
from helpdesk.pricelist.catalogue import ensure_catalogue
from helpdesk.sla.clock import PRIORITY_FACTORS, due_at
from helpdesk.tickets import search

PASSWORD = "bench-pass-2026"
SEED = 2026
NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
SPAN_DAYS = 730
CHUNK = 20_000

#: Words agents and clients write, most frequent first (a Zipf law picks them).
COMMON = """
the to and a is of in it not we on you for this i with that have please are can be from
ne je da se na u i za problem ne radi molim hvala the printer invoice faktura program
bir ve bu da yazıcı fatura sorun lütfen teşekkürler çalışmıyor error hata greška server
backup update ažuriranje güncelleme database baza veritabanı report izveštaj rapor login
password lozinka şifre network mreža ağ email mail excel export izvoz pdf print štampač
štampanje windows računar bilgisayar kasa cash register fiscal fiskalni pos terminal
license licenca lisans install instalacija kurulum slow sporo yavaş crash pada çöküyor
screen ekran monitor scanner skener tarayıcı label etiketa barcode barkod stock zalihe
stok order porudžbina sipariş customer kupac müşteri supplier dobavljač tedarikçi price
cena fiyat vat pdv kdv tax porez vergi month mesec ay year godina yıl user korisnik
kullanıcı access pristup erişim remote daljinski uzak session sesija oturum call poziv
arama ticket tiket since od beri after posle sonra before pre önce today danas bugün
yesterday juče dün tomorrow sutra yarın morning jutro sabah again opet yine still još
hala cannot možemo yapamıyoruz works radi çalışıyor thank fala sağol office kancelarija
ofis branch filijala şube warehouse magacin depo sync sinhronizacija senkronizasyon
certificate sertifikat sertifika expired istekao süresi version verzija sürüm upgrade
nadogradnja yükseltme driver drajver sürücü toner kertridž kartuş paper papir kağıt
""".split()  # noqa: SIM905 - a paragraph of words reads better than a list
ERROR_CODES = [f"e{n:04d}" for n in range(1, 4000)]
SUBJECTS = [
    "Printer does not print invoices", "Ne radi štampanje faktura", "Yazıcı fatura basmıyor",
    "Backup failed last night", "Backup nije prošao", "Yedekleme başarısız",
    "Cannot log in", "Ne mogu da se ulogujem", "Giriş yapamıyorum",
    "Export to Excel fails", "Izvoz u Excel ne radi", "Excel'e aktarım hatası",
    "Fiscal printer error", "Greška fiskalnog štampača", "Slow database", "Spor rad baze",
    "Veritabanı yavaş", "License expired", "Licenca istekla", "Update question",
    "Pitanje o ažuriranju", "Güncelleme sorusu", "New computer installation",
    "Instalacija na novi računar", "Yeni bilgisayara kurulum", "VAT report wrong",
    "PDV izveštaj pogrešan", "KDV raporu hatalı", "Barcode scanner not working",
    "Skener barkoda ne radi", "Stock does not match", "Zalihe se ne slažu",
]
CLIENT_WORDS = (  # noqa: SIM905
    "Jugo Balkan Novi Beo Sava Dunav Morava Anadolu Ege Marmara Karadeniz Pekara "
    "Apoteka Drvo Tekstil Metal Trans Logistika Market Elektro Agro Farm Medika "
    "Gradnja Turist Optika Print Soft Data Auto Kafe").split()
CLIENT_FORMS = ("d.o.o.", "a.d.", "A.Ş.", "Ltd. Şti.", "doo", "preduzetnik")


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation, in the unit of ``values``."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# -- loading --------------------------------------------------------------------------------------


class Loader:
    """Bulk rows for one database: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def insert(self, table: str, columns: list[str], rows: Iterable[tuple]) -> int:
        columns, rows = _with_defaults(table, columns, rows)
        raw = self.engine.raw_connection()
        count = 0
        try:
            cur = raw.cursor()
            if self.dialect == "postgresql":
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            else:
                sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
                       f"VALUES ({', '.join('?' * len(columns))})")
                it = iter(rows)
                while batch := list(itertools.islice(it, CHUNK)):
                    cur.executemany(sql, [tuple(_sqlite_value(v) for v in r) for r in batch])
                    count += len(batch)
            raw.commit()
        finally:
            raw.close()
        return count


def _with_defaults(table: str, columns: list[str],
                   rows: Iterable[tuple]) -> tuple[list[str], Iterable[tuple]]:
    """Add the NOT NULL columns the bench does not set, with the model's scalar default, so a
    column added to the schema later does not break the raw load."""
    extra = [c for c in db.metadata.tables[table].columns
             if c.name not in columns and not c.nullable and not c.primary_key
             and c.server_default is None and c.default is not None and c.default.is_scalar]
    if not extra:
        return columns, rows
    values = tuple(c.default.arg for c in extra)
    return columns + [c.name for c in extra], (tuple(r) + values for r in rows)


def _sqlite_value(value):
    """What SQLAlchemy's DateTime stores on SQLite: naive UTC text with microseconds."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


class World:
    """The small tables, made with the ORM: packages, clients, contracts, staff."""

    def __init__(self, rng: random.Random, n_clients: int) -> None:
        ensure_catalogue()
        packages = {p.code: p for p in db.session.scalars(select(Package))}
        hashed = User(email="x", name="x", role=Role.AGENT)
        hashed.set_password(PASSWORD)  # hashing is slow on purpose: do it once, share the hash
        self.agents = []
        for i in range(20):
            u = User(email=f"agent{i}@vendor.example", name=f"Agent {i}", role=Role.AGENT,
                     password_hash=hashed.password_hash)
            db.session.add(u)
            self.agents.append(u)
        # The vendor's admin: without one every page sends people to the first-run setup.
        db.session.add(User(email="admin@vendor.example", name="Admin", role=Role.ADMIN,
                            password_hash=hashed.password_hash))
        managers = []
        for i in range(5):
            u = User(email=f"manager{i}@vendor.example", name=f"Manager {i}",
                     role=Role.ACCOUNT_MANAGER, password_hash=hashed.password_hash)
            db.session.add(u)
            managers.append(u)
        db.session.flush()
        self.clients: list[Client] = []
        #: client id -> (package code or None, zone, country)
        self.contract_of: dict[int, str | None] = {}
        names = set()
        start = (NOW - timedelta(days=SPAN_DAYS + 30)).date()
        for i in range(n_clients):
            turkish = rng.random() < 0.15
            while True:
                name = (f"{rng.choice(CLIENT_WORDS)} {rng.choice(CLIENT_WORDS)} "
                        f"{rng.choice(CLIENT_FORMS)}")
                if name not in names:
                    break
                name = f"{name} {i}"
                if name not in names:
                    break
            names.add(name)
            c = Client(name=name, country="TR" if turkish else "RS",
                       timezone="Europe/Istanbul" if turkish else "Europe/Belgrade",
                       language="tr" if turkish else "sr_Latn",
                       account_manager_id=rng.choice(managers).id)
            db.session.add(c)
            self.clients.append(c)
        db.session.flush()
        for c in self.clients:
            roll = rng.random()
            code = ("standard" if roll < 0.35 else "basic" if roll < 0.55
                    else "extended" if roll < 0.70 else None)
            status = "active"
            if code is None and rng.random() < 0.3:
                code, status = "standard", "expired"
            if code is not None:
                contract = Contract(client_id=c.id, package_id=packages[code].id, status=status,
                                    start_date=start,
                                    end_date=(NOW - timedelta(days=200)).date()
                                    if status == "expired" else None)
                contract.changes.append(ContractChange(effective_date=start, kind="start",
                                                       package_id=packages[code].id))
                db.session.add(contract)
            self.contract_of[c.id] = code if status == "active" else None
        db.session.commit()
        self.policies = {code: (p.sla_policy.first_response_minutes,
                                p.sla_policy.resolution_minutes)
                         for code, p in packages.items()}


def _words(rng: random.Random, cum: list[float], n: int) -> str:
    return " ".join(rng.choices(COMMON, cum_weights=cum, k=n))


def ticket_rows(world: World, rng: random.Random, n: int, stats: dict) -> Iterator[tuple]:
    """Tickets over the last two years; the newest ~5 % still open."""
    cals = {}
    statuses_open = ("new", "open", "pending")
    for i in range(1, n + 1):
        client = world.clients[int(len(world.clients) * rng.random() ** 2)]
        created = NOW - timedelta(days=SPAN_DAYS) + timedelta(
            seconds=SPAN_DAYS * 86400 * (i - 1) / n + rng.randrange(600))
        is_open = i > n * 0.95 and rng.random() < 0.9 or rng.random() < 0.003
        status = rng.choice(statuses_open) if is_open else rng.choice(("closed",) * 9
                                                                       + ("resolved",))
        priority = rng.choices(("low", "normal", "high", "urgent"), (2, 10, 3, 1))[0]
        code = world.contract_of[client.id]
        reserved = code is not None
        assignee = rng.choice(world.agents).id if rng.random() < 0.8 else None
        fr_min = res_min = fr_due = res_due = next_due = None
        clock = None
        first_response_at = None if status == "new" else created + timedelta(
            minutes=rng.randrange(5, 600))
        resolved_at = created + timedelta(hours=rng.randrange(1, 200)) if not is_open else None
        if reserved:
            key = (client.timezone, client.country)
            cal = cals.get(key) or cals.setdefault(key, get_calendar(*key))
            base_fr, base_res = world.policies[code]
            factor = PRIORITY_FACTORS[priority]
            fr_min, res_min = math.ceil(base_fr * factor), math.ceil(base_res * factor)
            fr_due = due_at(cal, created, fr_min)
            res_due = due_at(cal, created, res_min)
            clock = "business"
            if is_open:
                next_due = fr_due if first_response_at is None else res_due
            stats["sla_computed"] += 2
        stats["open"] += is_open
        yield (
            i, 1000 + i, rng.choice(SUBJECTS) + (f" {rng.choice(ERROR_CODES)}"
                                                  if rng.random() < 0.2 else ""),
            status, priority, PRIORITY_RANK[priority], rng.choice(("email", "phone", "portal")),
            "support", client.id, assignee, False, False, reserved,
            clock, fr_min, res_min, fr_due, res_due, next_due, first_response_at,
            created, resolved_at or created, resolved_at or created, resolved_at,
            resolved_at if status == "closed" else None,
        )


TICKET_COLUMNS = [
    "id", "number", "subject", "status", "priority", "priority_rank", "channel", "queue",
    "client_id", "assignee_id", "needs_triage", "warranty_defect", "reserved", "sla_clock",
    "sla_first_response_minutes", "sla_resolution_minutes", "first_response_due",
    "resolution_due", "sla_next_due", "first_response_at", "created_at", "updated_at",
    "last_activity_at", "resolved_at", "closed_at",
]
ARTICLE_COLUMNS = ["id", "ticket_id", "direction", "internal", "channel", "from_addr",
                   "body_text", "is_auto", "created_at"]
ENTRY_COLUMNS = ["client_id", "ticket_id", "agent_id", "kind", "source", "started_at",
                 "ended_at", "minutes", "billable_minutes", "out_of_hours_minutes",
                 "out_of_hours", "needs_review", "period", "is_adjustment", "created_at",
                 "updated_at"]


def load(app, n_tickets: int, rng: random.Random, entries_per_ticket: int = 10) -> dict:
    """Create the schema, the small tables, and bulk-load tickets, articles and time entries."""
    stats = {"open": 0, "sla_computed": 0}
    began = time.perf_counter()
    with app.app_context():
        db.drop_all()
        db.create_all()
        world = World(rng, n_clients=max(50, n_tickets // 100))
        loader = Loader(db.engine)
        with db.engine.begin() as conn:
            search.drop_search_objects(conn)  # rebuilt once after the load: much faster
        tickets = []

        def remember(rows):
            for row in rows:
                tickets.append((row[0], row[8], row[20], row[9]))
                yield row

        loader.insert("tickets", TICKET_COLUMNS,
                      remember(ticket_rows(world, rng, n_tickets, stats)))
        t_tickets = time.perf_counter()
        cum = list(itertools.accumulate(1 / (r + 1) for r in range(len(COMMON))))

        def article_rows():
            article_id = 0
            for ticket_id, _client_id, created, _assignee in tickets:
                for k in range(max(1, round(rng.gauss(10, 3)))):
                    article_id += 1
                    body = _words(rng, cum, rng.randrange(15, 70))
                    if rng.random() < 0.02:
                        body += f" {rng.choice(ERROR_CODES)}"
                    yield (article_id, ticket_id, "in" if k % 2 == 0 else "out", False,
                           "email", "client@example.com" if k % 2 == 0 else None, body, False,
                           created + timedelta(hours=k * 3))

        n_articles = loader.insert("articles", ARTICLE_COLUMNS, article_rows())
        t_articles = time.perf_counter()
        zones = {c.id: ZoneInfo(c.timezone) for c in world.clients}

        def entry_rows():
            for ticket_id, client_id, created, assignee in tickets:
                for _ in range(entries_per_ticket):
                    started = created + timedelta(minutes=rng.randrange(0, 3000))
                    minutes = rng.randrange(5, 90)
                    period = started.astimezone(zones[client_id]).strftime("%Y-%m")
                    yield (client_id, ticket_id, assignee, rng.choice(("remote", "phone",
                                                                       "email")),
                           "manual", started, started + timedelta(minutes=minutes), minutes,
                           math.ceil(minutes / 15) * 15, 0, False, False, period, False,
                           started, started)

        n_entries = loader.insert("time_entries", ENTRY_COLUMNS, entry_rows())
        t_entries = time.perf_counter()
        with db.engine.begin() as conn:
            search.create_search_objects(conn)
        t_index = time.perf_counter()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE counters SET value = :v WHERE name = 'ticket'"),
                         {"v": 1000 + n_tickets})
            if conn.execute(text("SELECT count(*) FROM counters")).scalar() == 0:
                conn.execute(text("INSERT INTO counters (name, value) VALUES ('ticket', :v)"),
                             {"v": 1000 + n_tickets})
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    stats.update(
        tickets=n_tickets, articles=n_articles, time_entries=n_entries,
        load_tickets_s=round(t_tickets - began, 1),
        load_articles_s=round(t_articles - t_tickets, 1),
        load_time_entries_s=round(t_entries - t_articles, 1),
        build_search_index_s=round(t_index - t_entries, 1),
        load_total_s=round(time.perf_counter() - began, 1),
    )
    return stats


# -- timing ---------------------------------------------------------------------------------------


def _login(client) -> None:
    r = client.post("/login", data={"email": "agent0@vendor.example", "password": PASSWORD})
    assert r.status_code == 302, r.status_code


def _time(client, url: str) -> float:
    began = time.perf_counter()
    r = client.get(url)
    body = r.get_data()
    elapsed = (time.perf_counter() - began) * 1000
    if r.status_code != 200:
        raise SystemExit(f"GET {url} answered {r.status_code}: {body[:300]!r}")
    return elapsed


def search_terms(app, rng: random.Random) -> list[tuple[str, str]]:
    """A mix of what agents type: error codes, topic words, client names, numbers, pairs."""
    with app.app_context():
        clients = db.session.execute(select(Client.name).order_by(Client.id)).scalars().all()
        top = db.session.scalar(select(func.max(Ticket.number)))
    mid = COMMON[60:]
    terms = []
    for i in range(100):
        kind = i % 5
        if kind == 0:
            terms.append(("error code", rng.choice(ERROR_CODES)))
        elif kind == 1:
            terms.append(("topic word", rng.choice(mid)))
        elif kind == 2:
            name = rng.choice(clients)
            terms.append(("client name", " ".join(name.split()[:2])))
        elif kind == 3:
            terms.append(("ticket number", f"#{rng.randrange(1001, top + 1)}"))
        else:
            terms.append(("two words", f"{rng.choice(mid)} {rng.choice(mid)}"))
    return terms


def run_pages(app, n_requests: int, rng: random.Random) -> dict:
    """Time each page kind ``n_requests`` times (after a warm-up) and return the percentiles."""
    client = app.test_client()
    _login(client)
    with app.app_context():
        top = db.session.scalar(select(func.max(Ticket.number)))
        client_ids = db.session.execute(select(Client.id)).scalars().all()
        agent_ids = db.session.execute(
            select(User.id).where(User.role == Role.AGENT)).scalars().all()
    assert agent_ids
    # Queue: the default view mostly, and the others agents click through.
    first = client.get("/console/").get_data(as_text=True)
    cursor = re.search(r'cursor=([A-Za-z0-9_-]+)"', first)
    queue_urls = ["/console/"] * 6 + ["/console/?view=mine", "/console/?view=unassigned",
                                      "/console/?view=due", "/console/?status=pending"]
    if cursor:
        queue_urls.append(f"/console/?cursor={cursor.group(1)}")
    terms = search_terms(app, rng)
    results: dict[str, list[float]] = {"queue": [], "search": [], "ticket": [], "client": [],
                                       "dashboard": []}
    month = NOW.strftime("%Y-%m")
    dashboard_urls = [f"/console/dashboards/{page}?month={month}"
                      for page in ("sla", "backlog", "times", "hours")]
    by_term_kind: dict[str, list[float]] = {}
    for _ in range(5):  # warm caches and the calendar timelines
        _time(client, "/console/")
        _time(client, f"/console/tickets/{rng.randrange(1001, top + 1)}")
        _time(client, f"/console/clients/{rng.choice(client_ids)}")
        _time(client, "/console/?q=printer")
        for url in dashboard_urls:
            _time(client, url)
    for i in range(n_requests):
        results["queue"].append(_time(client, queue_urls[i % len(queue_urls)]))
        kind, term = terms[i % len(terms)]
        ms = _time(client, "/console/?" + _query({"q": term}))
        results["search"].append(ms)
        by_term_kind.setdefault(kind, []).append(ms)
        number = rng.randrange(1001, top + 1)
        results["ticket"].append(_time(client, f"/console/tickets/{number}"))
        results["client"].append(_time(client, f"/console/clients/{rng.choice(client_ids)}"))
        url = dashboard_urls[i % len(dashboard_urls)]
        if i % 5 == 4:
            url += (f"&client={rng.choice(client_ids)}" if i % 10 == 4
                    else f"&agent={rng.choice(agent_ids)}")
        results["dashboard"].append(_time(client, url))
    out = {}
    for name, values in results.items():
        out[f"{name}_p50_ms"] = round(pct(values, 0.5), 1)
        out[f"{name}_p95_ms"] = round(pct(values, 0.95), 1)
    out["search_p95_ms_by_kind"] = {k: round(pct(v, 0.95), 1) for k, v in by_term_kind.items()}
    return out


def _query(params: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def sla_rate(n: int, rng: random.Random) -> tuple[float, float]:
    """SLA due-time computations per second: without pauses, and with one pause each."""
    cal = get_calendar("Europe/Belgrade", "RS")
    targets = (60, 120, 240, 480, 960, 1440, 2880)
    base = NOW - timedelta(days=SPAN_DAYS)
    starts = [base + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400)) for _ in range(n)]
    picks = [rng.choice(targets) for _ in range(n)]
    due_at(cal, starts[0], 60)
    began = time.perf_counter()
    for s, t in zip(starts, picks, strict=True):
        due_at(cal, s, t)
    plain = n / (time.perf_counter() - began)
    pauses = [[(s + timedelta(hours=2), s + timedelta(hours=30))] for s in starts]
    began = time.perf_counter()
    for s, t, p in zip(starts, picks, pauses, strict=True):
        due_at(cal, s, t, p, now=NOW)
    paused = n / (time.perf_counter() - began)
    return plain, paused


def _ensure_pg_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": parsed.database}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page kind")
    parser.add_argument("--reuse", action="store_true", help="time the data already loaded")
    parser.add_argument("--sla-n", type=int, default=200_000)
    parser.add_argument("--entries-per-ticket", type=int, default=10,
                        help="time entries per ticket (10: 1,000,000 for 100,000 tickets)")
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    tmp = None
    url = args.db
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-console-")
        url = f"sqlite:///{Path(tmp.name) / 'console.db'}"
    elif url.startswith("postgresql"):
        _ensure_pg_database(url)
    work = Path(tmp.name if tmp else tempfile.mkdtemp(prefix="bench-console-"))
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False,
        "ATTACHMENT_DIR": str(work / "attachments"), "MAIL_SUPPRESS_SEND": True,
        "LOG_LEVEL": "WARNING",
    })
    if args.reuse:
        with app.app_context():
            stats = {"tickets": db.session.scalar(select(func.count()).select_from(Ticket))}
    else:
        print(f"loading {args.tickets:,} tickets into {make_url(url).get_backend_name()} ...",
              flush=True)
        stats = load(app, args.tickets, rng, args.entries_per_ticket)
        print(f"loaded: {json.dumps(stats)}", flush=True)
    # The queue is ordered by the capacity plan: plan this week and the next, as the daily job
    # does, so the timed queue pages pay for the plan's bands (reservations, used minutes).
    with app.app_context():
        from helpdesk.capacity.planner import plan_due_weeks

        t0 = time.perf_counter()
        planned = plan_due_weeks(datetime.now(UTC))
        db.session.commit()
        stats["plan_weeks_s"] = round(time.perf_counter() - t0, 3)
        stats["planned_weeks"] = len(planned)
    print(f"timing {args.requests} requests per page kind ...", flush=True)
    figures = run_pages(app, args.requests, rng)
    plain, paused = sla_rate(args.sla_n, rng)
    result = {
        **{k: v for k, v in figures.items() if not isinstance(v, dict)},
        "sla_due_per_s": round(plain),
        "sla_due_with_pause_per_s": round(paused),
        "db": make_url(url).get_backend_name(),
        **{k: stats[k] for k in ("tickets", "articles", "time_entries", "open", "load_total_s",
                                 "plan_weeks_s", "planned_weeks")
           if k in stats},
    }
    print(f"search p95 by kind of query: {json.dumps(figures['search_p95_ms_by_kind'])}")
    for key in ("queue", "search", "ticket", "client", "dashboard"):
        print(f"{key:>7}: p50 {figures[f'{key}_p50_ms']:7.1f} ms   "
              f"p95 {figures[f'{key}_p95_ms']:7.1f} ms")
    print(f"SLA due times: {plain:,.0f}/s (with a pause {paused:,.0f}/s)")
    print(json.dumps(result))
    if tmp is not None:
        with app.app_context():
            db.engine.dispose()
        tmp.cleanup()


if __name__ == "__main__":
    main()
