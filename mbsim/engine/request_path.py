"""The request path: the four callbacks a request runs through, each made by a builder.

They run 10K times per simulated second, so each is a closure over what it reads
(constants sit in closure cells, which cost what literals do), SimPy's ``schedule`` is
inlined (:func:`~mbsim.engine.events.schedule_target`), events are reused
(:class:`~mbsim.engine.events.Slot`) and a worker *is* its completion slot: ``idle`` holds
the slots of idle workers. The rare branches (pools, retries, timers, endings) are
methods of :class:`~mbsim.engine.model.Model`.

``arrive``   a new logical request: its draws, its first attempt, and its hard deadline
             unless its answer is known to come in time
``send``     one attempt, the first or a retry: strategy, caller pool, request leg,
             admission, then a worker or the queue
``begin``    a worker takes a job: its service time, inflated by spikes, per-request
             faults and the load function, or held by an outage
``complete`` a worker finished: the next waiting job, then the answer to the client

An answer is *late* when it reaches the client after the request's ``GIVE_UP`` time
(:mod:`mbsim.engine.request`), which ``send`` sets for every attempt. A late answer is
left to a timer. ``send`` applies the test ahead of time to an attempt that starts at
once when nothing can disturb it (its answer time is then known, and only a late one
needs a deadline timer); ``complete`` applies it when the answer is ready.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import TYPE_CHECKING, Any, NamedTuple

from simpy.events import NORMAL

from mbsim.engine.draws import EXTRA, LOSS_REQUEST, LOSS_RESPONSE, SERVICE, SPIKE, heavy_field, rtt_field
from mbsim.engine.events import Slot, schedule_target
from mbsim.engine.request import ATTEMPT, GIVE_UP, INFLIGHT, JOB_DRAWS, JOB_QUEUED, POOLED, SENT, SETTLED, T0
from mbsim.outcome import ERROR, SUCCESS

if TYPE_CHECKING:  # pragma: no cover
    from mbsim.engine.model import Model

_cos, _PI = math.cos, math.pi
Faults = tuple[tuple[int, float, float], ...]  # (draws field, probability, factor)


class RequestPath(NamedTuple):
    arrive: Callable[[Slot], None]
    send: Callable[..., bool]
    begin: Callable[[tuple[Any, ...], float, Slot], float]
    complete: Callable[[Slot], None]


def build(m: Model) -> RequestPath:
    """The request path of model ``m``; its workers' completion slots go to ``m.idle_slots``."""
    begin = make_begin(m)
    send = make_send(m, begin)
    arrive = make_arrive(m, send)
    complete = make_complete(m, begin)
    m.idle_slots.extend(Slot(m.env, complete) for _ in range(m.workers))  # every worker is idle
    return RequestPath(arrive, send, begin, complete)


def scenario_faults(m: Model, where: str) -> Faults:
    """The scenario's per-request faults that act ``where``."""
    return tuple((EXTRA + k, f.probability, f.factor) for k, f in enumerate(m.sc.faults.per_request)
                 if f.where == where and f.probability > 0)


def hit(d: tuple[Any, ...], faults: Faults) -> bool:
    """Does the attempt with draws ``d`` meet one of ``faults``?"""
    return any(d[field] < p for field, p, _ in faults)


def slowdown(d: tuple[Any, ...], faults: Faults) -> float:
    """The service-time factor of the ``faults`` that the attempt with draws ``d`` meets."""
    f = 1.0
    for field, p, factor in faults:
        if d[field] < p:
            f *= factor
    return f


