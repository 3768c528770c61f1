"""A logical request, as the model carries it: a plain list, indexed by these names.

A list costs a quarter of what a slotted object does to make, and the model makes 10K of
them per simulated second.

======== =====================================================================
T0       arrival time (s); the hard deadline counts from here
DRAWS    its draws: (service s, u spike, u snapshot hit, fallback latency s, u loss
         req, u loss resp), the last two only in scenarios that can lose packets; a
         retried attempt gets fresh service, spike and loss draws
ATTEMPT  attempts sent so far
INFLIGHT an attempt is out and the client waits for it
SETTLED  it has its final outcome
SENT     when the current attempt was sent (s)
POOLED   it holds a thread of the caller-side pool
======== =====================================================================
"""
from __future__ import annotations

T0, DRAWS, ATTEMPT, INFLIGHT, SETTLED, SENT, POOLED = range(7)


def new_request(t0: float, draws: tuple) -> list:
    """A request that arrived at ``t0`` (s) with ``draws``, before its first attempt."""
    return [t0, draws, 0, False, False, t0, False]
