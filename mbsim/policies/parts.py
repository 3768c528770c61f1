"""Pieces the peer models share: rolling time windows, limiter state, the peer options."""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from mbsim.params import Params, require
from mbsim.policies.protection import Pool, Protection
from mbsim.strategy import State, Strategy


class RollingWindow:
    """Counters over the last ``window_s`` seconds in ``buckets`` rolling buckets (the
    Hystrix / Resilience4j TIME_BASED structure). ``fields`` counters per bucket."""

    def __init__(self, window_s: float, buckets: int, fields: int) -> None:
        self.width = window_s / buckets
        self.n = buckets
        self.counts = [[0] * fields for _ in range(buckets)]
        self.totals = [0] * fields
        self.epoch = 0

    def _advance(self, now: float) -> list[int]:
        epoch = int(now / self.width)
        if epoch != self.epoch:
            for e in range(max(self.epoch + 1, epoch - self.n + 1), epoch + 1):
                b = self.counts[e % self.n]
                for i, c in enumerate(b):
                    self.totals[i] -= c
                    b[i] = 0
            self.epoch = epoch
        return self.counts[epoch % self.n]

    def add(self, now: float, field: int, n: int = 1) -> None:
        self._advance(now)[field] += n
        self.totals[field] += n

    def sums(self, now: float) -> list[int]:
        self._advance(now)
        return list(self.totals)

    def reset(self) -> None:
        for b in self.counts:
            for i in range(len(b)):
                b[i] = 0
        self.totals = [0] * len(self.totals)


class RefusalState:
    """A limiter or throttler has no breaker state. Its state is OPEN when it refused more
    than half of the calls of the last ``window_s`` (100 ms), else CLOSED: shedding a few
    calls is throttling, not blocking, so decision accuracy means the same for every
    policy (blocking = mostly refusing)."""

    def __init__(self, window_s: float = 0.1) -> None:
        self.win = RollingWindow(window_s, 4, 2)  # 0: asked, 1: refused

    def note(self, now: float, refused: bool) -> None:
        self.win.add(now, 0)
        if refused:
            self.win.add(now, 1)

    def state(self, now: float) -> State:
        asked, refused = self.win.sums(now)
        return State.OPEN if refused * 2 > asked else State.CLOSED


@dataclass(frozen=True)
class CallerOptions(Params):
    """What the caller puts around a peer: a timeout per logical request (ms, 0 for none),
    a fallback answer from the same snapshot as the horn, and a bulkhead pool.

    Libraries with a fallback hook (Hystrix ``getFallback``, Resilience4j
    ``Decorators.withFallback``) are given the snapshot as their fallback; the others
    have none unless a tuned variant adds it.
    """

    NAME: ClassVar[str] = "caller"

    timeout_ms: float = 0.0
    fallback: bool = False
    pool_threads: int = 0  # 0: no bulkhead
    pool_queue: int = 0

    def validate(self) -> None:
        require(self.timeout_ms >= 0, "caller.timeout_ms must be >= 0")
        require(self.pool_threads >= 0 and self.pool_queue >= 0, "caller pool sizes must be >= 0")

    def protection(self, strategy: Strategy) -> Protection:
        return Protection(strategy=strategy, deadline_ms=self.timeout_ms or None, fallback=self.fallback,
                          pool=Pool(self.pool_threads, self.pool_queue) if self.pool_threads else None)


def log10_root(limit: int) -> int:
    """concurrency-limits' Log10RootFunction: max(1, int(log10(limit))) below 1000, else sqrt."""
    if limit < 1000:
        return max(1, int(math.log10(limit))) if limit > 0 else 1
    return int(math.sqrt(limit))


class Inflight:
    """A limiter's in-flight count, with the count seen by each call (concurrency-limits
    passes the in-flight count at acquire time to the algorithm; the Strategy protocol has
    no per-call token, so mbsim keeps a FIFO of those counts and pairs them with reports in
    order - exact when calls finish in the order they started)."""

    def __init__(self) -> None:
        self.n = 0
        self.at_acquire: deque[int] = deque()

    def acquire(self) -> None:
        self.n += 1
        self.at_acquire.append(self.n)

    def release(self) -> int:
        self.n -= 1
        return self.at_acquire.popleft() if self.at_acquire else self.n + 1
