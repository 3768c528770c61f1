"""The three arms a scenario runs under, on the testbed and in the simulator.

========== ================================================== ===========================
arm        on the testbed                                      in the simulator
========== ================================================== ===========================
none       the client's own timeout and retries only           ``none``
breaker    the article's breaker in the client library; what   ``breaker-snapshot``
           it refuses, and what fails after the retries, is
           answered from the snapshot by a user-space sidecar
horn       the exported program, applied with its controller:  ``horn``
           the client re-asks with FALLBACK at the hard
           deadline, and the kernel answers
========== ================================================== ===========================

The client's timeout, retries and back-off are the scenario's (``client``); the breaker's
settings and the deadline are the verified settings' (``settings.json``).
"""
from __future__ import annotations

from dataclasses import dataclass

from mbsim.errors import ConfigError


@dataclass(frozen=True)
class Arm:
    name: str
    policy: str  # the simulated counterpart (mbsim policies)
    summary: str
    kernel: bool = False  # the horn is applied (mbsim apply's Applied, with its controller)
    deadline: bool = False  # hard deadline, then FALLBACK re-asks to the upstream
    breaker: bool = False  # a breaker in the client library
    sidecar: bool = False  # fallback answers from a user-space snapshot sidecar


ARMS = {a.name: a for a in (
    Arm("none", "none", "no protection: the client's timeout and retries"),
    Arm("breaker", "breaker-snapshot", "plain breaker in user space, snapshot from a user-space sidecar",
        breaker=True, sidecar=True),
    Arm("horn", "horn", "the ox-horn: the kernel program and its controller", kernel=True, deadline=True),
)}


def get(names: str | list[str] | None) -> list[Arm]:
    """The arms named (comma-separated or a list; None: all three, in order)."""
    if names is None:
        return list(ARMS.values())
    items = names.split(",") if isinstance(names, str) else names
    out = []
    for n in (x.strip() for x in items):
        if n not in ARMS:
            raise ConfigError(f"unknown arm {n!r} (known: {', '.join(ARMS)})")
        out.append(ARMS[n])
    if not out:
        raise ConfigError("no arm given")
    return out
