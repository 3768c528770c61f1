"""The two SimPy event types the request path uses.

``Call`` is a plain :class:`simpy.events.Event` that is triggered when it is created,
scheduled ``delay`` seconds ahead, carrying ``value``, with one callback: SimPy's own
``Timeout`` minus the bookkeeping a timeout needs for ``yield``. Rare paths (retries,
timers) use it.

``Slot`` is an event that is re-armed after it fires instead of being thrown away: the
next arrival, and the completion of the job a worker is serving (a worker has at most one
pending completion, so one ``Slot`` per busy worker suffices). SimPy allows this: once an
event has been processed, ``Environment.step`` has set its ``callbacks`` to ``None`` and
holds no further reference to it; setting ``callbacks`` again and scheduling it is exactly
what SimPy does when it creates an event, without the allocation. Hot paths re-arm inline
(``slot.callbacks = slot.on_fire; schedule(slot, NORMAL, delay)``); :meth:`Slot.arm` is
the readable form.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

from simpy import Environment
from simpy.events import NORMAL, URGENT, Event


class Call(Event):
    def __init__(self, env: Environment, delay: float, value: Any, callback: Callable[[Event], None]) -> None:
        self.env = env
        self.callbacks = [callback]
        self._value = value
        self._ok = True
        env.schedule(self, NORMAL, delay)


class Slot(Event):
    """A reusable event with one callback; idle until :meth:`arm`."""

    def __init__(self, env: Environment, callback: Callable[[Any], None]) -> None:
        self.env = env
        self.callbacks = None  # type: ignore[assignment]  # idle: not scheduled (SimPy's own mark)
        self.on_fire = [callback]  # shared by every arming; SimPy never mutates it
        self._value = None
        self._ok = True

    def arm(self, delay: float, value: Any = None) -> None:
        """Schedule this slot ``delay`` s from now, carrying ``value``; it must be idle."""
        if self.callbacks is not None:
            raise RuntimeError("Slot armed while already scheduled")
        self._value = value
        self.callbacks = self.on_fire
        self.env.schedule(self, NORMAL, delay)


def schedule_target(env: Environment) -> tuple[list[Any], Iterator[int]]:
    """The heap and event-id counter behind ``env.schedule``, for hot paths that inline it:
    ``heappush(heap, (env.now + delay, NORMAL, next(eid), event))`` is exactly what
    :meth:`simpy.Environment.schedule` does. Refuses an environment that is not laid out
    as SimPy 4's, rather than scheduling wrongly."""
    heap, eid = getattr(env, "_queue", None), getattr(env, "_eid", None)
    if not isinstance(heap, list) or not isinstance(eid, count) or type(env).schedule is not Environment.schedule:
        raise TypeError(f"cannot inline scheduling on {type(env).__name__}: not a plain SimPy 4 Environment")
    return heap, eid


def urgent(env: Environment, delay: float) -> Event:
    """An event that fires ``delay`` s from now before every NORMAL event of that instant
    (timeouts, calls, slots): how SimPy itself schedules ``run(until=...)``."""
    ev = Event(env)
    ev._ok = True
    ev._value = None
    env.schedule(ev, URGENT, delay)
    return ev
