"""The weekly reservation rule, on plain values (no database), so it is easy to test and fast.

Every contract client is owed a share of the agents' week: by default its package's monthly hours
divided by the weeks of a month, plus a fixed share for each of its open tickets whose resolution is
due within the week. The owed minutes go first to the client's dedicated agent (as far as that
agent's week allows); the rest goes to whichever agent on duty has the most time still free, so the
week stays balanced and a client's hours sit with one or two people rather than in crumbs. What nobody reserved is free capacity for everyone else.
"""

from __future__ import annotations

import heapq
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


def plan(agents: list[AgentWeek], clients: list[ClientDemand],
         rule: ReserveRule | None = None) -> Plan:
    """Reserve the week: dedicated agents first, then the agent with the most free time."""
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
    # Pass 2: what is left goes to the agent with the most free time at that moment (the
    # biggest reservations first, so the week is balanced), a client moving on to the next agent
    # only when one is full. When the week is overbooked every client gets the same share of
    # what it is owed.
    still_owed = sum(remaining.values())
    total_free = sum(free.values())
    if still_owed and total_free:
        scale = min(Decimal(1), Decimal(total_free) / Decimal(still_owed))
        heap = [(-minutes, agent) for agent, minutes in free.items() if minutes > 0]
        heapq.heapify(heap)
        for demand in sorted(ordered, key=lambda d: (-remaining[d.client_id], d.client_id)):
            want = int((Decimal(remaining[demand.client_id]) * scale)
                       .to_integral_value(rounding=ROUND_HALF_UP))
            while want > 0 and heap:
                neg, agent = heapq.heappop(heap)
                take = min(want, -neg)
                key = (demand.client_id, agent)
                result.reserved[key] = result.reserved.get(key, 0) + take
                want -= take
                remaining[demand.client_id] -= take
                left = -neg - take
                if left > 0:
                    heapq.heappush(heap, (-left, agent))
    return result
