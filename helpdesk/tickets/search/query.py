"""What the search box means: terms, and the SQL each term matches tickets with."""

from __future__ import annotations

import bisect
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import ColumnElement, Integer, and_, bindparam, column, false, select, text

from ...extensions import db
from ...models import Client, Ticket
from .index import PG_FOLD, UNDECOMPOSED_TABLE

_TERM_RE = re.compile(r'"([^"]*)"(\*?)|(\S+)')
_TOKEN_RE = re.compile(r"[^\W_]+")
_NUMBER_RE = re.compile(r"#?(\d{1,18})")


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
    """An FTS5 phrase of the term's tokens, folded as the SQLite index folds its text."""
    phrase = '"' + " ".join(tok.translate(UNDECOMPOSED_TABLE) for tok in term.tokens) + '"'
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
        query = f"to_tsquery('simple', {PG_FOLD}(:m{n}))"
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
    tokens = [fold(t) for t in term.tokens]
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


