"""``Call``: the one SimPy event type the request path uses.

A ``Call`` is a plain :class:`simpy.events.Event` that is triggered when it is created,
scheduled ``delay`` seconds ahead, carrying ``value``, with one callback. It is set up
exactly as SimPy's own ``Timeout`` is, minus the bookkeeping a timeout needs for
``yield``: requests are chains of callbacks, not generator processes.
"""
from __future__ import annotations

from typing import Any, Callable

from simpy import Environment
from simpy.events import NORMAL, Event


class Call(Event):
    def __init__(self, env: Environment, delay: float, value: Any, callback: Callable[[Event], None]) -> None:
        self.env = env
        self.callbacks = [callback]
        self._value = value
        self._ok = True
        env.schedule(self, NORMAL, delay)
