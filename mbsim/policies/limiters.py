"""The concurrency-limits ``SimpleLimiter`` around a limit algorithm (Gradient2, Vegas).

``acquire`` succeeds while fewer than ``limit`` calls are in flight. A success feeds the
algorithm an RTT sample (``onSuccess``); a timeout or a rejection is a drop
(``onDropped``, ``didDrop = true``); an error answer is ignored (``onIgnore``: no RTT
sample, as the library's gRPC client interceptor does for non-latency failures).
Source: https://github.com/Netflix/concurrency-limits (``AbstractLimiter``,
``SimpleLimiter``).
"""
from __future__ import annotations

from typing import Protocol

from mbsim.outcome import Outcome
from mbsim.policies.parts import Inflight, RefusalState
from mbsim.strategy import State


class LimitAlgorithm(Protocol):
    limit: float

    def update(self, rtt: float, inflight: int, did_drop: bool) -> None:
        ...


class SimpleLimiter:
    def __init__(self, algorithm: LimitAlgorithm) -> None:
        self.algo = algorithm
        self.inflight = Inflight()
        self.refusals = RefusalState()

    def allow(self, now: float) -> bool:
        ok = self.inflight.n < int(self.algo.limit)
        self.refusals.note(now, not ok)
        if ok:
            self.inflight.acquire()
        return ok

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        seen = self.inflight.release()
        if outcome == Outcome.SUCCESS:
            self.algo.update(latency, seen, False)
        elif outcome != Outcome.ERROR:
            self.algo.update(latency, seen, True)

    def state(self, now: float) -> State:
        return self.refusals.state(now)
