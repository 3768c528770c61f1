"""The simulation model: client, network, service and protection, as SimPy callbacks.

SimPy is the engine. Long-lived parts (the load sensor, the fault clock, the buffer's
re-tuning, the recorder's windows, the state sampler) are generator processes. Requests
are not: each one is a chain of callbacks on plain events (arrival -> service
completion), and all timers of one length share a FIFO (:mod:`mbsim.timers`), so a
request costs two SimPy events.

How the request path stays cheap (``mbsim bench sim``; every step was checked to leave
every result of every scenario and policy bit-identical):

* the events are reused (:class:`~mbsim.events.Slot`): one for the next arrival, and one
  per worker - a worker *is* its completion slot, so ``busy = workers - len(idle)``;
* the callbacks are closures over what they read (:meth:`Model._build_request_path`),
  requests are lists (:mod:`mbsim.request`) and SimPy's ``schedule`` is inlined;
* the common case of a first attempt (no pool, nothing can be lost) is inlined in the
  arrival, and only an answer that can come late gets a deadline timer;
* a success is a bare ``list.append`` into the recorder's open window, which a process
  closes on time; the buffer and the ratio breaker have one-line fast paths;
* the cyclic garbage collector is paused during a run (nothing on the path makes cycles).

Flow of one logical request (times in s):

1. It arrives (open loop) with its own draws (:mod:`mbsim.streams`) and, when the policy
   has one, a hard deadline ``t0 + deadline``.
2. Each attempt asks the strategy; a refused attempt is answered from the snapshot
   (fallback on) or fails fast (``rejected``). A caller-side pool (bulkhead), if any, then
   gives the request a thread, queues it, or rejects it.
3. The request leg may lose it (loss, partition). Otherwise the service's admission (the
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
from heapq import heappush
from collections import deque
from typing import Iterator

from simpy import Environment
from simpy.events import NORMAL

from .events import Call, Slot, schedule_target

from .faults import FaultClock
from .metrics import ERROR, FALLBACK, MISS, REJECTED, SUCCESS, TIMEOUT, Recorder
from .protection import Protection
from .request import ATTEMPT, DRAWS, INFLIGHT, POOLED, SENT, SETTLED, T0, new_request
from .scenario import Scenario
from .sensor import LoadSensor
from .strategy import Outcome
from .timers import Deadlines, FifoTimers

OK, ERR, TMO, REJ = Outcome.SUCCESS, Outcome.ERROR, Outcome.TIMEOUT, Outcome.REJECTED
_PI = math.pi
_cos = math.cos


def lossy(sc: Scenario) -> bool:
    """Can a packet of ``sc`` be lost or delayed (loss, partitions, delay spikes)?"""
    net, f = sc.network, sc.faults
    return bool(net.loss_request or net.loss_response or f.partitions or f.delay_spikes)


def _counter(k: int, doc: str) -> property:
    """Read-only attribute: item ``k`` of the request path's counters."""
    return property(lambda self: self._counts()[k], doc=doc)


