"""The simulation model: client, network, service and protection, as SimPy callbacks.

SimPy is the engine. Long-lived parts (the load sensor, the fault clock, the buffer's
re-tuning, the recorder's windows, the state sampler) are generator processes. Requests
are not: each one is a chain of callbacks on plain events (arrival -> service
completion), and all timers of one length share a FIFO (:mod:`mbsim.engine.timers`), so a
request costs two SimPy events.

How the request path stays cheap (``mbsim bench sim``; every step was checked to leave
every result of every scenario and policy bit-identical):

* the events are reused (:class:`~mbsim.engine.events.Slot`): one for the next arrival,
  and one per worker - a worker *is* its completion slot, so ``busy = workers - len(idle)``;
* the callbacks are closures over what they read (:mod:`mbsim.engine.request_path`),
  requests are lists (:mod:`mbsim.engine.request`) and SimPy's ``schedule`` is inlined;
* only an answer that can come late gets a deadline timer;
* a success is a bare ``list.append`` into the recorder's open window, which a process
  closes on time; the buffer and the ratio breaker have one-line fast paths;
* the cyclic garbage collector is paused during a run (nothing on the path makes cycles).

Flow of one logical request (times in s):

1. It arrives (open loop) with its own draws (:mod:`mbsim.engine.draws`) and, when the policy
   has one, a hard deadline ``t0 + deadline``.
2. Each attempt asks the strategy; a refused attempt is answered from the snapshot
   (fallback on) or fails fast (``rejected``). A caller-side pool (bulkhead), if any, then
   gives the request a thread, queues it, or rejects it.
3. The request leg may lose it (loss, partition, a per-request fault). Otherwise the service's admission (the
   MBB) admits it or answers 429 + Retry-After; the client retries after Retry-After if
   that is before its deadline, else falls back or gives up.
4. Admitted, it waits FIFO for one of ``workers``; its service time is inflated by the
   load function and tail spikes, or held by an outage (hang), or replaced by a fast
   error.
5. The response leg may lose it. An answer reaches the client one RTT (plus any delay
   spike) after the service finishes; the strategy is told when the service finishes,
   with the latency the client will see.
6. The client's timer (``client.timeout_ms``) and the deadline catch whatever never
   came back: timeouts are retried with back-off; at the deadline the snapshot answers
   (the client re-asks with FALLBACK and the kernel answers it), or without a fallback
   the request fails as a timeout.

The server never cancels work the client abandoned.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from heapq import heappush
from typing import Any

from simpy import Environment
from simpy.events import NORMAL

from mbsim.engine.draws import FALLBACK_LATENCY, HIT, Draws, lossy
from mbsim.engine.events import Call, Slot, schedule_target
from mbsim.engine.request import ATTEMPT, DRAWS, INFLIGHT, POOLED, SENT, SETTLED, T0, Counters
from mbsim.engine.request_path import build
from mbsim.engine.timers import Deadlines, FifoTimers
from mbsim.engine.windows import windows
from mbsim.metrics.recorder import Recorder
from mbsim.outcome import ERROR, FALLBACK, MISS, REJECTED, TIMEOUT
from mbsim.policies.protection import Protection
from mbsim.world.faults import FaultClock
from mbsim.world.scenario import Scenario
from mbsim.world.sensor import LoadSensor


class Model:
    """One scenario under one protection; call :meth:`start`, then ``env.run``.

    The request path (:mod:`mbsim.engine.request_path`) reads plain attributes of the
    model, and rare branches (faults, timers, retries) sit behind one flag each.
    """

    def __init__(self, env: Environment, sc: Scenario, protection: Protection, recorder: Recorder,
                 draws: Draws, trace: list[Any] | None = None) -> None:
        self.env = env
        self.sc = sc
        self.rec = recorder
        self.record = recorder.settle
        self.draws = draws
        self.trace = trace
        self.strategy = st = protection.strategy
        self.adm = adm = protection.admission
        self.report = st.report if st is not None else None  # bound once (None when absent)
        self.shed_is_failure = getattr(adm, "shed_is_failure", None)
        self.fallback = protection.fallback
        self.deadline_s = protection.deadline_ms / 1e3 if protection.deadline_ms else math.inf
        self.pool = protection.pool
        self.pool_busy = 0
        self.pool_queue: deque[Any] = deque()
        self.hit_ratio = sc.snapshot.hit_ratio
        svc = sc.service
        self.workers = svc.workers
        self.queue: deque[Any] = deque()
        net = sc.network
        self.rtt = net.rtt_ms / 1e3
        self.p_lq = net.loss_request
        self.p_lr = net.loss_response
        self.clock = FaultClock(sc.faults, sc.workload.spike_windows)
        # one flag for everything that can lose or delay a packet
        self.lossy = lossy(sc)
        self.hang = sc.faults.down_mode == "hang"
        self.error_s = sc.faults.error_ms / 1e3
        self.client = sc.client
        self.timeout_s = sc.client.timeout_ms / 1e3
        self.max_retries = sc.client.max_retries
        self.spike_fraction = sc.workload.spike_fraction
        self.spike_factor = sc.workload.spike_factor
        lf = svc.load
        self.lf = lf
        self.gain = lf.gain
        self.sensor = LoadSensor(svc.capacity_rps, 0.05, lf.trend_window_s)
        self.omega_term = 0.0  # a * omega^2, refreshed by the sensor
        self.slope_term = 0.0  # c * tanh(d * slope)
        self.inflation = 1.0  # service-time factor while nobody waits (psi = 0)
        self.attempt_timers: FifoTimers | None = None
        if math.isfinite(self.timeout_s) and self.timeout_s < self.deadline_s:
            self.attempt_timers = FifoTimers(env, self.timeout_s, self._attempt_expired, self._attempt_dead)
        self.deadlines = (Deadlines(env, self.deadline_s, self._deadline_expired)
                          if math.isfinite(self.deadline_s) else None)
        self._heap, self._eid = schedule_target(env)  # SimPy's schedule, inlined (events.py)
        self.counts = Counters()
        self.idle_slots: list[Slot] = []  # the completion slots of idle workers (build fills it)
        self.path = build(self)
        self._send = self.path.send
        self.arrival = Slot(env, self.path.arrive)  # the next arrival, re-armed as it fires
        if adm is not None:
            adm.attach(self.queue, lambda: self.busy, lambda: self.counts.attempts)
        self.reset_server_stats()

    @property
    def busy(self) -> int:
        """Workers serving a job: each one holds a scheduled completion slot."""
        return self.workers - len(self.idle_slots)

    # -- server statistics (theory tests) -------------------------------------
    @property
    def n_started(self) -> int:
        """Jobs that started service since the last reset: each one has completed since or
        is still in service, and so has every job that was in service at the reset."""
        return self.counts.done + self.busy - self._busy_at_reset

    def reset_server_stats(self) -> None:
        self.counts.reset()
        self._busy_at_reset = self.busy
        self.stats_since = self.env._now
        self.samples = 0
        self.sum_in_system = 0  # sum over state samples of (waiting + in service)
        self.sum_busy = 0

    # -- processes -------------------------------------------------------------
    def start(self) -> None:
        env = self.env
        self.arrival.arm(next(self.draws.gaps))
        env.process(self._sense())
        env.process(self._sample())
        env.process(self.clock.process(env))
        env.process(windows(env, self.rec))
        if self.adm is not None:
            env.process(self.adm.process(env, self.sensor))
            rate_process = getattr(self.adm, "rate_process", None)
            if rate_process is not None and getattr(self.adm, "rate", None) is not None:
                env.process(rate_process(env))

    def _sense(self) -> Generator[Any, Any, None]:
        """Every 50 ms: the load sensor, and the load function's factors from it. The load
        (omega) is the rate of attempts the service took on: those its admission shed
        with a 429 cost it nothing."""
        lf, sensor, counts = self.lf, self.sensor, self.counts
        seen = 0
        while True:
            yield self.env.timeout(sensor.sample_s)
            taken = counts.attempts - counts.shed
            sensor.count = taken - seen
            seen = taken
            sensor.sample()
            omega = sensor.omega
            self.omega_term = lf.a * omega * omega
            self.slope_term = lf.c * math.tanh(lf.d * sensor.slope)
            torque = self.omega_term + self.slope_term  # psi = 0
            self.inflation = 1.0 + self.gain * torque if torque > 0.0 else 1.0

    def _sample(self, every: float = 0.01) -> Generator[Any, Any, None]:
        """Every 10 ms: the strategy's state against the ground truth, and queue sizes."""
        env, rec, st, clock = self.env, self.rec, self.strategy, self.clock
        while True:
            now = env.now
            rec.sample_state(now, int(st.state(now)) if st is not None else 0, clock.unhealthy)
            self.samples += 1
            self.sum_in_system += len(self.queue) + self.busy
            self.sum_busy += self.busy
            yield env.timeout(every)

    # -- rare branches of the request path -------------------------------------
    def _disturbed(self, job: tuple[Any, ...], s: float, now: float, slot: Slot, err: bool) -> float:
        """Schedule a job's completion when something disturbs it: an error answer
        (``err``), a spike window (multiplies its service time ``s``), an outage (holds it
        until the backend is back, or replaces it with a fast error). Its answer time is
        not known yet: inf."""
        clock = self.clock
        s *= clock.spike_factor
        if clock.down_end is not None:
            if self.hang:
                s += clock.down_end - now
            else:
                s, err = self.error_s, True
        slot._value = (job, s, err)
        heappush(self._heap, (now + s, NORMAL, next(self._eid), slot))
        return math.inf

    def _refused(self, req: list[Any], now: float) -> None:
        """The strategy refused the attempt: the snapshot answers, or it fails fast."""
        if self.fallback:
            self._fallback(req, now)
        else:
            self._settle(req, REJECTED, now)

    def _take_thread(self, req: list[Any], now: float, d: tuple[Any, ...]) -> bool:
        """The caller-side pool: a free thread (True), else wait in its queue or be rejected."""
        req[INFLIGHT] = True  # allowed: the deadline may end it while it waits
        if self.pool_busy < self.pool.threads:  # type: ignore[union-attr]
            self.pool_busy += 1
            req[POOLED] = True
            return True
        if len(self.pool_queue) < self.pool.queue:  # type: ignore[union-attr]
            self.pool_queue.append((req, d))
        else:
            self._rejected(req, now, by_pool=True)
        return False

    def _error_answer(self, req: list[Any], now: float, t_ans: float) -> None:
        if self.fallback:
            self._fallback(req, t_ans)
        elif req[ATTEMPT] <= self.max_retries:
            self._retry_later(req, t_ans - now + self.client.backoff_s(req[ATTEMPT] - 1, next(self.draws.backoff)))
        else:
            self._settle(req, ERROR, t_ans)

    def _rejected(self, req: list[Any], now: float, by_pool: bool = False) -> None:
        """429 + Retry-After, seen by the client one RTT later; or, ``by_pool``, the
        caller's own bulkhead refusing at once."""
        req[INFLIGHT] = False
        if self.report is not None:
            failing = not by_pool and self.shed_is_failure is not None and self.shed_is_failure(now, self.counts.done)
            self.report(now, TIMEOUT if failing else REJECTED, 0.0 if by_pool else self.rtt)
        if by_pool:
            if self.fallback:
                self._fallback(req, now)
            else:
                self._settle(req, REJECTED, now)
            return
        self.counts.shed += 1
        seen = now + self.rtt
        assert self.adm is not None  # only admission answers 429
        wait = (self.adm.retry_after_s if self.client.honour_retry_after
                else self.client.backoff_s(req[ATTEMPT] - 1, next(self.draws.backoff)))
        if req[ATTEMPT] <= self.max_retries and seen + wait < req[T0] + self.deadline_s:
            self._retry_later(req, self.rtt + wait)
        elif self.fallback:
            self._fallback(req, seen)
        else:
            self._settle(req, REJECTED, seen)

    def _retry_later(self, req: list[Any], delay: float) -> None:
        Call(self.env, delay, req, self._resend)

    def _resend(self, ev: Any) -> None:
        req = ev._value
        d = next(self.draws.retry)  # taken even for a settled request: one retry, one row
        if not req[SETTLED]:  # the first attempt's snapshot draws stay with the request
            self._send(req, self.env._now, d)

    # -- timers ---------------------------------------------------------------
    def _attempt_dead(self, req: list[Any], due: float) -> bool:
        return not req[INFLIGHT] or req[SENT] + self.timeout_s != due

    def _attempt_expired(self, req: list[Any], due: float) -> None:
        if not req[INFLIGHT] or req[SENT] + self.timeout_s != due:
            return  # answered, or this timer belongs to an earlier attempt
        now = self.env._now
        req[INFLIGHT] = False
        if self.report is not None:
            self.report(now, TIMEOUT, now - req[SENT])
        if req[ATTEMPT] <= self.max_retries:
            self._retry_later(req, self.client.backoff_s(req[ATTEMPT] - 1, next(self.draws.backoff)))
        elif self.fallback:
            self._fallback(req, now)
        else:
            self._settle(req, TIMEOUT, now)

    def _deadline_expired(self, req: list[Any]) -> None:
        now = self.env._now
        if req[INFLIGHT]:
            req[INFLIGHT] = False
            if self.report is not None:
                self.report(now, TIMEOUT, now - req[SENT])
        if self.fallback:
            self._fallback(req, now)
        else:
            self._settle(req, TIMEOUT, now)

    # -- endings --------------------------------------------------------------
    def _fallback(self, req: list[Any], t: float) -> None:
        """The client re-asks with FALLBACK at ``t``; the snapshot answers or misses."""
        d = req[DRAWS]
        if d[HIT] < self.hit_ratio:
            self._settle(req, FALLBACK, t + d[FALLBACK_LATENCY])
        else:
            self._settle(req, MISS, t)

    def _settle(self, req: list[Any], kind: int, t_answer: float) -> None:
        req[SETTLED] = True
        now = self.env._now
        self.record(now, kind, t_answer - req[T0])
        if req[POOLED]:
            req[POOLED] = False
            self.pool_busy -= 1
            self._pool_next(now)

    def _pool_next(self, now: float) -> None:
        """A pool thread is free: the oldest waiting request that still wants it gets it."""
        q = self.pool_queue
        while q and self.pool_busy < self.pool.threads:  # type: ignore[union-attr]
            req, d = q.popleft()
            if req[SETTLED] or not req[INFLIGHT]:
                continue  # its deadline passed while it waited
            self.pool_busy += 1
            req[POOLED] = True
            self._send(req, now, d, asked=True)
