"""Row reasons in the reader's language: the code and parameters a row keeps, translated when
shown (the console in the viewer's language, the command line in ``DEFAULT_LANGUAGE``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext

from ..importers.reasons import REASONS


def reason_text(code: str | None, params: Mapping[str, Any] | None, message: str = "") -> str:
    """The translated reason; the stored English ``message`` for a row without a known code
    (reports written before reasons had codes)."""
    if not code or code not in REASONS:
        return message
    return gettext(REASONS[code], **dict(params or {}))


def row_reason(row: Mapping[str, Any]) -> str:
    """The reason of a stored row (``RowOutcome.as_dict()`` or ``ReportedRow.as_dict()``)."""
    return reason_text(row.get("code"), row.get("params"), row.get("message", ""))