class Model:
    """One scenario under one protection; call :meth:`start`, then ``env.run``.

    The request path is written for speed: it reads plain attributes, and rare branches
    (faults, timers, retries) sit behind one flag each.
    """

    def __init__(self, env: Environment, sc: Scenario, protection: Protection, recorder: Recorder,
                 gaps: Iterator[float], draws: Iterator[tuple], retry_draws: Iterator[tuple],
                 backoff: Iterator[float], trace: list | None = None) -> None:
        self.env = env
        self.sc = sc
        self.rec = recorder
        self.record = recorder.settle
        self.gaps = gaps
        self.draws = draws
        self.retry_draws = retry_draws
        self.backoff = backoff
        self.trace = trace
        self.strategy = st = protection.strategy
        self.adm = adm = protection.admission
        self.report = st.report if st is not None else None  # bound once (None when absent)
        self.fallback = protection.fallback
        self.deadline_s = protection.deadline_ms / 1e3 if protection.deadline_ms else math.inf
        self.pool = protection.pool
        self.pool_busy = 0
        self.pool_queue: deque = deque()
        self.hit_ratio = sc.snapshot.hit_ratio
        svc = sc.service
        self.workers = svc.workers
        self.queue: deque = deque()
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
        self.psi_scale = lf.psi_scale
        self.sensor = LoadSensor(svc.capacity_rps, 0.05, lf.trend_window_s)
        self.omega_term = 0.0  # a * omega^2, refreshed by the sensor
        self.slope_term = 0.0  # c * tanh(d * slope)
        self.inflation = 1.0  # service-time factor while nobody waits (psi = 0)
        self.attempt_timers: FifoTimers | None = None
        if math.isfinite(self.timeout_s) and self.timeout_s < self.deadline_s:
            self.attempt_timers = FifoTimers(env, self.timeout_s, self._attempt_expired, self._attempt_dead)
        self.deadlines = Deadlines(env, self.deadline_s, self._deadline_expired) if math.isfinite(self.deadline_s) else None
        self._build_request_path()
        if adm is not None:
            adm.attach(self.queue, lambda: self.busy, lambda: self.attempts)
        self.reset_server_stats()

    @property
    def busy(self) -> int:
        """Workers serving a job: each one holds a scheduled completion slot."""
        return self.workers - len(self.idle)

    # -- server statistics (theory tests) -------------------------------------
    @property
    def n_started(self) -> int:
        """Jobs that started service since the last reset: each one has completed since or
        is still in service, and so has every job that was in service at the reset."""
        return self.n_done + self.busy - self._busy_at_reset

    # the request path's counters live in its closure (cheaper to bump than attributes)
    arrivals = _counter(0, "Logical requests that arrived.")
    attempts = _counter(1, "Attempts that reached the service (each one was offered to admission).")
    n_done = _counter(2, "Jobs that completed service since the last reset.")
    sum_sojourn = _counter(3, "Their summed time in the service (s).")
    n_waited = _counter(4, "Jobs that waited for a worker since the last reset.")
    sum_wait = _counter(5, "Their summed wait (s).")

    def reset_server_stats(self) -> None:
        self._reset_counts()
        self._busy_at_reset = self.busy
        self.stats_since = self.env._now
        self.samples = 0
        self.sum_in_system = 0  # sum over state samples of (waiting + in service)
        self.sum_busy = 0

    # -- processes -------------------------------------------------------------
    def start(self) -> None:
        env = self.env
        self.arrival.arm(next(self.gaps))
        env.process(self._sense())
        env.process(self._sample())
        env.process(self.clock.process(env))
        env.process(self.rec.process(env))
        if self.adm is not None:
            env.process(self.adm.process(env, self.sensor))

    def _sense(self):
        lf, sensor = self.lf, self.sensor
        seen = 0
        while True:
            yield self.env.timeout(sensor.sample_s)
            sensor.count = self.attempts - seen
            seen = self.attempts
            sensor.sample()
            omega = sensor.omega
            self.omega_term = lf.a * omega * omega
            self.slope_term = lf.c * math.tanh(lf.d * sensor.slope)
            torque = self.omega_term + self.slope_term  # psi = 0
            self.inflation = 1.0 + self.gain * torque if torque > 0.0 else 1.0

    def _sample(self, every: float = 0.01):
        """Every 10 ms: the strategy's state against the ground truth, and queue sizes."""
        env, rec, st, clock = self.env, self.rec, self.strategy, self.clock
        while True:
            now = env.now
            rec.sample_state(now, int(st.state(now)) if st is not None else 0, clock.unhealthy)
            self.samples += 1
            self.sum_in_system += len(self.queue) + self.busy
            self.sum_busy += self.busy
            yield env.timeout(every)

    # -- the request path ------------------------------------------------------
    def _build_request_path(self) -> None:
        """Make the request path: four callbacks, closures over what they read.

        They run 10K times per simulated second, so they read constants from closure
        cells rather than attributes, and a worker is its completion slot: ``idle`` holds
        the slots of idle workers (``busy`` is ``workers - len(idle)``). Counters the rest
        of mbsim reads stay attributes of the model. The rare branches (faults, pools,
        retries, timers) are methods.
        """
        model, env = self, self.env
        # SimPy's Environment.schedule(event, NORMAL, delay), inlined on the hot path
        heap, eid = schedule_target(env)
        draws, gaps = self.draws, self.gaps
        queue, workers = self.queue, self.workers
        st, adm = self.strategy, self.adm
        allow = st.allow if st is not None else None
        admit = adm.admit if adm is not None else None
        observe = adm.observe if adm is not None else None
        report = self.report
        success = self.rec.success_lane  # needs the recorder's process (start)
        deadlines, trace = self.deadlines, self.trace
        pool, lossy = self.pool, self.lossy
        exposed = lossy or self.attempt_timers is not None  # an attempt may be lost or time out
        rtt, deadline_s, timeout_s = self.rtt, self.deadline_s, self.timeout_s
        spike_fraction, spike_factor = self.spike_fraction, self.spike_factor
        gain, psi_scale, b = self.gain, self.psi_scale, self.lf.b
        clock = self.clock
        plain = pool is None and not exposed

        arrivals = attempts = n_done = n_waited = 0
        sum_sojourn = sum_wait = 0.0

        def counts() -> tuple[int, int, int, float, int, float]:
            return arrivals, attempts, n_done, sum_sojourn, n_waited, sum_wait

        def reset_counts() -> None:
            """Start the server statistics afresh (at the end of the warm-up)."""
            nonlocal n_done, sum_sojourn, n_waited, sum_wait
            n_done = n_waited = 0
            sum_sojourn = sum_wait = 0.0

        def arrive(ev: Slot) -> None:
            """A new logical request: its draws, its deadline, its first attempt."""
            nonlocal arrivals, attempts
            now = env._now
            arrivals += 1
            d = next(draws)
            allowed = allow is None or allow(now)
            if allowed and plain:  # the common case of send(), inlined: no pool, nothing lost
                req = [now, d, 1, True, False, now, False]  # new_request(now, d), its first attempt out
                attempts += 1
                if admit is not None and not admit(now):
                    if deadlines is not None:
                        deadlines.set(req)
                    model._rejected(req, now)
                elif idle:  # begin(), inlined; a worker is idle, so nobody waits: psi = 0
                    if trace is not None:
                        trace.append(0.0)
                    slot = idle.pop()
                    s = d[0]
                    if d[1] < spike_fraction:
                        s *= spike_factor
                    s *= model.inflation
                    slot.callbacks = slot.on_fire  # re-arm (Slot.arm, inlined)
                    if clock.calm:
                        # Nothing can now stop this answer (no loss, no outage); it needs a
                        # deadline only if it will come late: complete()'s test, ahead of time.
                        t_ans = (now + s) + rtt
                        if deadlines is not None and (t_ans > now + deadline_s or t_ans - now > timeout_s):
                            deadlines.set(req)
                        slot._value = ((req, 1, d, now), s, False)
                        heappush(heap, (now + s, NORMAL, next(eid), slot))
                    else:
                        if deadlines is not None:
                            deadlines.set(req)
                        disturbed(slot, (req, 1, d, now), s, now)
                else:
                    if deadlines is not None:
                        deadlines.set(req)
                    queue.append((req, 1, d, now))
            else:
                req = new_request(now, d)
                if deadlines is not None:
                    deadlines.set(req)
                if allowed:
                    send(req, now, d, True)
                else:
                    model._refused(req, now)
            ev.callbacks = ev.on_fire  # re-arm for the next arrival (Slot.arm, inlined)
            heappush(heap, (now + next(gaps), NORMAL, next(eid), ev))

        def send(req: list, now: float, d: tuple, asked: bool = False) -> None:
            """One attempt with draws ``d``: strategy (unless ``asked`` already), caller
            pool, request leg, admission, then a worker or the queue."""
            nonlocal attempts
            if allow is not None and not asked and not allow(now):
                model._refused(req, now)
                return
            if pool is not None and not req[POOLED] and not model._take_thread(req, now, d):
                return
            a = req[ATTEMPT] = req[ATTEMPT] + 1
            req[INFLIGHT] = True
            req[SENT] = now
            if exposed:
                if model.attempt_timers is not None:
                    model.attempt_timers.set(req, now)
                if lossy and (d[4] < model.p_lq or clock.partitioned):
                    return  # lost on the request leg
            attempts += 1
            if admit is not None and not admit(now):
                model._rejected(req, now)
            elif idle:
                if trace is not None:
                    trace.append(0.0)
                begin((req, a, d, now), now, idle.pop())
            else:
                queue.append((req, a, d, now))

        def begin(job: tuple, now: float, slot: Slot) -> None:
            """The worker whose completion event is ``slot`` takes ``job`` = (request,
            attempt, draws, t enqueued). Its service time is drawn, inflated by tail spikes
            and the load function, held by an outage or replaced by a fast error."""
            d = job[2]
            s = d[0]
            if d[1] < spike_fraction:
                s *= spike_factor
            if gain:
                if queue:  # psi > 0: the suspension stiffens
                    psi = len(queue) / psi_scale
                    torque = (model.omega_term * (1.0 + b * (1.0 - _cos(_PI * (psi if psi < 1.0 else 1.0))))
                              + model.slope_term)
                else:
                    torque = model.omega_term + model.slope_term
                if torque > 0.0:
                    s *= 1.0 + gain * torque
            slot.callbacks = slot.on_fire  # re-arm (Slot.arm, inlined)
            if clock.calm:
                slot._value = (job, s, False)
                heappush(heap, (now + s, NORMAL, next(eid), slot))
            else:
                disturbed(slot, job, s, now)

        def disturbed(slot: Slot, job: tuple, s: float, now: float) -> None:
            """Schedule a job's completion while a spike window or an outage is on: the
            window multiplies its service time ``s``; an outage holds it (hang) or
            replaces it with a fast error."""
            s *= clock.spike_factor
            err = False
            if clock.down_end is not None:
                if model.hang:
                    s += clock.down_end - now
                else:
                    s, err = model.error_s, True
            slot._value = (job, s, err)
            heappush(heap, (now + s, NORMAL, next(eid), slot))

        def complete(ev: Slot) -> None:
            """A worker finished a job: the next waiting job, then the answer to the client."""
            nonlocal n_done, sum_sojourn, n_waited, sum_wait
            job, s, err = ev._value
            now = env._now
            sojourn = now - job[3]
            n_done += 1
            sum_sojourn += sojourn
            if observe is not None:
                observe(sojourn, s)
            if queue:  # the worker takes the oldest waiting job
                nxt = queue.popleft()
                wait = now - nxt[3]
                if wait > 0.0:
                    sum_wait += wait
                    n_waited += 1
                if trace is not None:
                    trace.append(wait)
                begin(nxt, now, ev)
            else:
                idle.append(ev)
            req = job[0]
            if not req[INFLIGHT] or req[ATTEMPT] != job[1]:
                return  # the client stopped waiting for this attempt (a settled request is never inflight)
            t_ans = now + rtt
            if lossy:
                if job[2][5] < model.p_lr or clock.partitioned:
                    return  # lost on the response leg
                t_ans += clock.extra_delay_s
            if t_ans > req[T0] + deadline_s or t_ans - req[SENT] > timeout_s:
                return  # a timer fires first and handles it
            req[INFLIGHT] = False
            if err:
                if report is not None:
                    report(now, ERR, t_ans - req[SENT])
                model._error_answer(req, now, t_ans)
                return
            if report is not None:
                report(now, OK, t_ans - req[SENT])
            if req[POOLED]:
                model._settle(req, SUCCESS, t_ans)
                return
            req[SETTLED] = True
            success(t_ans - req[T0])

        self._send = send
        self._counts, self._reset_counts = counts, reset_counts
        self.arrival = Slot(env, arrive)  # the next arrival, re-armed as it fires
        idle = [Slot(env, complete) for _ in range(workers)]  # every worker is idle
        self.idle = idle

    def _refused(self, req: list, now: float) -> None:
        """The strategy refused the attempt: the snapshot answers, or it fails fast."""
        if self.fallback:
            self._fallback(req, now)
        else:
            self._settle(req, REJECTED, now)

    def _take_thread(self, req: list, now: float, d: tuple) -> bool:
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

    def _error_answer(self, req: list, now: float, t_ans: float) -> None:
        if self.fallback:
            self._fallback(req, t_ans)
        elif req[ATTEMPT] <= self.max_retries:
            self._retry_later(req, t_ans - now + self.client.backoff_s(req[ATTEMPT] - 1, next(self.backoff)))
        else:
            self._settle(req, ERROR, t_ans)

    def _rejected(self, req: list, now: float, by_pool: bool = False) -> None:
        """429 + Retry-After, seen by the client one RTT later; or, ``by_pool``, the
        caller's own bulkhead refusing at once."""
        req[INFLIGHT] = False
        if self.report is not None:
            self.report(now, REJ, 0.0 if by_pool else self.rtt)
        if by_pool:
            if self.fallback:
                self._fallback(req, now)
            else:
                self._settle(req, REJECTED, now)
            return
        seen = now + self.rtt
        wait = (self.adm.retry_after_s if self.client.honour_retry_after
                else self.client.backoff_s(req[ATTEMPT] - 1, next(self.backoff)))
        if req[ATTEMPT] <= self.max_retries and seen + wait < req[T0] + self.deadline_s:
            self._retry_later(req, self.rtt + wait)
        elif self.fallback:
            self._fallback(req, seen)
        else:
            self._settle(req, REJECTED, seen)

    def _retry_later(self, req: list, delay: float) -> None:
        Call(self.env, delay, req, self._resend)

    def _resend(self, ev) -> None:
        req = ev._value
        s, u_lq, u_lr, u_sp = next(self.retry_draws)
        if not req[SETTLED]:  # the first attempt's snapshot draws stay with the request
            self._send(req, self.env._now, (s, u_sp, 0.0, 0.0, u_lq, u_lr))

    # -- timers ---------------------------------------------------------------
    def _attempt_dead(self, req: list, due: float) -> bool:
        return not req[INFLIGHT] or req[SENT] + self.timeout_s != due

    def _attempt_expired(self, req: list, due: float) -> None:
        if not req[INFLIGHT] or req[SENT] + self.timeout_s != due:
            return  # answered, or this timer belongs to an earlier attempt
        now = self.env._now
        req[INFLIGHT] = False
        if self.report is not None:
            self.report(now, TMO, now - req[SENT])
        if req[ATTEMPT] <= self.max_retries:
            self._retry_later(req, self.client.backoff_s(req[ATTEMPT] - 1, next(self.backoff)))
        elif self.fallback:
            self._fallback(req, now)
        else:
            self._settle(req, TIMEOUT, now)

    def _deadline_expired(self, req: list) -> None:
        now = self.env._now
        if req[INFLIGHT]:
            req[INFLIGHT] = False
            if self.report is not None:
                self.report(now, TMO, now - req[SENT])
        if self.fallback:
            self._fallback(req, now)
        else:
            self._settle(req, TIMEOUT, now)

    # -- endings --------------------------------------------------------------
    def _fallback(self, req: list, t: float) -> None:
        """The client re-asks with FALLBACK at ``t``; the snapshot answers or misses."""
        d = req[DRAWS]
        if d[2] < self.hit_ratio:
            self._settle(req, FALLBACK, t + d[3])
        else:
            self._settle(req, MISS, t)

    def _settle(self, req: list, kind: int, t_answer: float) -> None:
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
