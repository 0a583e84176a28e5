"""Schedules and run outcomes in the reader's words ("every minute", "svakih 5 minuta")."""

from __future__ import annotations

from datetime import UTC, datetime

from babel import Locale
from babel.dates import format_skeleton
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ...scheduler.runner import ERROR, INTERRUPTED, OK, RUNNING, Schedule

OUTCOME_LABELS = {
    OK: _l("ok"),
    ERROR: _l("error"),
    RUNNING: _l("running"),
    INTERRUPTED: _l("interrupted"),
}


def _clock(at) -> str:
    locale = Locale.parse(str(get_locale() or "en"))
    return format_skeleton("Hm", datetime.combine(datetime(2000, 1, 1), at, tzinfo=UTC),
                           tzinfo=UTC, locale=locale)


def schedule_words(text: str) -> str:
    """The stored schedule ("every 1 minutes", "daily 02:00", "monthly 1 06:00", "after X") as
    the reader's language says it; the text itself when it is not understood."""
    if text.startswith("after "):
        return _("after %(job)s", job=text.removeprefix("after "))
    try:
        schedule = Schedule.parse(text, "UTC")
    except ValueError:
        return text
    if schedule is None:
        return _("off")
    if schedule.kind == "every":
        seconds = int(schedule.step.total_seconds())
        if seconds % 3600 == 0:
            return ngettext("every hour", "every %(num)d hours", seconds // 3600)
        if seconds % 60 == 0:
            return ngettext("every minute", "every %(num)d minutes", seconds // 60)
        return ngettext("every second", "every %(num)d seconds", seconds)
    if schedule.kind == "daily":
        return _("every day at %(time)s", time=_clock(schedule.at))
    return _("every month on day %(day)d at %(time)s", day=schedule.day, time=_clock(schedule.at))
