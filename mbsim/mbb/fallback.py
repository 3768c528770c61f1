"""The ox-horn hard-deadline fallback's settings (digest 1, 3.1, 3.2).

Every logical request carries a hard deadline, ``deadline_ms`` after it was first sent.
When the deadline passes without an answer, or while the breaker refuses the call, or
when the upstream answers with an error, the answer comes from the preloaded snapshot
instead (in the real system: the TC eBPF program of ``bpf/``). What the snapshot holds
and how fast it answers is part of the scenario: :mod:`mbsim.world.snapshot`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mbsim.params import Params


@dataclass(frozen=True)
class Fallback(Params):
    """The horn's settings: on or off, and the hard deadline (ms)."""

    NAME: ClassVar[str] = "fallback"
    BOUNDS: ClassVar[dict[str, tuple[float, float]]] = {
        "deadline_ms": (0.001, 60_000.0)
    }

    enabled: bool = True
    deadline_ms: float = 5.0  # the declared bounds keep it positive
