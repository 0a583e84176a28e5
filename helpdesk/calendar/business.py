"""Business calendar: working days, opening hours and business-time arithmetic.

Shared by the SLA clock (targets count business minutes) and by hour accounting (time spent
outside business hours). Opening hours are local wall-clock times in the calendar's time zone on
each working day, so a DST switch moves them in UTC but not on the office clock.

Conventions:

* A working day is a day of ``weekdays`` that is not a public holiday of ``country``. A half-day
  holiday (the ``half_day`` category of the ``holidays`` package, e.g. Turkey's 28 October "from
  1pm" or the eves of the Eids) is a working day that closes at ``half_day_end`` (13:00 local).
* Business time is the half-open interval ``[open, close)`` of each working day: a phone call
  at 16:00 sharp is out of hours.
* A due time computed by :meth:`BusinessCalendar.add_business_minutes` with more than zero minutes
  lies in ``(open, close]``: a target that is used up exactly at closing time is due at closing
  time that day, not at the next opening. So a 4 h target from Friday 15:30 is due on Monday at
  11:30 (30 minutes on Friday and 3 h 30 on Monday).
* ``always_open=True`` gives a 24/7 clock in which every minute is business time (urgent tickets
  of clients with an on-call add-on); holidays are still reported by :meth:`holiday_name`.

All arithmetic is done on integer microseconds since the Unix epoch against a precomputed,
per-calendar timeline of the opening intervals with prefix sums, so adding minutes or measuring
business time is two binary searches, whatever the length of the target.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = ["BusinessCalendar", "get_calendar"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_MINUTE = 60_000_000
_ONE_DAY = timedelta(days=1)
#: Years of opening intervals built on either side of the first instant a calendar is asked about.
_INITIAL_SPAN = 1


def _to_us(dt: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly (no float rounding)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: business time needs timezone-aware datetimes")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> datetime:
    """UTC-aware datetime for microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def _minutes_to_us(minutes: float) -> int:
    """Whole microseconds of a (possibly fractional) number of minutes; rejects negatives."""
    if minutes < 0 or math.isnan(minutes):
        raise ValueError(f"minutes must be >= 0, got {minutes!r}")
    if isinstance(minutes, int):
        return minutes * _US_PER_MINUTE
    return round(minutes * _US_PER_MINUTE)


@lru_cache(maxsize=1)
def _supported_countries() -> frozenset[str]:
    """Country codes the holidays package knows, read from its registry (``list_supported_countries``
    imports every country's module to list them: a few hundred milliseconds at each start)."""
    from holidays import registry

    return frozenset(
        code
        for names in registry.COUNTRIES.values()
        for code in names[1:]
        if code.isupper() and len(code) in (2, 3)
    )


