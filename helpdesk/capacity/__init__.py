"""Reserved support time as a plan: agents' availability, the weekly reservations for contract
clients, and the queue order that follows from them (see :mod:`.rules`, :mod:`.planner`,
:mod:`.queue`)."""
