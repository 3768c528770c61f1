"""What a policy puts around the upstream: a strategy, an admission control, a fallback."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from .fallback import Fallback
from .strategy import Strategy


class Admission(Protocol):
    """Server-side admission in front of the workers (the MBB is one)."""

    retry_after_s: float  # Retry-After of a 429 (s)

    def attach(self, queue: deque) -> None:
        """Take the service's waiting queue (to bound it)."""

    def admit(self, now: float, busy: int) -> bool:
        """Admit a request arriving at ``now`` while ``busy`` workers serve?"""

    def observe(self, latency_s: float, service_s: float) -> None:
        """A request completed: server-side sojourn and service time (s)."""

    def process(self, env, sensor):  # pragma: no cover - protocol
        """SimPy generator for periodic re-tuning."""


@dataclass
class Protection:
    """The pieces a policy contributes; ``None`` means that piece is off."""

    strategy: Strategy | None = None
    admission: Admission | None = None
    fallback: Fallback | None = None
