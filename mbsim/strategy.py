"""The ``Strategy`` protocol every protection policy implements (digest 4.1).

A strategy sits on the caller's side of one upstream. For each attempt the model asks
``allow(now)``; if allowed, it later calls ``report(now, outcome, latency)`` exactly
once for that attempt. ``state(now)`` says what the strategy is doing, for decision
accuracy and timelines. Times are simulation seconds; latency is in seconds.

A strategy may also keep a boolean attribute ``passes``: True only while ``allow`` would
return True with no side effect (a breaker that is CLOSED). The model then skips the
call, which is a tenth of what a request costs. Without the attribute, ``allow`` is
always called.
"""
from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable

from mbsim.outcome import Outcome


class State(enum.IntEnum):
    """Breaker states. Limiters and throttlers map onto the nearest one."""

    CLOSED = 0  # calls flow
    OPEN = 1  # calls are refused
    HALF_OPEN = 2  # a few trial calls probe the upstream


@runtime_checkable
class Strategy(Protocol):
    """Allow, report, state: the article's breaker interface, shared by all peers."""

    def allow(self, now: float) -> bool:
        """May an attempt be sent at ``now``? An allowed attempt is reported once."""
        ...

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        """The attempt allowed earlier ended with ``outcome`` after ``latency`` s."""
        ...

    def state(self, now: float) -> State:
        """Current state, without side effects."""
        ...
