"""Full-text search over tickets: number, subject, message bodies and client name.

One API for both databases: :func:`iter_matching_ids` yields the matching tickets newest first
(the queue's search pages with it) and :func:`ticket_match` turns the same query into a WHERE
clause for any other order. Underneath, SQLite uses two FTS5 *external-content* tables
(``tickets_fts`` over ``tickets.subject``, ``articles_fts`` over ``articles.body_text`` keyed so a
match names its ticket) kept in step by triggers; PostgreSQL keeps ``tsvector``s of the same
columns in two side tables (GIN-indexed, filled by triggers). Client names are few, so they are
matched in Python (case and accents folded) and turn into ``client_id IN``.

Semantics: every term must be found somewhere in the ticket (its subject, any of its messages or
its client's name; a number such as ``1234`` or ``#1234`` also matches the ticket number). Words
match whole words, case ignored; a trailing ``*`` matches word beginnings (``štampač*`` finds
"štampača"), ``"two words"`` a phrase. SQLite ignores accents ("stampac" finds "štampač");
PostgreSQL's ``simple`` configuration does not.

Whole words are the default because an index walks a word's postings lazily, newest first, and
stops when a page is full, while a word beginning must first merge the postings of every word
it begins (costly for short or common beginnings).
"""

from __future__ import annotations

import bisect
import heapq
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from flask import Flask
from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    column,
    event,
    false,
    select,
    text,
)
from sqlalchemy.engine import Connection

from ..extensions import db
from ..models import Client, Ticket

#: Characters PostgreSQL indexes per message body (a tsvector must stay under 1 MB).
PG_BODY_CHARS = 100_000
#: Prefix shared by every database object of the search index (the migration check skips them).
OBJECT_PREFIX = "search_"

_TERM_RE = re.compile(r'"([^"]*)"(\*?)|(\S+)')
_TOKEN_RE = re.compile(r"[^\W_]+")
_NUMBER_RE = re.compile(r"#?(\d{1,18})")

_TOKENIZER = "unicode61 remove_diacritics 2"


@dataclass(frozen=True)
class _Indexed:
    """One FTS5 external-content table: what it indexes and the rowid it keys documents by."""

    table: str
    fts: str
    column: str
    #: The content the FTS table reads on 'rebuild' (a table, or a view adding the key).
    content: str
    #: The document key as an SQL expression over a row of ``table``.
    key: str
    #: Columns whose change re-keys or re-words the document.
    watched: str


#: Tickets by id; messages by ``ticket_id << 32 | id``, so a match names its ticket without a
#: lookup in ``articles`` (``rowid >> 32``), which keeps common words cheap on large tables.
SQLITE_INDEXED = (
    _Indexed("tickets", "tickets_fts", "subject", "tickets", "{row}.id", "subject"),
    _Indexed("articles", "articles_fts", "body_text", "search_article_docs",
             "(({row}.ticket_id << 32) | {row}.id)", "body_text, ticket_id"),
)
SQLITE_VIEWS = {
    "search_article_docs": "SELECT ((ticket_id << 32) | id) AS doc_key, body_text FROM articles",
}


def _sqlite_statements() -> list[str]:
    """DDL of the SQLite index: an FTS5 table per indexed column, three triggers each."""
    statements = [f"CREATE VIEW IF NOT EXISTS {name} AS {sql}"
                  for name, sql in SQLITE_VIEWS.items()]
    for ix in SQLITE_INDEXED:
        old_key, new_key = ix.key.format(row="old"), ix.key.format(row="new")
        remove = (f"INSERT INTO {ix.fts}({ix.fts}, rowid, {ix.column}) "
                  f"VALUES ('delete', {old_key}, old.{ix.column});")
        add = f"INSERT INTO {ix.fts}(rowid, {ix.column}) VALUES ({new_key}, new.{ix.column});"
        rowid = "id" if ix.content == ix.table else "doc_key"
        statements += [
            (f"CREATE VIRTUAL TABLE IF NOT EXISTS {ix.fts} USING fts5({ix.column}, "
             f"content='{ix.content}', content_rowid='{rowid}', tokenize='{_TOKENIZER}')"),
            (f"CREATE TRIGGER IF NOT EXISTS search_{ix.table}_ai AFTER INSERT ON {ix.table} "
             f"BEGIN {add} END"),
            (f"CREATE TRIGGER IF NOT EXISTS search_{ix.table}_ad AFTER DELETE ON {ix.table} "
             f"BEGIN {remove} END"),
            (f"CREATE TRIGGER IF NOT EXISTS search_{ix.table}_au AFTER UPDATE OF {ix.watched} "
             f"ON {ix.table} BEGIN {remove} {add} END"),
        ]
    return statements