@lru_cache(maxsize=1024)
def _holiday_dates(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(full-day public holidays, half-day holidays) of a country in one year, observed days included.

    A date that is both (a public holiday that is also an eve) counts as a full holiday only.
    """
    public = holidays.country_holidays(country, years=year, language="en_US")
    full = frozenset(public)
    if "half_day" not in public.supported_categories:
        return full, frozenset()
    half = holidays.country_holidays(
        country, years=year, language="en_US", categories=("half_day",)
    )
    return full, frozenset(half) - full


@lru_cache(maxsize=1024)
def _holiday_names(country: str, year: int, language: str) -> dict[date, str]:
    """Holiday names (public and half-day) of a country in one year in the given language."""
    public = holidays.country_holidays(country, years=year, language=language)
    names = dict(public)
    if "half_day" in public.supported_categories:
        half = holidays.country_holidays(
            country, years=year, language=language, categories=("half_day",)
        )
        for day, name in half.items():
            names.setdefault(day, name)
    return names


class _Timeline:
    """Opening intervals of whole local years ``[lo_year, hi_year]`` with business-time prefix sums.

    ``before[i]`` is the business time (µs) of all intervals before interval ``i`` and
    ``upto[i]`` the same including interval ``i``. Instants between ``lo_start`` (local 1 January
    00:00 of ``lo_year``) and ``hi_end`` (local 1 January 00:00 after ``hi_year``) are covered.
    """

    __slots__ = ("before", "closes", "hi_end", "hi_year", "lo_start", "lo_year", "opens", "upto")

    def __init__(self, calendar: BusinessCalendar, lo_year: int, hi_year: int) -> None:
        self.lo_year = lo_year
        self.hi_year = hi_year
        tz = calendar.tz
        self.lo_start = _to_us(datetime(lo_year, 1, 1, tzinfo=tz))
        self.hi_end = _to_us(datetime(hi_year + 1, 1, 1, tzinfo=tz))
        opens: list[int] = []
        closes: list[int] = []
        before: list[int] = []
        upto: list[int] = []
        total = 0
        day = date(lo_year, 1, 1)
        last = date(hi_year, 12, 31)
        while day <= last:
            hours = calendar._local_hours(day)
            if hours is not None:
                open_us = _to_us(datetime.combine(day, hours[0], tzinfo=tz))
                close_us = _to_us(datetime.combine(day, hours[1], tzinfo=tz))
                if close_us > open_us:
                    opens.append(open_us)
                    closes.append(close_us)
                    before.append(total)
                    total += close_us - open_us
                    upto.append(total)
            day += _ONE_DAY
        self.opens = opens
        self.closes = closes
        self.before = before
        self.upto = upto

    def elapsed(self, us: int) -> int:
        """Business µs from ``lo_start`` to the instant ``us`` (which the timeline covers)."""
        i = bisect_right(self.closes, us)
        if i == len(self.closes):
            return self.upto[-1] if self.upto else 0
        open_us = self.opens[i]
        return self.before[i] + (us - open_us if us > open_us else 0)

    def total(self) -> int:
        """Business µs in the whole timeline."""
        return self.upto[-1] if self.upto else 0


class BusinessCalendar:
    """Working days and opening hours of one office, with business-time arithmetic.

    Instances are immutable in behaviour and safe to share between threads; use
    :func:`get_calendar` to get a cached one.
    """

    def __init__(
        self,
        tz: str = "Europe/Belgrade",
        country: str | None = "RS",
        start: time = time(8),
        end: time = time(16),
        weekdays: Iterable[int] = frozenset(range(5)),
        always_open: bool = False,
        half_day_end: time = time(13),
        closed_days: Iterable[date] = frozenset(),
    ) -> None:
        self.tz_name = tz
        #: The vendor's extra closing days (admin settings), closed like public holidays.
        self.closed_days = frozenset(closed_days)
        self.tz = ZoneInfo(tz)
        if country is not None:
            country = country.upper()
            if country not in _supported_countries():
                raise ValueError(f"no public holidays known for country {country!r}")
        self.country = country
        for name, value in (("start", start), ("end", end), ("half_day_end", half_day_end)):
            if value.tzinfo is not None:
                raise ValueError(f"{name} must be a naive local wall-clock time")
        if not start < end:
            raise ValueError(f"opening time {start} must be before closing time {end}")
        self.start = start
        self.end = end
        self.weekdays = frozenset(weekdays)
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays must be within 0 (Monday)..6 (Sunday): {sorted(weekdays)}")
        if not self.weekdays and not always_open:
            raise ValueError("a calendar without working weekdays never opens")
        self.always_open = always_open
        self.half_day_end = half_day_end
        self._timeline: _Timeline | None = None

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(tz={self.tz_name!r}, country={self.country!r}, start={self.start}, "
            f"end={self.end}, weekdays={sorted(self.weekdays)}, always_open={self.always_open})"
        )

    # -- days -------------------------------------------------------------------------------

    def _holidays(self, year: int) -> tuple[frozenset[date], frozenset[date]]:
        if self.country is None:
            full, half = frozenset(), frozenset()
        else:
            full, half = _holiday_dates(self.country, year)
        if self.closed_days:
            full = full | self.closed_days
        return full, half

    def _local_hours(self, day: date) -> tuple[time, time] | None:
        """Local opening and closing time of a day on an office calendar, or None if closed."""
        if day.weekday() not in self.weekdays:
            return None
        full, half = self._holidays(day.year)
        if day in full:
            return None
        if day in half:
            if self.half_day_end <= self.start:
                return None
            return self.start, min(self.end, self.half_day_end)
        return self.start, self.end

    def is_working_day(self, d: date) -> bool:
        """Whether the office works on a local date (a half-day holiday is a working day)."""
        return self.always_open or self._local_hours(d) is not None

    def holiday_name(self, d: date, language: str = "en_US") -> str | None:
        """Name of the public or half-day holiday on a date, or None on an ordinary day."""
        if self.country is None:
            return None
        return _holiday_names(self.country, d.year, language).get(d)

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        day = d + _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def working_days(self, start: date, end: date) -> list[date]:
        """Working days from ``start`` to ``end``, both included."""
        days = []
        day = start
        while day <= end:
            if self.is_working_day(day):
                days.append(day)
            day += _ONE_DAY
        return days

    def business_hours_on(self, d: date) -> tuple[datetime, datetime] | None:
        """UTC opening and closing instants of a local date, or None if the office is closed.

        For a 24/7 calendar this is the whole local day (23 or 25 hours on DST days).
        """
        if self.always_open:
            opens = datetime.combine(d, time(0), tzinfo=self.tz)
            closes = datetime.combine(d + _ONE_DAY, time(0), tzinfo=self.tz)
            return opens.astimezone(UTC), closes.astimezone(UTC)
        hours = self._local_hours(d)
        if hours is None:
            return None
        opens = datetime.combine(d, hours[0], tzinfo=self.tz).astimezone(UTC)
        closes = datetime.combine(d, hours[1], tzinfo=self.tz).astimezone(UTC)
        if closes <= opens:
            return None
        return opens, closes

    # -- timeline ---------------------------------------------------------------------------

    def _local_year(self, us: int) -> int:
        return _from_us(us).astimezone(self.tz).year

    def _covering(self, lo_us: int, hi_us: int) -> _Timeline:
        """A timeline covering the instants ``lo_us..hi_us``, built or widened on demand."""
        tl = self._timeline
        if tl is not None and tl.lo_start <= lo_us and hi_us <= tl.hi_end:
            return tl
        lo_year = self._local_year(lo_us)
        hi_year = self._local_year(hi_us)
        if tl is None:
            lo_year -= _INITIAL_SPAN
            hi_year += _INITIAL_SPAN
        else:
            lo_year = min(lo_year, tl.lo_year)
            hi_year = max(hi_year, tl.hi_year)
        tl = _Timeline(self, max(lo_year, 1), min(hi_year, 9998))
        if not (tl.lo_start <= lo_us and hi_us <= tl.hi_end):
            raise OverflowError("instant outside the years a business calendar can handle")
        self._timeline = tl
        return tl

    def _widen_for(self, tl: _Timeline, target: int) -> _Timeline:
        """A timeline whose business time reaches ``target`` µs counted from ``tl.lo_start``."""
        while tl.total() < target:
            years = tl.hi_year - tl.lo_year + 1
            per_year = max(tl.total() // years, 1)
            extra = (target - tl.total()) // per_year + 1
            hi_year = tl.hi_year + extra
            if hi_year > 9998:
                raise OverflowError("business-time target beyond the year 9998")
            tl = _Timeline(self, tl.lo_year, hi_year)
            self._timeline = tl
        return tl

    # -- instants ---------------------------------------------------------------------------

    def is_business_time(self, dt: datetime) -> bool:
        """Whether an instant falls inside opening hours (``open <= dt < close``)."""
        us = _to_us(dt)
        if self.always_open:
            return True
        tl = self._covering(us, us)
        i = bisect_right(tl.closes, us)
        return i < len(tl.closes) and tl.opens[i] <= us

    def add_business_minutes(self, start: datetime, minutes: float) -> datetime:
        """UTC instant at which ``minutes`` of business time have elapsed after ``start``.

        Outside opening hours the clock starts at the next opening. With more than zero minutes
        the result lies in ``(open, close]`` of a working day; with zero minutes it is ``start``
        itself during opening hours, else the next opening.
        """
        start_us = _to_us(start)
        amount = _minutes_to_us(minutes)
        if self.always_open:
            return _from_us(start_us + amount)
        tl = self._covering(start_us, start_us)
        target = tl.elapsed(start_us) + amount
        if amount:
            # First interval in which the target is reached: a target used up at closing time
            # is due at that closing time.
            tl = self._widen_for(tl, target)
            j = bisect_left(tl.upto, target)
        else:
            # First interval with business time left after ``start``: start or the next opening.
            tl = self._widen_for(tl, target + 1)
            j = bisect_right(tl.upto, target)
        return _from_us(tl.opens[j] + (target - tl.before[j]))

    def business_minutes_between(self, a: datetime, b: datetime) -> float:
        """Business minutes elapsed from ``a`` to ``b``; 0 if ``b`` is not after ``a``."""
        return self._business_us(_to_us(a), _to_us(b)) / _US_PER_MINUTE

    def _business_us(self, a_us: int, b_us: int) -> int:
        if b_us <= a_us:
            return 0
        if self.always_open:
            return b_us - a_us
        tl = self._covering(a_us, b_us)
        return tl.elapsed(b_us) - tl.elapsed(a_us)

    def split_minutes(self, start: datetime, end: datetime) -> tuple[float, float]:
        """(minutes inside, minutes outside) business hours of the interval ``start..end``.

        Both parts are real elapsed minutes, so a call across a DST night is as long as it was.
        """
        start_us = _to_us(start)
        end_us = _to_us(end)
        if end_us <= start_us:
            return 0.0, 0.0
        inside = self._business_us(start_us, end_us)
        return inside / _US_PER_MINUTE, (end_us - start_us - inside) / _US_PER_MINUTE


@lru_cache(maxsize=128)
def get_calendar(
    tz: str = "Europe/Belgrade",
    country: str | None = "RS",
    start: time = time(8),
    end: time = time(16),
    always_open: bool = False,
    weekdays: frozenset[int] = frozenset(range(5)),
    half_day_end: time = time(13),
    closed_days: frozenset[date] = frozenset(),
) -> BusinessCalendar:
    """Shared calendar for a configuration, so its holiday timeline is built only once."""
    return BusinessCalendar(
        closed_days=closed_days,
        tz=tz,
        country=country,
        start=start,
        end=end,
        weekdays=weekdays,
        always_open=always_open,
        half_day_end=half_day_end,
    )
