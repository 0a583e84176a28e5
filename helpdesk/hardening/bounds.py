"""Numbers from the URL stay within what the databases store: a larger id is a 404, not a 500."""

from __future__ import annotations

import re

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

#: The largest signed 64-bit integer (PostgreSQL BIGINT, SQLite INTEGER).
MAX_DB_INT = 2**63 - 1
#: Page numbers beyond this are refused (nobody pages that far; keeps OFFSET in range).
MAX_PAGE = 1_000_000


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` whose value past ``MAX_DB_INT`` is answered 404 (see ``_refuse_huge_ids``).

    It still matches: a converter that refuses the value makes werkzeug answer 405 when another
    method's rule of the same path was tried first.
    """


def _refuse_huge_ids(endpoint: str | None, values: dict | None) -> None:
    """A URL id larger than any row's is a 404 (the rule matched; no row can have it)."""
    for value in (values or {}).values():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_DB_INT:
            abort(404)


#: A billing month as the server accepts it (also the OpenAPI ``pattern``): years 1970-2999.
MONTH_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"
_MONTH_RE = re.compile(MONTH_PATTERN)


def check_month(month: str) -> str:
    """``month`` when it is a YYYY-MM the ledger can work with; ValueError otherwise.

    "9999-12" is well formed, but its month end lies past the last date Python can hold.
    """
    if not isinstance(month, str) or not _MONTH_RE.match(month):
        raise ValueError(f"month must look like 'YYYY-MM' (1970-2999), got {month!r}")
    return month


def query_int(name: str, default: int | None = None, *, minimum: int = 1,
              maximum: int = MAX_DB_INT) -> int | None:
    """An integer query argument within bounds; 422 when it is not a number or out of range."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 19 or not minimum <= int(raw) <= maximum:
        abort(422)
    return int(raw)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    app.url_value_preprocessor(_refuse_huge_ids)
