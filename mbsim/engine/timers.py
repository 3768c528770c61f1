"""Many timers of one constant delay, for the price of a few SimPy events.

Timers that all run for the same ``delay`` expire in the order they were set, so they
fit in a FIFO. Only the oldest timer is ever scheduled as a SimPy event; when it fires,
every timer that is due expires (``expire(item, due)``, skipped for items that no longer
need it: ``dead(item, due)``), and dead timers are dropped from the front before the next
event is scheduled. With deadlines of a few ms
and most requests answered in time, that is one SimPy event per deadline period instead
of one per request.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from simpy import Environment

from mbsim.engine.events import Call
from mbsim.engine.request import SETTLED, T0

EPS = 1e-9  # s: timers due within 1 ns of now expire now (float rounding of absolute times)


class FifoTimers:
    """Timers of ``delay`` s over items; see the module docstring."""

    def __init__(self, env: Environment, delay: float,
                 expire: Callable[[Any, float], None], dead: Callable[[Any, float], bool]) -> None:
        self.env = env
        self.delay = delay
        self.expire = expire
        self.dead = dead
        self.q: deque[tuple[float, Any]] = deque()
        self.armed = False
        self.events = 0  # SimPy events scheduled, for the benchmark

    def set(self, item: Any, now: float) -> None:
        """Start a timer for ``item`` at ``now`` (s)."""
        self.q.append((now + self.delay, item))
        if not self.armed:
            self._arm(self.delay)

    def _arm(self, dt: float) -> None:
        self.armed = True
        self.events += 1
        Call(self.env, dt, None, self._fire)

    def _fire(self, _ev: Any) -> None:
        now = self.env.now
        q = self.q
        expire, dead = self.expire, self.dead
        limit = now + EPS
        while q and q[0][0] <= limit:
            due, item = q.popleft()
            if not dead(item, due):
                expire(item, due)
        while q and dead(q[0][1], q[0][0]):
            q.popleft()
        if q:
            self._arm(q[0][0] - now)
        else:
            self.armed = False

    def __len__(self) -> int:
        return len(self.q)


class Deadlines:
    """The hard deadlines of requests (:mod:`mbsim.engine.request` lists), ``delay`` s after each
    one's arrival time: FIFO timers specialised for the request path. Push with
    ``deadlines.q.append(req)`` then ``if not deadlines.armed: deadlines.arm()``; when a
    deadline passes, ``expire(req)`` is called unless the request has settled."""

    def __init__(self, env: Environment, delay: float, expire: Callable[[list[Any]], None]) -> None:
        self.env = env
        self.delay = delay
        self.expire = expire
        self.q: deque[list[Any]] = deque()
        self.armed = False
        self.events = 0  # SimPy events scheduled, for the benchmark

    def set(self, req: list[Any]) -> None:
        """Start the deadline of ``req`` (the readable form of the two lines above)."""
        self.q.append(req)
        if not self.armed:
            self.arm()

    def arm(self, dt: float | None = None) -> None:
        """Schedule the next firing ``dt`` s ahead; by default ``delay``, right after the
        first push into an empty queue (unarmed means empty)."""
        self.armed = True
        self.events += 1
        Call(self.env, self.delay if dt is None else dt, None, self._fire)

    def _fire(self, _ev: Any) -> None:
        q, delay = self.q, self.delay
        limit = self.env.now + EPS
        while q and q[0][T0] + delay <= limit:
            req = q.popleft()
            if not req[SETTLED]:
                self.expire(req)
        while q and q[0][SETTLED]:
            q.popleft()
        if q:
            self.arm(q[0][T0] + delay - self.env.now)
        else:
            self.armed = False
