"""``sre``: Google SRE client-side adaptive throttling.

From *Site Reliability Engineering*, chapter 21 "Handling Overload"
(https://sre.google/sre-book/handling-overload/): each client keeps, over the last two
minutes (the default window), the number of ``requests`` it attempted (including those it throttled itself)
and of ``accepts`` (requests the backend accepted), and rejects a new request locally
with probability

    max(0, (requests - K * accepts) / (requests + 1)),   K = 2 (the book's default).

An accept is any answer that is not a rejection: a success or an error answer. A 429 and
a timeout are not accepts. The window is kept as 120 one-second buckets. Rejection draws
come from the run's ``policy`` random stream. There is no breaker state: see
:class:`~mbsim.policies.parts.RefusalState`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mbsim.dimension import Dimension
from mbsim.outcome import Outcome
from mbsim.params import Params, require
from mbsim.policies import PolicySpec, register
from mbsim.policies.parts import CallerOptions, RefusalState, RollingWindow
from mbsim.strategy import State

REQUESTS, ACCEPTS = 0, 1


@dataclass(frozen=True)
class SreParams(Params):
    k: float = 2.0
    window_s: float = 120.0
    buckets: int = 120
    caller: CallerOptions = field(default_factory=CallerOptions)

    def validate(self) -> None:
        require(self.k >= 1, "k must be >= 1")
        require(self.window_s > 0 and self.buckets >= 1, "window_s must be positive and buckets >= 1")


class AdaptiveThrottle:
    def __init__(self, p: SreParams, rng: Any) -> None:
        self.p = p
        self.window = RollingWindow(p.window_s, p.buckets, 2)
        self.refusals = RefusalState()
        self.rng = rng
        self._u: list[float] = []

    def _uniform(self) -> float:
        if not self._u:
            self._u = self.rng.random(4096).tolist() if self.rng is not None else [0.5] * 4096
        return self._u.pop()

    def reject_probability(self, now: float) -> float:
        requests, accepts = self.window.sums(now)
        return max(0.0, (requests - self.p.k * accepts) / (requests + 1))

    def allow(self, now: float) -> bool:
        p = self.reject_probability(now)
        self.window.add(now, REQUESTS)
        refused = p > 0 and self._uniform() < p
        self.refusals.note(now, refused)
        return not refused

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        if outcome == Outcome.SUCCESS or outcome == Outcome.ERROR:
            self.window.add(now, ACCEPTS)

    def state(self, now: float) -> State:
        return self.refusals.state(now)


@dataclass(frozen=True)
class SreTuned(SreParams):
    """Tuned: a 10 s window (reacts and recovers faster), K = 1.5, and a 5 ms deadline with
    the snapshot as fallback."""

    k: float = 1.5
    window_s: float = 10.0
    buckets: int = 10
    caller: CallerOptions = field(default_factory=lambda: CallerOptions(timeout_ms=5.0, fallback=True))


# What ``mbsim tune --policy sre`` searches, from sre-tuned (5 ms deadline + the snapshot).
# Ranges: K 1.01 - 4 (the book's 2; lower rejects sooner), the window 1 - 120 s (120),
# the caller's deadline 1 - 50 ms.
TUNING = (
    Dimension("k", 1.01, 4.0),
    Dimension("window_s", 1, 120, log=True),
    Dimension("caller.timeout_ms", 1, 50, log=True),
)

register(PolicySpec("sre", "Google SRE adaptive throttling: K = 2 over 2 minutes", SreParams,
                    lambda p, sc, rng: p.caller.protection(AdaptiveThrottle(p, rng)),
                    tuning=TUNING, tuning_base=SreTuned))
register(PolicySpec("sre-tuned", "SRE throttling tuned: K = 1.5 over 10 s, 5 ms deadline + fallback", SreTuned,
                    lambda p, sc, rng: p.caller.protection(AdaptiveThrottle(p, rng))))
