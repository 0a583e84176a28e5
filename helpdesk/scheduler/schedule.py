"""When jobs fire: schedules in the vendor's zone, and the APScheduler trigger over them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_EVERY = re.compile(r"every\s+(\d+)\s+(second|minute|hour)s?")
_DAILY = re.compile(r"daily\s+(\d{1,2}):(\d{2})")
_MONTHLY = re.compile(r"monthly\s+(\d{1,2})\s+(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class Schedule:
    """Fire times of a job: every N seconds (aligned on the epoch), daily or monthly local time.

    Local times follow the zone's wall clock: a daily 02:00 fires at 03:00 on the night the clocks
    jump over 02:00, and once (at the first 02:00) on the night 02:00 happens twice. A monthly
    day past the month's end fires on its last day.
    """

    kind: str
    tz: ZoneInfo
    step: timedelta = timedelta(0)
    at: time = time(0)
    day: int = 1
    text: str = ""

    @classmethod
    def parse(cls, spec: str, tz: str) -> Schedule | None:
        """A schedule from its setting (``"every 1 minutes"``, ``"daily 02:00"``,
        ``"monthly 1 06:00"``); None for ``"off"``."""
        text = " ".join(str(spec).strip().lower().split())
        zone = ZoneInfo(tz)
        if text in ("off", "never", "none", ""):
            return None
        if m := _EVERY.fullmatch(text):
            seconds = int(m.group(1)) * _UNITS[m.group(2)]
            if seconds <= 0:
                raise ValueError(f"schedule {spec!r}: the interval must be positive")
            return cls("every", zone, step=timedelta(seconds=seconds), text=text)
        if m := _DAILY.fullmatch(text):
            return cls("daily", zone, at=_clock(spec, m.group(1), m.group(2)), text=text)
        if m := _MONTHLY.fullmatch(text):
            day = int(m.group(1))
            if not 1 <= day <= 31:
                raise ValueError(f"schedule {spec!r}: day of month must be 1 to 31")
            return cls("monthly", zone, at=_clock(spec, m.group(2), m.group(3)), day=day, text=text)
        raise ValueError(
            f"schedule {spec!r} not understood: use 'every N minutes', 'daily HH:MM', "
            "'monthly D HH:MM' or 'off'"
        )

    def _on(self, day: date) -> datetime:
        return datetime.combine(day, self.at, tzinfo=self.tz).astimezone(UTC)

    def _in_month(self, year: int, month: int) -> datetime:
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
        return self._on(date(year, month, min(self.day, last)))

    def _candidates(self, moment: datetime) -> list[datetime]:
        """Fire times around ``moment``, in order (two before, two after its local date)."""
        local = moment.astimezone(self.tz).date()
        if self.kind == "daily":
            return [self._on(local + timedelta(days=k)) for k in range(-2, 3)]
        return [self._in_month(local.year, local.month + k) for k in range(-2, 3)]

    def latest(self, now: datetime) -> datetime:
        """The last fire time at or before ``now`` (aware UTC)."""
        if self.kind == "every":
            return _EPOCH + ((now - _EPOCH) // self.step) * self.step
        return max(f for f in self._candidates(now) if f <= now)

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after ``moment``."""
        if self.kind == "every":
            return self.latest(moment) + self.step
        return min(f for f in self._candidates(moment) if f > moment)

    def previous_before(self, moment: datetime) -> datetime:
        return self.latest(moment - _TICK)


def _clock(spec: str, hours: str, minutes: str) -> time:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"schedule {spec!r}: no such time of day")
    return time(h, m)


class ScheduleTrigger(BaseTrigger):
    """APScheduler trigger over a :class:`Schedule`, so both agree on every fire time."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is not None:
            return self.schedule.next_after(previous_fire_time)
        latest = self.schedule.latest(now)
        return latest if latest == now else self.schedule.next_after(now)

    def __str__(self) -> str:
        return self.schedule.text
