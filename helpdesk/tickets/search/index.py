"""The search index's database objects: created by the migrations and by ``db.create_all()``.

SQLite: FTS5 external-content tables (``unicode61 remove_diacritics 2`` folds case and accents).
PostgreSQL: tsvector side tables filled by triggers through ``search_fold()``, which folds case
and accents before the ``simple`` configuration splits words: ``unaccent`` where the extension
can be had (it is a trusted extension, so the database owner may create it), else a ``translate``
over the Latin letters with diacritics (no extension needed, slower on long bodies). Queries go
through the same function, so a query folds exactly as the indexed text did.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection

from ...extensions import db

#: Characters PostgreSQL indexes per message body (a tsvector must stay under 1 MB).
PG_BODY_CHARS = 100_000
#: Prefix shared by every database object of the search index (the migration check skips them).
OBJECT_PREFIX = "search_"

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


#: Letters without a Unicode decomposition, which unicode61's remove_diacritics leaves alone
#: (Serbian đ, Turkish ı among them): the SQLite index and its queries replace them first.
UNDECOMPOSED_FOLDS = {"đ": "d", "Đ": "d", "ı": "i", "ł": "l", "Ł": "l", "ø": "o", "Ø": "o",
                      "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t"}
UNDECOMPOSED_TABLE = str.maketrans(UNDECOMPOSED_FOLDS)


def sqlite_fold(expr: str) -> str:
    """``expr`` with the undecomposed letters replaced, as SQLite SQL."""
    for letter, plain in UNDECOMPOSED_FOLDS.items():
        expr = f"replace({expr}, '{letter}', '{plain}')"
    return expr


#: Tickets by id; messages by ``ticket_id << 32 | id``, so a match names its ticket without a
#: lookup in ``articles`` (``rowid >> 32``), which keeps common words cheap on large tables.
#: Each FTS table reads its content through a view that folds the undecomposed letters.
SQLITE_INDEXED = (
    _Indexed("tickets", "tickets_fts", "subject", "search_ticket_docs", "{row}.id", "subject"),
    _Indexed("articles", "articles_fts", "body_text", "search_article_docs",
             "(({row}.ticket_id << 32) | {row}.id)", "body_text, ticket_id"),
)
SQLITE_VIEWS = {
    "search_ticket_docs": f"SELECT id AS doc_key, {sqlite_fold('subject')} AS subject "
                          "FROM tickets",
    "search_article_docs": "SELECT ((ticket_id << 32) | id) AS doc_key, "
                           f"{sqlite_fold('body_text')} AS body_text FROM articles",
}


def _sqlite_statements() -> list[str]:
    """DDL of the SQLite index: an FTS5 table per indexed column, three triggers each."""
    statements = [f"CREATE VIEW IF NOT EXISTS {name} AS {sql}"
                  for name, sql in SQLITE_VIEWS.items()]
    for ix in SQLITE_INDEXED:
        old_key, new_key = ix.key.format(row="old"), ix.key.format(row="new")
        old_text, new_text = sqlite_fold(f"old.{ix.column}"), sqlite_fold(f"new.{ix.column}")
        remove = (f"INSERT INTO {ix.fts}({ix.fts}, rowid, {ix.column}) "
                  f"VALUES ('delete', {old_key}, {old_text});")
        add = f"INSERT INTO {ix.fts}(rowid, {ix.column}) VALUES ({new_key}, {new_text});"
        statements += [
            (f"CREATE VIRTUAL TABLE IF NOT EXISTS {ix.fts} USING fts5({ix.column}, "
             f"content='{ix.content}', content_rowid='doc_key', tokenize='{_TOKENIZER}')"),
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
PG_VECTOR = f"to_tsvector('simple'::regconfig, search_fold(left({{col}}, {PG_BODY_CHARS})))"
#: The SQL function both the vectors and the queries fold text with.
PG_FOLD = "search_fold"


def _latin_folds() -> tuple[str, str]:
    """Latin letters with diacritics (both cases) and the plain lower-case letter of each, for
    ``translate`` where ``unaccent`` is not installed."""
    plain_of = {"đ": "d", "Đ": "d", "ı": "i", "ł": "l", "Ł": "l", "ø": "o", "Ø": "o",
                "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t"}
    source, target = [], []
    for code in range(0xC0, 0x250):
        letter = chr(code)
        if not letter.isalpha():
            continue
        plain = plain_of.get(letter) or "".join(
            c for c in unicodedata.normalize("NFKD", letter)
            if not unicodedata.combining(c)).lower()
        if len(plain) == 1 and plain.isascii() and plain != letter:
            source.append(letter)
            target.append(plain)
    return "".join(source), "".join(target)


def _fold_function(conn: Connection) -> str:
    """DDL of ``search_fold(text)``: ``unaccent`` when it can be had, ``translate`` otherwise."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
        body = "SELECT lower(unaccent('unaccent'::regdictionary, $1))"
    except Exception:  # noqa: BLE001 - not installed, or no right to create it: translate
        source, target = _latin_folds()
        body = f"SELECT lower(translate($1, '{source}', '{target}'))"
    return (f"CREATE OR REPLACE FUNCTION {PG_FOLD}(text) RETURNS text LANGUAGE sql IMMUTABLE "
            f"STRICT PARALLEL SAFE AS $$ {body} $$")


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
        conn.exec_driver_sql(_fold_function(conn))
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
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {PG_FOLD}(text)")


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


