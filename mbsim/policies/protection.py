"""What a policy puts around the upstream.

* ``strategy`` - the caller-side breaker or limiter (:class:`~mbsim.strategy.Strategy`);
* ``admission`` - server-side admission in front of the workers (the MBB's buffer);
* ``deadline_ms`` - a hard deadline per logical request, from its first send (the horn's
  deadline, Hystrix's command timeout, Resilience4j's TimeLimiter); None for none;
* ``fallback`` - answer from the snapshot at the deadline, when the strategy refuses, and
  on error answers; without it those requests fail;
* ``pool`` - a caller-side bulkhead: a logical request holds one of ``threads`` from its
  first send until it ends (a Hystrix thread runs the whole command, retries included);
  when all are busy it waits in a FIFO of ``queue`` places, and beyond that it is
  rejected (reported to the strategy as REJECTED).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from mbsim.strategy import Strategy


class Admission(Protocol):
    """Server-side admission in front of the workers (the MBB is one).

    It may also keep a boolean attribute ``admits_when_idle``: True when ``admit`` says
    yes, with no side effect, whenever a worker is idle (so nobody waits). The model then
    skips the call for a request that finds an idle worker.
    """

    retry_after_s: float  # Retry-After of a 429 (s)

    def attach(self, queue: deque[Any], in_service: Callable[[], int], offered: Callable[[], int]) -> None:
        """Take the service's waiting queue (to bound it), and functions that count the
        requests in service and those offered so far (one per ``admit`` call)."""

    def admit(self, now: float, give_up: float) -> bool:
        """Admit a request arriving at ``now`` (s) whose client waits for it until
        ``give_up`` (s: its deadline or its own timeout, whichever comes first)?"""

    def observe(self, latency_s: float, service_s: float) -> None:
        """A request completed: server-side sojourn and service time (s)."""

    def shed_is_failure(self, now: float, done: int) -> bool:
        """Optional: does a 429 at ``now`` report a failing backend (``done``: jobs completed
        so far)? Such 429s count as failures for the breaker; others as load shedding."""
        return False

    def process(self, env: Any, sensor: Any) -> Generator[Any, Any, None]:  # pragma: no cover - protocol
        """SimPy generator for periodic re-tuning."""


@dataclass(frozen=True)
class Pool:
    """A caller-side bulkhead: ``threads`` concurrent requests, ``queue`` waiting."""

    threads: int
    queue: int = 0


@dataclass
class Protection:
    """The pieces a policy contributes; ``None``/False means that piece is off."""

    strategy: Strategy | None = None
    admission: Admission | None = None
    deadline_ms: float | None = None
    fallback: bool = False
    pool: Pool | None = None
