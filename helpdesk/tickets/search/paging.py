"""Newest first, a page at a time: each term's sources are read lazily and intersected."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from ...extensions import db
from .query import _bind, _client_names, _source_sql, _SourceSql, matching_client_ids, parse_query

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

