"""Measuring what a policy's own code costs per decision (us), inside a real run.

The strategy and the admission control are wrapped in proxies that time each call with
``perf_counter_ns``. The proxies' own overhead is measured in the same process around an
empty strategy and subtracted, so the figure is the policy's code alone.
"""
from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from mbsim.outcome import Outcome
from mbsim.strategy import State

_clock = time.perf_counter_ns


class TimedStrategy:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ns = 0
        self.calls = 0
        self.decisions = 0

    def allow(self, now: float) -> bool:
        t = _clock()
        r = self.inner.allow(now)
        self.ns += _clock() - t
        self.calls += 1
        self.decisions += 1
        typed: bool = r
        return typed

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        t = _clock()
        self.inner.report(now, outcome, latency)
        self.ns += _clock() - t
        self.calls += 1

    def state(self, now: float) -> State:
        typed: State = self.inner.state(now)  # sampling for metrics: not the policy's cost
        return typed


class TimedAdmission:
    admits_when_idle = False  # time every decision: never let the model skip admit()

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.ns = 0
        self.calls = 0
        self.decisions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def attach(self, queue: Any, in_service: Any, offered: Any) -> None:
        self.inner.attach(queue, in_service, offered)

    def admit(self, now: float, give_up: float) -> bool:
        t = _clock()
        r = self.inner.admit(now, give_up)
        self.ns += _clock() - t
        self.calls += 1
        self.decisions += 1
        typed: bool = r
        return typed

    def shed_is_failure(self, now: float, done: int) -> bool:
        t = _clock()
        r = self.inner.shed_is_failure(now, done)
        self.ns += _clock() - t
        self.calls += 1
        typed: bool = r
        return typed

    def observe(self, latency_s: float, service_s: float) -> None:
        t = _clock()
        self.inner.observe(latency_s, service_s)
        self.ns += _clock() - t
        self.calls += 1

    def process(self, env: Any, sensor: Any) -> Generator[Any, Any, None]:
        typed: Generator[Any, Any, None] = self.inner.process(env, sensor)
        return typed


class _Null:
    def allow(self, now: float) -> bool:
        return True

    def report(self, now: float, outcome: Outcome, latency: float) -> None:
        return None


def proxy_overhead_ns(n: int = 200_000) -> float:
    """ns a TimedStrategy adds per call around an empty strategy."""
    t = TimedStrategy(_Null())
    for _ in range(n):
        t.allow(0.0)
        t.report(0.0, Outcome.SUCCESS, 0.0)
    return t.ns / t.calls
