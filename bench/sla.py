"""Benchmark of SLA due-time computations; the last line printed is a JSON object with the rate.

Usage: python bench/sla.py [N]  (default 200,000 computations per measurement)
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from helpdesk.calendar.business import get_calendar
from helpdesk.sla import due_at

#: Targets in business minutes as support packages define them (first response .. resolution).
TARGETS = (30, 60, 120, 240, 480, 960, 1440, 2400, 4800)


def random_starts(rng: random.Random, n: int) -> list[datetime]:
    """Instants spread over 2025-2027, at any second, in UTC as the ticket service stores them."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    span = 3 * 365 * 86_400
    return [base + timedelta(seconds=rng.randrange(span)) for _ in range(n)]


def measure(n: int, with_pauses: bool, seed: int = 2026) -> float:
    """Due-time computations per second over ``n`` random starts and targets."""
    rng = random.Random(seed)
    calendar = get_calendar("Europe/Belgrade", "RS")
    starts = random_starts(rng, n)
    targets = [rng.choice(TARGETS) for _ in range(n)]
    if with_pauses:
        pauses = [
            [
                (
                    s + timedelta(hours=rng.randrange(1, 48)),
                    s + timedelta(hours=rng.randrange(49, 96)),
                )
            ]
            for s in starts
        ]
    else:
        pauses = [()] * n
    due_at(calendar, starts[0], targets[0])  # build the holiday timeline outside the timing
    began = time.perf_counter()
    for start, target, paused in zip(starts, targets, pauses, strict=True):
        due_at(calendar, start, target, paused)
    return n / (time.perf_counter() - began)


def main() -> None:
    """Print the rates with and without pauses; the median plain rate is the headline figure."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    paused = measure(n // 4, with_pauses=True)
    plain = statistics.median(measure(n, with_pauses=False) for _ in range(3))
    print(f"due_at with one pause: {paused:,.0f}/s")
    print(f"due_at without pauses: {plain:,.0f}/s")
    print(json.dumps({"sla_due_per_s": round(plain, 1)}))


if __name__ == "__main__":
    main()