SQLITE_CREATE = tuple(_sqlite_statements())
SQLITE_TRIGGERS = tuple(
    f"search_{ix.table}_{suffix}" for ix in SQLITE_INDEXED for suffix in ("ai", "ad", "au")
)
#: PostgreSQL keeps a tsvector per ticket subject and per message in narrow side tables filled
#: by triggers: the GIN index finds rare words, and for common ones a backward scan of the
#: ticket_id index checks the stored vector cheaply (no to_tsvector of a body per row), so a page
#: of the newest matches stops early. Large statistics targets let the planner tell them apart.
PG_VECTOR = f"to_tsvector('simple'::regconfig, left({{col}}, {PG_BODY_CHARS}))"


@dataclass(frozen=True)
class _SideTable:
    """A PostgreSQL table of tsvectors for one text column, kept in step by a trigger."""

    name: str
    source: str
    column: str
    #: (column, SQL over the source row) besides the vector, the first being the primary key.
    keys: tuple[tuple[str, str], ...]
    #: Columns of the source whose change rewrites the row.
    watched: str
    #: The column a newest-first scan orders by (gets a b-tree unless it is the primary key).
    order_by: str


PG_SIDE_TABLES = (
    _SideTable("search_ticket_vectors", "tickets", "subject", (("ticket_id", "id"),),
               "subject", "ticket_id"),
    _SideTable("search_article_vectors", "articles", "body_text",
               (("article_id", "id"), ("ticket_id", "ticket_id")), "body_text, ticket_id",
               "ticket_id"),
)


def _pg_statements() -> list[str]:
    """DDL of the PostgreSQL index: side tables, their indexes, triggers, and the first fill."""
    statements = []
    for t in PG_SIDE_TABLES:
        pk = t.keys[0][0]
        names = ", ".join(name for name, _ in t.keys)
        news = ", ".join(f"NEW.{expr}" for _, expr in t.keys)
        olds = ", ".join(expr for _, expr in t.keys)
        columns = ", ".join(
            f"{name} integer PRIMARY KEY REFERENCES {t.source}(id) ON DELETE CASCADE"
            if name == pk else f"{name} integer NOT NULL" for name, _ in t.keys)
        updates = "".join(f"{name} = EXCLUDED.{name}, " for name, _ in t.keys[1:])
        new_vector = PG_VECTOR.format(col=f"NEW.{t.column}")
        statements += [
            f"CREATE TABLE IF NOT EXISTS {t.name} ({columns}, vector tsvector NOT NULL)",
            f"ALTER TABLE {t.name} ALTER COLUMN vector SET STATISTICS 5000",
            (f"CREATE OR REPLACE FUNCTION {t.name}_sync() RETURNS trigger LANGUAGE plpgsql "
             f"AS $$ BEGIN INSERT INTO {t.name} ({names}, vector) "
             f"VALUES ({news}, {new_vector}) ON CONFLICT ({pk}) DO UPDATE SET "
             f"{updates}vector = EXCLUDED.vector; RETURN NULL; END $$"),
            f"DROP TRIGGER IF EXISTS {t.name}_sync ON {t.source}",
            (f"CREATE TRIGGER {t.name}_sync AFTER INSERT OR UPDATE OF {t.watched} "
             f"ON {t.source} FOR EACH ROW EXECUTE FUNCTION {t.name}_sync()"),
            (f"INSERT INTO {t.name} ({names}, vector) SELECT {olds}, "
             f"{PG_VECTOR.format(col=t.column)} FROM {t.source} ON CONFLICT ({pk}) DO NOTHING"),
            f"CREATE INDEX IF NOT EXISTS {t.name}_gin ON {t.name} USING gin (vector)",
        ]
        if t.order_by != pk:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {t.name}_{t.order_by} ON {t.name} ({t.order_by})")
    return statements