def make_begin(m: Model) -> Callable[[tuple[Any, ...], float, Slot], float]:
    heap, eid = schedule_target(m.env)
    clock, queue, rtt, lf = m.clock, m.queue, m.rtt, m.sc.service.load
    rtt_at = rtt_field(m.sc)  # None: every attempt takes the constant round trip
    heavy_at = heavy_field(m.sc)  # None: a spike is spike_factor times the draw
    spike_fraction, spike_factor, gain = m.spike_fraction, m.spike_factor, lf.gain
    slower, failing = scenario_faults(m, "service"), scenario_faults(m, "error")

    def begin(job: tuple[Any, ...], now: float, slot: Slot) -> float:
        """The worker whose completion event is ``slot`` takes ``job``. Returns when its
        answer reaches the client (s) if nothing disturbs it, else inf (an outage, a
        spike window or an error answer: not known yet)."""
        d = job[JOB_DRAWS]
        s = d[SERVICE]
        if d[SPIKE] < spike_fraction:
            s = s * spike_factor if heavy_at is None else d[heavy_at]
        if slower:
            s *= slowdown(d, slower)
        if queue and gain:  # psi > 0: the suspension stiffens
            psi = len(queue) / lf.psi_scale
            torque = m.omega_term * (1.0 + lf.b * (1.0 - _cos(_PI * (psi if psi < 1.0 else 1.0)))) + m.slope_term
            if torque > 0.0:
                s *= 1.0 + gain * torque
        else:
            s *= m.inflation  # nobody waits: the sensor's factor for psi = 0
        slot.callbacks = slot.on_fire  # re-arm (Slot.arm, inlined)
        if clock.calm and not (failing and hit(d, failing)):
            slot._value = (job, s, False)
            heappush(heap, (now + s, NORMAL, next(eid), slot))
            typed: float = (now + s) + (rtt if rtt_at is None else d[rtt_at])
            return typed
        return m._disturbed(job, s, now, slot, bool(failing) and hit(d, failing))

    return begin


def make_send(m: Model, begin: Callable[[tuple[Any, ...], float, Slot], float]) -> Callable[..., bool]:
    clock, queue, idle, counts = m.clock, m.queue, m.idle_slots, m.counts
    st: Any = m.strategy
    adm = m.adm
    allow = st.allow if st is not None else None
    ask = allow is not None and not hasattr(st, "passes")  # otherwise: ask unless st.passes
    admit = adm.admit if adm is not None else None
    admits_when_idle = bool(getattr(adm, "admits_when_idle", False))  # then skip admit() for an idle worker
    pool, lossy, trace = m.pool, m.lossy, m.trace
    deadline_s, timeout_s = m.deadline_s, m.timeout_s
    exposed = lossy or m.attempt_timers is not None  # an attempt may be lost or time out
    certain = pool is None and not exposed  # nothing but the service decides when it ends
    lost_on_request = scenario_faults(m, "request")

    def send(req: list[Any], now: float, d: tuple[Any, ...], asked: bool = False) -> bool:
        """One attempt with draws ``d`` (``asked``: the strategy already allowed it). True
        when its answer is sure to reach the client in time: no timer need watch it."""
        if allow is not None and not asked and (ask or not st.passes) and not allow(now):
            m._refused(req, now)
            return False
        if pool is not None and not req[POOLED] and not m._take_thread(req, now, d):
            return False
        a = req[ATTEMPT] = req[ATTEMPT] + 1
        req[INFLIGHT] = True
        req[SENT] = now
        # the client waits for this attempt until its hard deadline or its own timeout
        hard = req[T0] + deadline_s
        own = now + timeout_s
        give_up = req[GIVE_UP] = hard if hard < own else own
        if exposed:
            if m.attempt_timers is not None:
                m.attempt_timers.set(req, now)
            if lossy and (d[LOSS_REQUEST] < m.p_lq or clock.partitioned or hit(d, lost_on_request)):
                return False  # lost on the request leg
        counts.attempts += 1
        job = (req, a, d, now)
        if admit is not None and not (admits_when_idle and idle) and not admit(now, give_up):
            m._rejected(req, now)
            return False
        if idle:
            if trace is not None:
                trace.append(0.0)
            return begin(job, now, idle.pop()) <= give_up and certain
        queue.append(job)
        return False

    return send


