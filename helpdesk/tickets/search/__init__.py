"""Full-text search over tickets: number, subject, message bodies and client name.

One API for both databases: :func:`iter_matching_ids` yields the matching tickets newest first
(the queue's search pages with it) and :func:`ticket_match` turns the same query into a WHERE
clause for any other order. Underneath (``index``), SQLite uses two FTS5 *external-content*
tables (``tickets_fts`` over ``tickets.subject``, ``articles_fts`` over ``articles.body_text``
keyed so a match names its ticket) kept in step by triggers; PostgreSQL keeps ``tsvector``s of
the same columns in two side tables (GIN-indexed, filled by triggers). Client names are few, so
they are matched in Python (case and accents folded) and turn into ``client_id IN``.

Semantics: every term must be found somewhere in the ticket (its subject, any of its messages or
its client's name; a number such as ``1234`` or ``#1234`` also matches the ticket number). Words
match whole words, case and accents ignored on both databases ("stampac" finds "štampač"); a
trailing ``*`` matches word beginnings (``štampač*`` finds "štampača"), ``"two words"`` a phrase.

Whole words are the default because an index walks a word's postings lazily, newest first, and
stops when a page is full, while a word beginning must first merge the postings of every word
it begins (costly for short or common beginnings).

Modules: ``index`` (the database objects), ``query`` (terms and the SQL each term matches with),
``paging`` (newest first, a page at a time).
"""

from .index import (
    OBJECT_PREFIX,
    PG_BODY_CHARS,
    create_search_objects,
    drop_search_objects,
    include_name,
    init_app,
    rebuild,
)
from .paging import iter_matching_ids
from .query import Term, fold, matching_client_ids, parse_query, ticket_match

__all__ = [
    "OBJECT_PREFIX", "PG_BODY_CHARS", "Term", "create_search_objects", "drop_search_objects",
    "fold", "include_name", "init_app", "iter_matching_ids", "matching_client_ids",
    "parse_query", "rebuild", "ticket_match",
]