PG_CREATE = tuple(_pg_statements())


# -- the index: created by the migration and by ``db.create_all()`` -----------------------------


def create_search_objects(conn: Connection) -> None:
    """Create the full-text index of the connection's database and fill it from existing rows."""
    if conn.dialect.name == "sqlite":
        for statement in SQLITE_CREATE:
            conn.exec_driver_sql(statement)
        rebuild(conn)
    elif conn.dialect.name == "postgresql":
        for statement in PG_CREATE:
            conn.exec_driver_sql(statement)


def drop_search_objects(conn: Connection) -> None:
    """Remove the full-text index (before its tables are dropped, or on downgrade)."""
    if conn.dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        for ix in SQLITE_INDEXED:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {ix.fts}")
        for name in SQLITE_VIEWS:
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
    elif conn.dialect.name == "postgresql":
        for t in PG_SIDE_TABLES:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {t.name}_sync ON {t.source}")
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t.name}")
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {t.name}_sync()")


def rebuild(conn: Connection) -> None:
    """Re-read every subject and body into the index (after bulk loads that bypassed it)."""
    if conn.dialect.name == "sqlite":
        for ix in SQLITE_INDEXED:
            conn.exec_driver_sql(f"INSERT INTO {ix.fts}({ix.fts}) VALUES ('rebuild')")
    elif conn.dialect.name == "postgresql":
        for t in PG_SIDE_TABLES:
            conn.exec_driver_sql(f"TRUNCATE {t.name}")
        create_search_objects(conn)


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic name filter: the search index is not in the models, so autogenerate skips it."""
    if name is None:
        return True
    if type_ == "table":
        if name.startswith(OBJECT_PREFIX):
            return False
        return not any(name == ix.fts or name.startswith(ix.fts + "_") for ix in SQLITE_INDEXED)
    if type_ == "index":
        return not name.startswith(OBJECT_PREFIX)
    return True


def init_app(app: Flask) -> None:
    """Let ``flask db check``/autogenerate ignore the search objects the migrations create."""
    migrate_state = app.extensions.get("migrate")
    if migrate_state is not None:
        migrate_state.configure_args.setdefault("include_name", include_name)


@event.listens_for(db.metadata, "after_create")
def _after_create(_target, connection: Connection, **_kw) -> None:
    create_search_objects(connection)


@event.listens_for(db.metadata, "before_drop")
def _before_drop(_target, connection: Connection, **_kw) -> None:
    drop_search_objects(connection)


# -- queries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One thing the agent typed: its word tokens, whether they must be adjacent (a quoted
    phrase, or a word like ``A.Ş.``), whether the last one is a word beginning (``print*``),
    and the ticket number it may be."""

    tokens: tuple[str, ...]
    phrase: bool
    number: int | None
    prefix: bool = False


