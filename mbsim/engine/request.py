"""A logical request and an attempt in service, as the model carries them.

A request is a plain list indexed by the names below: a list costs a quarter of what a
slotted object does to make, and the model makes 10K of them per simulated second.

======== =====================================================================
T0       arrival time (s); the hard deadline counts from here
DRAWS    its first attempt's draws (:mod:`mbsim.engine.draws`); the snapshot fields
         of these serve every attempt
ATTEMPT  attempts sent so far
INFLIGHT an attempt is out and the client waits for it
SETTLED  it has its final outcome
SENT     when the current attempt was sent (s)
POOLED   it holds a thread of the caller-side pool
GIVE_UP  when the client stops waiting for the current attempt (s): the earlier of the
         hard deadline (T0 + deadline) and the attempt's own timeout (SENT + timeout).
         An answer that reaches the client after it is *late*: a timer, not the answer,
         settles the request. ``send`` (:mod:`mbsim.engine.request_path`) sets it.
======== =====================================================================

A job is one attempt that reached the service: a tuple indexed by JOB_REQUEST (the
request), JOB_ATTEMPT (which attempt), JOB_DRAWS (that attempt's draws) and JOB_QUEUED
(when it entered the service, s). While a worker serves it, the worker's completion slot
carries ``(job, service_s, error)``.
"""
from __future__ import annotations

from typing import Any

T0, DRAWS, ATTEMPT, INFLIGHT, SETTLED, SENT, POOLED, GIVE_UP = range(8)
JOB_REQUEST, JOB_ATTEMPT, JOB_DRAWS, JOB_QUEUED = range(4)


def new_request(t0: float, draws: tuple[Any, ...]) -> list[Any]:
    """A request that arrived at ``t0`` (s) with ``draws``, before its first attempt."""
    return [t0, draws, 0, False, False, t0, False, t0]



class Counters:
    """What the request path counts (the server statistics of the theory tests)."""

    __slots__ = ("arrivals", "attempts", "done", "dropped", "shed", "sum_sojourn", "sum_wait", "waited")

    def __init__(self) -> None:
        self.arrivals = 0  # logical requests that arrived
        self.attempts = 0  # attempts offered to the service (each one to admission)
        self.shed = 0  # of them, refused by admission (429)
        self.dropped = 0  # waiting jobs dropped unserved (deadline propagation)
        self.reset()

    def reset(self) -> None:
        """Start the server statistics afresh (at the end of the warm-up)."""
        self.done = 0  # jobs that completed service
        self.sum_sojourn = 0.0  # their summed time in the service (s)
        self.waited = 0  # jobs that waited for a worker
        self.sum_wait = 0.0  # their summed wait (s)
