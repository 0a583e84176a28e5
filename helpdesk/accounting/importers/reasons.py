"""Why a row was not imported (or was, with a remark): a code and named parameters.

Rows keep the code and its parameters, so each reader sees the reason in their own language
(:func:`helpdesk.accounting.imports.reasons.reason_text`); the English text here is what logs
and the plain ``message`` carry. Texts are marked for extraction, translated when shown.
"""

from __future__ import annotations

from typing import Any

from ...i18n import N_

REASONS: dict[str, str] = {
    # reading the file
    "empty_file": N_("the file is empty"),
    "no_header_after_ok": N_("the report has no header line after OK"),
    "not_a_report": N_("LogMeIn answered '%(answer)s' instead of a report"),
    "header_missing": N_("the header has no column %(columns)s; columns are: %(found)s"),
    "mapped_column_missing": N_("the header has no column %(columns)s"),
    "cdr_header_missing": N_("the CDR header has no column %(columns)s"),
    "unreadable_header": N_("unreadable CSV header: %(error)s"),
    "unreadable_csv": N_("unreadable CSV: %(error)s"),
    "field_count": N_("%(count)s fields where the header has %(width)s"),
    "field_count_separator": N_("%(count)s fields where the header has %(width)s: "
                                "too many '%(separator)s' in values"),
    "field_count_unplaced": N_("%(count)s fields where the header has %(width)s, and no "
                               "placement of the extra '%(separator)s' gives valid dates, IDs "
                               "and durations"),
    "field_count_ambiguous": N_("%(count)s fields where the header has %(width)s: a value "
                                "contains '%(separator)s' and it is ambiguous which one "
                                "(%(columns)s)"),
    "cdr_field_count": N_("%(count)s fields; expected %(expected)s"),
    "cdr_field_range": N_("%(count)s fields; a Master.csv record has %(low)s to %(high)s"),
    "not_a_date": N_("%(column)s '%(value)s' is not a date"),
    "not_a_cdr_date": N_("%(column)s '%(value)s' is not a date (YYYY-MM-DD HH:MM:SS)"),
    "empty_value": N_("%(column)s is empty"),
    "not_a_duration": N_("%(column)s '%(value)s' is not a duration (HH:MM:SS)"),
    "not_seconds": N_("%(column)s '%(value)s' is not a whole number of seconds"),
    "session_ends_before_start": N_("the session ends (%(end)s) before it starts"),
    "call_ends_before_start": N_("the call ends before it starts"),
    # matching and billing
    "duplicate": N_("already imported"),
    "timer_duplicate": N_("already recorded with the console timer: not billed twice"),
    "no_client": N_("no client for '%(customer)s'"),
    "no_contact_number": N_("no contact with number %(number)s"),
    "session_open": N_("the session is still open: import it once it has ended"),
    "no_work_time": N_("no work time"),
    "no_talk_time": N_("no talk time"),
    "month_closed": N_("%(period)s is closed: add an adjustment instead"),
    "no_ticket": N_("no ticket #%(number)s"),
    "other_clients_ticket": N_("ticket #%(number)s is another client's: not tied to it"),
    "technician_unknown": N_("technician %(who)s is not a user: imported without an agent"),
    "extension_unknown": N_("extension %(extension)s is no user's: imported without an agent"),
    "out_of_hours": N_("out of hours"),
}


def english(code: str, params: dict[str, Any] | None = None) -> str:
    """The reason in English (logs, ``message`` fields)."""
    return REASONS[code] % (params or {})