def fold(value: str) -> str:
    """Lower case without accents, for matching names the way people type them."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def parse_query(q: str | None) -> list[Term]:
    """Split a search box into terms: words, "quoted phrases" and ticket numbers."""
    terms: list[Term] = []
    for quoted, star, word in _TERM_RE.findall(q or ""):
        raw = quoted if quoted else word
        tokens = tuple(_TOKEN_RE.findall(raw))
        number_match = _NUMBER_RE.fullmatch(raw.strip()) if not quoted else None
        if not tokens:
            continue
        wants_prefix = bool(star) or (not quoted and raw.endswith("*"))
        terms.append(Term(
            tokens=tokens,
            phrase=len(tokens) > 1,
            number=int(number_match.group(1)) if number_match else None,
            # A one-letter beginning would match half the index: whole word then.
            prefix=wants_prefix and len(tokens[-1]) >= 2,
        ))
    return terms[:12]


def _fts5_query(term: Term) -> str:
    phrase = '"' + " ".join(term.tokens) + '"'
    return phrase + " *" if term.prefix else phrase


def _tsquery(term: Term) -> str:
    """A tsquery string; tokens are letters and digits only, so nothing needs escaping."""
    joiner = " <-> " if term.phrase else " & "
    parts = [f"'{tok.lower()}'" for tok in term.tokens]
    if term.prefix:
        parts[-1] += ":*"
    return joiner.join(parts)


@lru_cache(maxsize=65536)
def _name_words(name: str) -> tuple[str, ...]:
    return tuple(_TOKEN_RE.findall(fold(name)))


def matching_client_ids(term: Term, clients: list[tuple[int, str]]) -> list[int]:
    """Clients whose name has every token of the term as a word (the last as a word's start
    when the term is a prefix), case and accents ignored."""
    tokens = [fold(t) for t in term.tokens]
    *whole, last = tokens
    hits = []
    for client_id, name in clients:
        words = _name_words(name)
        if all(tok in words for tok in whole) and (
            any(w.startswith(last) for w in words) if term.prefix else last in words
        ):
            hits.append(client_id)
    return hits


def _client_names() -> list[tuple[int, str]]:
    return [(row.id, row.name) for row in db.session.execute(select(Client.id, Client.name))]


@dataclass(frozen=True)
class _SourceSql:
    """One place a term can match: ``SELECT key FROM ... WHERE ...``; ``key >> shift`` = ticket."""

    key: str
    from_where: str
    shift: int = 0
    #: Few rows (a client's tickets, a number): read them all at once instead of paging.
    static: bool = False

    def ids(self) -> str:
        """Every matching ticket id (for IN sets)."""
        key = f"({self.key} >> {self.shift})" if self.shift else self.key
        return f"SELECT {key} AS id {self.from_where}"

    def page(self) -> str:
        """Matching keys below ``:hi``, newest first, ``:lim`` of them."""
        return (f"SELECT {self.key} AS k {self.from_where} AND {self.key} < :hi "
                f"ORDER BY {self.key} DESC LIMIT :lim")


#: Messages a client user may find: internal notes are staff-only (internal notes are few, so
#: leaving their keys out costs a small set lookup per match).
SQLITE_PUBLIC_ONLY = " AND (rowid & 4294967295) NOT IN (SELECT id FROM articles WHERE internal)"
PG_PUBLIC_ONLY = (" AND NOT EXISTS (SELECT 1 FROM articles a WHERE "
                  "a.id = search_article_vectors.article_id AND a.internal)")


def _source_sql(term: Term, n: int, dialect: str, client_ids: list[int],
                public_only: bool = False) -> tuple[list[_SourceSql], dict]:
    """Where one term may match (subject, messages, client, number), and the bind values.

    Each source orders its key by an index, so callers may page through it newest first.
    ``public_only`` (client users and their tokens) leaves internal notes out.
    """
    params: dict = {}
    sources = []
    if dialect == "sqlite":
        params[f"m{n}"] = _fts5_query(term)
        sources += [
            _SourceSql("rowid", f"FROM tickets_fts WHERE tickets_fts MATCH :m{n}"),
            _SourceSql("rowid", f"FROM articles_fts WHERE articles_fts MATCH :m{n}"
                       + (SQLITE_PUBLIC_ONLY if public_only else ""), 32),
        ]
    elif dialect == "postgresql":
        params[f"m{n}"] = _tsquery(term)
        query = f"to_tsquery('simple', :m{n})"
        sources += [
            _SourceSql("ticket_id", f"FROM {table} WHERE vector @@ {query}"
                       + (PG_PUBLIC_ONLY if public_only and table == "search_article_vectors"
                          else ""),
                       static=not is_common_on_pg(term, table))
            for table in ("search_ticket_vectors", "search_article_vectors")
        ]
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"full-text search is not set up for {dialect}")
    if client_ids:
        params[f"c{n}"] = client_ids
        sources.append(_SourceSql("id", f"FROM tickets WHERE client_id IN :c{n}"))
    if term.number is not None:
        params[f"n{n}"] = term.number
        sources.append(_SourceSql("id", f"FROM tickets WHERE number = :n{n}", static=True))
    return sources, params


#: Seconds the planner statistics of the side tables are trusted before being read again.
PG_STATS_TTL = 600.0
_pg_common_cache: dict[tuple[str, str], tuple[float, frozenset[str], tuple[str, ...]]] = {}


def _pg_common_lexemes(table: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The words ANALYZE found frequent in a side table (PostgreSQL's most common elements)."""
    key = (str(db.engine.url), table)
    now = time.monotonic()
    cached = _pg_common_cache.get(key)
    if cached is not None and now - cached[0] < PG_STATS_TTL:
        return cached[1], cached[2]
    words = db.session.execute(text(
        "SELECT most_common_elems::text::text[] FROM pg_stats "
        "WHERE schemaname = current_schema() AND tablename = :t AND attname = 'vector'"
    ), {"t": table}).scalar() or []
    common = frozenset(words)
    _pg_common_cache[key] = (now, common, tuple(sorted(common)))
    return common, tuple(sorted(common))


