"""The weekly reservation rule, on plain values (no database), so it is easy to test and fast.

Every contract client is owed a share of the agents' week: by default its package's monthly hours
divided by the weeks of a month, plus a fixed share for each of its open tickets whose resolution is
due within the week. The owed minutes go first to the client's dedicated agent (as far as that
agent's week allows), the rest is spread over the agents on duty in proportion to the time they still
have free. What nobody reserved is free capacity for everyone else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class AgentWeek:
    agent_id: int
    #: Minutes the agent works this week after days off and planned visits.
    available_minutes: int


@dataclass(frozen=True)
class ClientDemand:
    client_id: int
    package_code: str
    included_minutes_per_month: int
    #: Open tickets whose resolution target falls within the week.
    tickets_due: int = 0
    dedicated_agent_id: int | None = None


@dataclass(frozen=True)
class ReserveRule:
    """The setting behind the rule (``HELPDESK_CAPACITY_*``)."""

    weeks_per_month: Decimal = Decimal(52) / Decimal(12)
    minutes_per_due_ticket: int = 30

    def owed_minutes(self, demand: ClientDemand) -> int:
        base = (Decimal(demand.included_minutes_per_month) / self.weeks_per_month).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        return int(base) + demand.tickets_due * self.minutes_per_due_ticket


@dataclass
class Plan:
    #: (client_id, agent_id) -> reserved minutes, only positive values.
    reserved: dict[tuple[int, int], int] = field(default_factory=dict)
    owed: dict[int, int] = field(default_factory=dict)
    available: dict[int, int] = field(default_factory=dict)

    def client_minutes(self, client_id: int) -> int:
        return sum(m for (c, _a), m in self.reserved.items() if c == client_id)

    def agent_minutes(self, agent_id: int) -> int:
        return sum(m for (_c, a), m in self.reserved.items() if a == agent_id)

    def free_minutes(self, agent_id: int) -> int:
        return self.available.get(agent_id, 0) - self.agent_minutes(agent_id)

    def shortfall(self, client_id: int) -> int:
        """Owed minutes the week could not hold (every agent fully booked)."""
        return self.owed.get(client_id, 0) - self.client_minutes(client_id)

    @property
    def total_free(self) -> int:
        return sum(self.free_minutes(a) for a in self.available)


def _spread(amount: int, weights: dict[int, int]) -> dict[int, int]:
    """Split ``amount`` whole minutes over ``weights`` in proportion, capped by each weight
    (largest remainders get the leftover minutes; ties by the lower id)."""
    total = sum(weights.values())
    if amount <= 0 or total <= 0:
        return {}
    amount = min(amount, total)
    shares = {k: Decimal(amount) * w / total for k, w in weights.items() if w > 0}
    out = {k: min(int(v), weights[k]) for k, v in shares.items()}
    left = amount - sum(out.values())
    by_remainder = sorted(shares, key=lambda k: (-(shares[k] - int(shares[k])), k))
    while left > 0:
        progressed = False
        for k in by_remainder:
            if left == 0:
                break
            if out[k] < weights[k]:
                out[k] += 1
                left -= 1
                progressed = True
        if not progressed:
            break
    return {k: v for k, v in out.items() if v > 0}


def plan(agents: list[AgentWeek], clients: list[ClientDemand],
         rule: ReserveRule | None = None) -> Plan:
    """Reserve the week: dedicated agents first, then the rest in proportion to free time."""
    rule = rule or ReserveRule()
    result = Plan(available={a.agent_id: max(0, a.available_minutes) for a in agents})
    free = dict(result.available)
    remaining: dict[int, int] = {}
    ordered = sorted(clients, key=lambda c: c.client_id)
    for demand in ordered:
        owed = rule.owed_minutes(demand)
        result.owed[demand.client_id] = owed
        remaining[demand.client_id] = owed
    # Pass 1: the dedicated agent takes what their week allows.
    for demand in ordered:
        agent = demand.dedicated_agent_id
        if agent is None or free.get(agent, 0) <= 0:
            continue
        take = min(remaining[demand.client_id], free[agent])
        if take > 0:
            result.reserved[(demand.client_id, agent)] = take
            free[agent] -= take
            remaining[demand.client_id] -= take
    # Pass 2: what is left, spread over everyone's free time. Shares are computed on the free time
    # as it stands before the pass, so the order of clients does not favour the first ones unless
    # the week is overbooked.
    still_owed = sum(remaining.values())
    total_free = sum(free.values())
    if still_owed and total_free:
        scale = min(Decimal(1), Decimal(total_free) / Decimal(still_owed))
        for demand in ordered:
            want = remaining[demand.client_id]
            if want <= 0:
                continue
            budget = int((Decimal(want) * scale).to_integral_value(rounding=ROUND_HALF_UP))
            split = _spread(min(budget, sum(free.values())), free)
            for agent, minutes in split.items():
                key = (demand.client_id, agent)
                result.reserved[key] = result.reserved.get(key, 0) + minutes
                free[agent] -= minutes
            remaining[demand.client_id] -= sum(split.values())
    return result
