"""The client's own timeout and retry policy (what callers do without mbsim).

An attempt that gets no answer within ``timeout_ms`` is a timeout. After a timeout or
an error the client retries up to ``max_retries`` times, waiting an exponential back-off
with full jitter: ``uniform(0, min(cap, base * 2**k))`` ms before retry k+1. After a
429 it waits the server's Retry-After instead (when ``honour_retry_after``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mbsim.params import Params, require


@dataclass(frozen=True)
class Client(Params):
    NAME: ClassVar[str] = "client"
    NO_LIMIT: ClassVar[frozenset[str]] = frozenset({"timeout_ms"})  # Infinity: the client never times out
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "timeout_ms": (0.001, 3_600_000.0), "max_retries": (0, 10)
    }

    timeout_ms: float = 100.0
    max_retries: int = 2
    backoff_ms: float = 10.0
    backoff_cap_ms: float = 200.0
    honour_retry_after: bool = True

    def validate(self) -> None:
        require(self.timeout_ms > 0, "client.timeout_ms must be positive")
        require(self.max_retries >= 0, "client.max_retries must be >= 0")
        require(self.backoff_ms >= 0 and self.backoff_cap_ms >= 0, "client back-off must be >= 0")

    def backoff_s(self, retry: int, u: float) -> float:
        """Back-off (s) before retry number ``retry`` (0-based), for a uniform ``u``."""
        typed: float = u * min(self.backoff_cap_ms, self.backoff_ms * (2 ** retry)) / 1e3
        return typed