def is_common_on_pg(term: Term, table: str) -> bool:
    """Whether every word of the term is frequent in the table, by the planner statistics.

    PostgreSQL's planner guesses every word outside its most-common list at the same modest
    frequency, so for a rare word it would walk the ``ticket_id`` index backwards through the
    whole table looking for a page of matches. We decide instead: frequent words are paged
    newest first (a page is found early); rare ones are read at once through the GIN index.
    """
    common, ordered = _pg_common_lexemes(table)
    tokens = [t.lower() for t in term.tokens]
    *whole, last = tokens
    if any(tok not in common for tok in whole):
        return False
    if term.prefix:
        i = bisect.bisect_left(ordered, last)
        return i < len(ordered) and ordered[i].startswith(last)
    return last in common


def _bind(sql: str, params: dict):
    stmt = text(sql)
    for name, value in params.items():
        if re.search(rf":{name}\b", sql):
            stmt = stmt.bindparams(bindparam(name, value, expanding=isinstance(value, list)))
    return stmt


def _term_clause(term: Term, n: int, dialect: str, clients: list[tuple[int, str]],
                 public_only: bool = False):
    """``tickets.id IN (...)`` of every ticket one term matches (one set, built once)."""
    sources, params = _source_sql(term, n, dialect, matching_client_ids(term, clients),
                                  public_only)
    union = " UNION ".join(source.ids() for source in sources)
    return Ticket.id.in_(_bind(union, params).columns(column("id", Integer)))


def ticket_match(q: str | None, public_only: bool = False) -> ColumnElement[bool] | None:
    """WHERE clause for tickets matching every term of ``q``; None when there is nothing to find.

    It builds each term's whole set of tickets: right for any order, costly for common words.
    The newest-first search of the queue pages with :func:`iter_matching_ids` instead.
    """
    terms = parse_query(q)
    if not terms:
        return None
    dialect = db.session.get_bind().dialect.name
    clients = _client_names()
    clauses = [_term_clause(term, i, dialect, clients, public_only)
               for i, term in enumerate(terms)]
    return and_(*clauses) if clauses else false()


# -- newest first, a page at a time ---------------------------------------------------------------

_FIRST_BATCH = 64
_SEEK_BATCH = 64
_MAX_BATCH = 4096


class _Source:
    """Ticket ids from one source, newest first, fetched in growing pages below a key bound.

    Full-text sources page through the index (``static=False``); a client's tickets or a
    number are few and read at once.
    """

    def __init__(self, source: _SourceSql, params: dict, *, static: bool = False) -> None:
        self.shift = source.shift
        self.params = params
        self.hi: int | None = None  # exclusive bound on keys still to fetch; None: no bound
        self.keys: list[int] = []  # descending
        self.pos = 0
        self.batch = _FIRST_BATCH
        if static:
            self.sql = f"{source.ids().replace(' AS id ', ' AS k ', 1)} ORDER BY 1 DESC"
            self.keys = list(db.session.execute(_bind(self.sql, params)).scalars())
            self.exhausted = True
        else:
            self.sql = source.page()
            self.exhausted = False
            self._fill()

    def _fill(self) -> None:
        while self.pos >= len(self.keys) and not self.exhausted:
            params = dict(self.params, hi=self.hi if self.hi is not None else 2**62,
                          lim=self.batch)
            self.keys = list(db.session.execute(_bind(self.sql, params)).scalars())
            self.pos = 0
            if len(self.keys) < self.batch:
                self.exhausted = True
            if self.keys:
                self.hi = self.keys[-1]
            self.batch = min(self.batch * 4, _MAX_BATCH)

    @property
    def head(self) -> int | None:
        return self.keys[self.pos] >> self.shift if self.pos < len(self.keys) else None

    def seek(self, ticket_id: int) -> None:
        """Move to the first id at most ``ticket_id``."""
        bound = (ticket_id + 1) << self.shift
        if self.pos >= len(self.keys) or self.keys[self.pos] < bound:
            return
        if self.keys[-1] >= bound:
            # The whole page is above: ask the index for keys below the bound. Other terms
            # may make this source leap often; a fair page lets later leaps land inside it.
            self.pos = len(self.keys)
            if not self.exhausted:
                self.hi = bound
                self.batch = max(self.batch, _SEEK_BATCH)
                self._fill()
            return
        lo, hi = self.pos, len(self.keys) - 1  # keys[hi] < bound <= keys[lo]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.keys[mid] >= bound:
                lo = mid
            else:
                hi = mid
        self.pos = hi