def make_arrive(m: Model, send: Callable[..., bool]) -> Callable[[Slot], None]:
    env, counts, deadlines = m.env, m.counts, m.deadlines
    heap, eid = schedule_target(env)
    first, gaps = m.draws.first, m.draws.gaps

    def arrive(ev: Slot) -> None:
        """A new logical request: its draws, its first attempt, its deadline if needed."""
        now = env._now
        counts.arrivals += 1
        d = next(first)
        req = [now, d, 0, False, False, now, False, now]  # new_request(now, d)
        if not send(req, now, d) and deadlines is not None:
            deadlines.set(req)
        ev.callbacks = ev.on_fire  # re-arm for the next arrival (Slot.arm, inlined)
        heappush(heap, (now + next(gaps), NORMAL, next(eid), ev))

    return arrive


def make_complete(m: Model, begin: Callable[[tuple[Any, ...], float, Slot], float]) -> Callable[[Slot], None]:
    env, clock, queue, idle, counts = m.env, m.clock, m.queue, m.idle_slots, m.counts
    adm, report, trace = m.adm, m.report, m.trace
    observe = adm.observe if adm is not None else None
    success = m.rec.success_lane  # needs the recorder's process (Model.start)
    rtt, lossy = m.rtt, m.lossy
    rtt_at = rtt_field(m.sc)
    lost_on_response = scenario_faults(m, "response")
    OK, ERR = SUCCESS, ERROR
    drop = m.sc.service.drop_abandoned

    late = m.sc.service.mean_ms / 1e3 + rtt  # a job started now answers this much later, on average

    def drop_abandoned(queue: deque[Any], now: float) -> None:
        """Pop the jobs at the head of the queue whose client will not take their answer:
        the attempt was answered otherwise or timed out, or its answer, started now, would
        on average reach the client after it stops waiting (``GIVE_UP``: the deadline the
        request carries)."""
        while queue:
            req, a = queue[0][0], queue[0][1]
            if req[INFLIGHT] and req[ATTEMPT] == a and now + late <= req[GIVE_UP]:
                return
            queue.popleft()
            counts.dropped += 1

    def complete(ev: Slot) -> None:
        """A worker finished a job: the next waiting job, then the answer to the client."""
        job, s, err = ev._value
        req, a, d, queued = job
        now = env._now
        sojourn = now - queued
        counts.done += 1
        counts.sum_sojourn += sojourn
        if observe is not None:
            observe(sojourn, s)
        if drop and queue:  # deadline propagation: abandoned jobs leave the queue unserved
            drop_abandoned(queue, now)
        if queue:  # the worker takes the oldest waiting job
            nxt = queue.popleft()
            wait = now - nxt[JOB_QUEUED]
            if wait > 0.0:
                counts.sum_wait += wait
                counts.waited += 1
            if trace is not None:
                trace.append(wait)
            begin(nxt, now, ev)
        else:
            idle.append(ev)
        if not req[INFLIGHT] or req[ATTEMPT] != a:
            return  # the client stopped waiting for this attempt (a settled request is never inflight)
        t_ans = now + (rtt if rtt_at is None else d[rtt_at])
        if lossy:
            if d[LOSS_RESPONSE] < m.p_lr or clock.partitioned or hit(d, lost_on_response):
                return  # lost on the response leg
            t_ans += clock.extra_delay_s
        if t_ans > req[GIVE_UP]:
            return  # late: a timer fires first and handles it
        req[INFLIGHT] = False
        if err:
            if report is not None:
                report(now, ERR, t_ans - req[SENT])
            m._error_answer(req, now, t_ans)
            return
        if report is not None:
            report(now, OK, t_ans - req[SENT])
        if req[POOLED]:
            m._settle(req, OK, t_ans)
            return
        req[SETTLED] = True
        success(t_ans - req[T0])

    return complete
