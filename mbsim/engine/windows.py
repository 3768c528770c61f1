"""The recorder's clock: the SimPy process that closes each one-second window.

It drops the warm-up and closes each window the instant it ends, before any other event
of that instant (URGENT). While it runs, the recorder's open window is always the right
one, so a success may be recorded as ``rec.success_lane(latency)``: a bare
``list.append``, the cheapest call Python has.
"""
from __future__ import annotations

from collections.abc import Generator
from typing import Any

from simpy import Environment

from mbsim.engine.events import urgent
from mbsim.metrics.recorder import Recorder


def windows(env: Environment, rec: Recorder) -> Generator[Any, Any, None]:
    """SimPy process: the warm-up (``rec.warmup`` s), then one-second windows forever."""
    if rec.warmup > env.now:
        yield urgent(env, rec.warmup - env.now)
    rec.start_measuring()
    while True:
        yield urgent(env, rec.window_end - env.now)
        rec.roll(env.now)