class _Union:
    """Several streams as one: every id any of them has, newest first."""

    def __init__(self, streams: list) -> None:
        self.streams = streams

    @property
    def head(self) -> int | None:
        heads = [s.head for s in self.streams if s.head is not None]
        return max(heads) if heads else None

    def seek(self, ticket_id: int) -> None:
        for stream in self.streams:
            stream.seek(ticket_id)


def _intersect(streams: list, below: int | None) -> Iterator[int]:
    """Ids every stream has, newest first (leapfrog: each leaps to the lowest head)."""
    candidate = below - 1 if below is not None else None
    while True:
        if candidate is not None:
            if candidate < 1:
                return
            for stream in streams:
                stream.seek(candidate)
        heads = [stream.head for stream in streams]
        if any(h is None for h in heads):
            return
        low = min(heads)
        if all(h == low for h in heads):
            yield low
            candidate = low - 1
        else:
            candidate = low


def _merge(generators: list[Iterator[int]]) -> Iterator[int]:
    """Newest first over descending generators, each id once."""
    last = None
    for ticket_id in heapq.merge(*generators, reverse=True):
        if ticket_id != last:
            yield ticket_id
            last = ticket_id


def iter_matching_ids(q: str | None, below: int | None = None,
                      public_only: bool = False) -> Iterator[int]:
    """Ids of the tickets matching every term of ``q``, newest first, below ``below``.

    Lazy: it reads each source a page at a time and leaps over ids other terms rule out, so
    the first page of a search for a common word costs what that page needs, not the word's
    whole posting list.

    Client names are decided per client, not per ticket: clients are grouped by the terms
    their name satisfies, and a group's tickets need only the *other* terms in their text.
    "Novi Sad" then reads the tickets of clients named both, instead of leaping between the
    many tickets of every "Novi" and every "Sad".
    """
    terms = parse_query(q)
    if not terms:
        return
    dialect = db.session.get_bind().dialect.name
    clients = _client_names()
    text_sql = []
    satisfied_by: dict[int, set[int]] = {}  # client id -> the terms its name satisfies
    for n, term in enumerate(terms):
        text_sql.append(_source_sql(term, n, dialect, [], public_only))
        for client_id in matching_client_ids(term, clients):
            satisfied_by.setdefault(client_id, set()).add(n)
    by_signature: dict[frozenset[int], list[int]] = {}
    for client_id, satisfied in satisfied_by.items():
        by_signature.setdefault(frozenset(satisfied), []).append(client_id)

    def text_stream(n: int) -> _Union:
        sources, params = text_sql[n]
        return _Union([_Source(src, params, static=src.static) for src in sources])

    generators = [_intersect([text_stream(n) for n in range(len(terms))], below)]
    for signature, client_ids in by_signature.items():
        own = _SourceSql("id", "FROM tickets WHERE client_id IN :gc")
        streams = [_Source(own, {"gc": sorted(client_ids)})]
        streams += [text_stream(n) for n in range(len(terms)) if n not in signature]
        generators.append(_intersect(streams, below))
    yield from _merge(generators)
