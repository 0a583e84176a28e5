"""Why an entry bills what it bills: the rule codes a report prints next to it.

:func:`helpdesk.accounting.monthly.compute_usage` puts each entry in a bucket (counted against the
package, development apart, free visit, warranty) and asks :func:`explain_entry` for the codes:
R rounded up, M minimum one increment, O out of hours weighted, V free visit, P paid visit,
D development, W warranty, T trial, N no contract, E a day without a contract in a month a
contract served partly (after its end, before its start), X waived, A adjustment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .monthly import EntryRecord
    from .tariff import BillingRules

__all__ = [
    "BUCKET_DEVELOPMENT",
    "BUCKET_FREE_VISIT",
    "BUCKET_NO_CONTRACT",
    "BUCKET_PACKAGE",
    "BUCKET_WARRANTY",
    "RULE_CODES",
    "EntryExplanation",
    "explain_entry",
    "plain_billable_minutes",
]

#: Short codes of the rules that make an entry's billed time differ from its worked time (or
#: keep it off the package), in the order a report's legend lists them.
RULE_ROUNDING = "R"
RULE_MINIMUM = "M"
RULE_OUT_OF_HOURS = "O"
RULE_FREE_VISIT = "V"
RULE_PAID_VISIT = "P"
RULE_DEVELOPMENT = "D"
RULE_WARRANTY = "W"
RULE_TRIAL = "T"
RULE_NO_CONTRACT = "N"
RULE_OUTSIDE_CONTRACT = "E"
RULE_WAIVED = "X"
RULE_ADJUSTMENT = "A"
RULE_CODES = (
    RULE_ROUNDING, RULE_MINIMUM, RULE_OUT_OF_HOURS, RULE_FREE_VISIT, RULE_PAID_VISIT,
    RULE_DEVELOPMENT, RULE_WARRANTY, RULE_TRIAL, RULE_NO_CONTRACT, RULE_OUTSIDE_CONTRACT,
    RULE_WAIVED, RULE_ADJUSTMENT,
)

#: Where an entry's billed minutes went in the month's sum.
BUCKET_PACKAGE = "package"  # counted against the package (or, without one, charged)
BUCKET_DEVELOPMENT = "development"
BUCKET_FREE_VISIT = "free_visit"
BUCKET_WARRANTY = "warranty"
#: A day of the month no contract served, in a month a contract served partly: no-contract rate.
BUCKET_NO_CONTRACT = "no_contract"


@dataclass(frozen=True, slots=True)
class EntryExplanation:
    """Why one entry bills what it bills: the rules applied (codes) and where its minutes went."""

    id: int
    bucket: str
    codes: tuple[str, ...]
    #: Minutes added by the out-of-hours weighting (billed minus the in-hours equivalent).
    surcharge_minutes: int


def plain_billable_minutes(kind: str, minutes: int, rules: BillingRules) -> int:
    """What ``minutes`` of ``kind`` bill inside business hours: rounded up, sessions at least one
    increment (the same arithmetic as :func:`billable_minutes` without a calendar)."""
    increments = -(-max(minutes, 0) // rules.increment_minutes)
    if kind in rules.session_kinds:
        increments = max(increments, 1)
    return increments * rules.increment_minutes


def explain_entry(
    e: EntryRecord, bucket: str, status: str, rules: BillingRules
) -> EntryExplanation:
    """The codes of the rules that made ``e`` bill what it bills, and its share of surcharge."""
    codes: list[str] = []
    surcharge = 0
    if e.is_adjustment:
        codes.append(RULE_ADJUSTMENT)
    else:
        plain = e.billable_minutes if e.plain_billable_minutes is None else e.plain_billable_minutes
        if e.billable_minutes == 0 and (e.minutes > 0 or e.kind in rules.session_kinds):
            codes.append(RULE_WAIVED)
        else:
            if e.kind in rules.session_kinds and e.minutes < rules.increment_minutes:
                codes.append(RULE_MINIMUM)
            elif plain > e.minutes:
                codes.append(RULE_ROUNDING)
            if e.billable_minutes > plain:
                codes.append(RULE_OUT_OF_HOURS)
                surcharge = e.billable_minutes - plain
    if bucket == BUCKET_DEVELOPMENT:
        codes.append(RULE_DEVELOPMENT)
    elif bucket == BUCKET_FREE_VISIT:
        codes.append(RULE_FREE_VISIT)
    elif bucket == BUCKET_WARRANTY:
        codes.append(RULE_WARRANTY)
    elif bucket == BUCKET_NO_CONTRACT:
        if e.kind == "visit":
            codes.append(RULE_PAID_VISIT)
        codes.append(RULE_OUTSIDE_CONTRACT)
    else:
        if e.kind == "visit" and not e.is_adjustment:
            codes.append(RULE_PAID_VISIT)
        if status == "trial":
            codes.append(RULE_TRIAL)
        elif status not in ("active", "trial"):
            codes.append(RULE_NO_CONTRACT)
    return EntryExplanation(
        id=e.id if e.id is not None else 0,
        bucket=bucket,
        codes=tuple(codes),
        surcharge_minutes=surcharge if bucket == BUCKET_PACKAGE else 0,
    )


