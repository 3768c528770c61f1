"""The user-space controller of the horn: re-tuning, breaker and decision log.

Every sample interval (50 ms, ``buffer.topology.sample_ms``) it sums the per-CPU window
slots of that interval (they are a ring; it reads them well before they are reused) and
hands them to the mountain-bike re-tuning that the simulator's buffer runs too
(:class:`mbsim.mbb.retune.Retuner`: formulas, damping, and the topology when the
service's capacity is given). A re-tune writes window and capacity into the config map.
At every periodic re-tune it also reads and resets the per-CPU in-flight watermarks
(their P95 over CPUs is logged, digest 2.3). Every few slots it closes in-flight entries
older than twice the deadline (their answers were lost) and reports them as timeouts.

Where the kernel differs from the simulator, it is a setting of this class: latency is
the client's round trip as the horn sees it (the simulator's buffer sees server-side
sojourn), no latencies are kept (``window`` mode only), and the topology runs only with
``capacity_rps``.

Decision events are posted without wakeups (a wakeup from the egress hook costs an IPI);
the controller drains the ring every 5 ms. The breaker is mbsim's own
(:mod:`mbsim.mbb.breaker`), fed with every response, timeout and late response from the
ring buffer. Its state is written into the config map: OPEN makes
the kernel answer every request; HALF_OPEN lets ``probes`` requests through. All of it
happens while the programs stay attached.

Every ``buffer.rate_limit.every_s`` (0.5 s) it reads and resets the per-CPU in-flight
watermarks and takes their P95 over CPUs; with the rate limit enabled, the watermark loop
(:mod:`mbsim.mbb.watermark`) turns it into a rate limit that the horn enforces per window
slot. Every 250 ms it classifies the offered load's terrain (:mod:`mbsim.world.terrain`).

A setting is put in force whole (:meth:`Horn.set_config`: the spare config slot, then one
flip). :meth:`hot_load` replaces the settings while everything stays attached - the
online tuner's proposals and rollbacks arrive that way, through the control socket
(:mod:`mbsim.kernel.control`) - and counts each change with its reason.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from mbsim.deploy.export import constants_of
from mbsim.errors import ConfigError
from mbsim.kernel import horn as H
from mbsim.mbb.retune import Interval, Retuner
from mbsim.mbb.settings import MbbSettings
from mbsim.mbb.watermark import RateLimiter
from mbsim.outcome import Outcome
from mbsim.strategy import State
from mbsim.world.sensor import LoadSensor
from mbsim.world.terrain import TerrainSensor

TERRAIN_SAMPLE_S = 0.25


def mode_of(settings: MbbSettings) -> str:
    """The ``mode`` label (digest 2.4): ``conservative`` when the watermark loop may throttle
    the load before the buffer fills (the rate limit is on), ``aggressive`` when only the
    capacity and the breaker stand between the load and the upstream."""
    return "conservative" if settings.buffer.rate_limit.enabled else "aggressive"


class Controller:
    def __init__(self, horn: H.Horn, settings: MbbSettings, log: Callable[[dict[str, Any]], None],
                 log_decisions: bool = True, capacity_rps: float | None = None) -> None:
        self.horn = horn
        self.s = settings
        self.log = log
        self.log_decisions = log_decisions
        self.breaker = settings.breaker.build()
        self.state = H.CLOSED
        self.retuner = Retuner(settings.buffer, keep_latencies=False, apply=self._apply)
        self.window_ms = self.retuner.window_s * 1e3
        self.capacity = self.retuner.capacity
        self.sensor = (LoadSensor(capacity_rps, self.retuner.sample_s) if capacity_rps else None)
        # a sample interval is a whole number of the kernel's window slots
        self.slots_per_sample = max(1, round(self.retuner.sample_s * 1e9 / horn.slot_ns))
        self.deadline_ns = int(settings.fallback.deadline_ms * 1e6)
        self.expire_after_ns = max(self.deadline_ns, int(settings.buffer.window_max_ms * 1e6)) * 2
        self.last_epoch = time.monotonic_ns() // horn.slot_ns - 1
        self.answered = self._answered()
        self.forced: int | None = None  # an operator's override of the breaker (see force())
        self.rate = RateLimiter(settings.buffer.rate_limit)
        self.limit_rps = math.inf
        self.watermark_p95 = 0.0
        self._passed_mark = horn.counter(H.C_PASSED)
        self.terrain = TerrainSensor(TERRAIN_SAMPLE_S)
        self._offered_mark = self._offered()
        self.changes: Counter[str] = Counter()  # settings changes by reason (hot_load)
        self.update_us: list[float] = []  # each hot_load: from the call to the flip (us)
        self.on_latency: list[Callable[[float, str], None]] = []  # (latency s, decision) of responses, timeouts
        self.compiled = constants_of(settings)
        self.metrics_at: str | None = None  # ADDR:PORT of the exporter, when one serves
        horn.events.open_ring_buffer(self._on_event)
        horn.log_decisions = log_decisions
        self._write()

    # -- events -------------------------------------------------------------------
    def _on_event(self, _ctx: Any, data: Any, _size: Any) -> None:
        ev = H.event(data)
        decision = H.DECISIONS.get(ev.decision, str(ev.decision))
        now = time.monotonic()
        if ev.decision == 5:  # response
            self.breaker.report(now, Outcome.SUCCESS if ev.status == 0 else Outcome.ERROR, ev.latency_us / 1e6)
        elif ev.decision in (6, 8):  # late response, timeout (FALLBACK re-ask)
            self.breaker.report(now, Outcome.TIMEOUT, ev.latency_us / 1e6)
        if ev.decision in (5, 6, 8):
            for observe in self.on_latency:
                observe(ev.latency_us / 1e6, decision)
        if self.log_decisions:
            self.log({"type": "decision", "ts_ns": ev.ts_ns, "client": H.client_of(ev), "req_id": ev.req_id,
                      "upstream": str(self.horn.upstream), "decision": decision,
                      "status": H.STATUSES.get(ev.status, ev.status), "latency_us": ev.latency_us, "key": ev.key,
                      "cfg_gen": ev.cfg_gen})

    # -- periodic -------------------------------------------------------------------
    def _write(self) -> int:
        """Put the controller's state, capacity, window and rate limit in force, whole."""
        per_slot = RateLimiter.per_slot(self.limit_rps, self.horn.slot_ns / 1e9)
        return self.horn.set_config(self.state, self.capacity, int(self.window_ms * 1000), per_slot,
                                    self.s.buffer.rate_limit.over == "refuse")

    def _apply(self, window_s: float, capacity: int, limit: float) -> None:
        """A re-tune: carry window and capacity into the kernel's config map."""
        self.window_ms = window_s * 1e3
        self.capacity = capacity
        self._write()

    def hot_load(self, settings: MbbSettings, reason: str) -> dict[str, Any]:
        """Put new settings in force without detaching anything: the kernel gets them first,
        in one flip (``update_us``: from the call to the flip), then the re-tuning, the
        breaker and the rate limit restart from them (window and capacity carried over,
        within the new bounds; ``rebuilt_us``: the whole). Settings that change a constant
        compiled into the horn (the slot length or count, the deadline) are refused."""
        t0 = time.perf_counter_ns()
        differ = [k for k, v in constants_of(settings).items() if self.compiled.get(k) != v]
        if differ:
            raise ConfigError(f"these settings change {differ[0]}, compiled into the running horn: "
                              f"export and apply them instead")
        b = settings.buffer
        window_s = min(max(self.window_ms / 1e3, b.window_min_ms / 1e3), b.window_max_ms / 1e3)
        capacity = min(max(self.capacity, b.capacity_min), b.capacity_max)
        # the kernel first: the new setting is in force before the Python side is rebuilt
        self.s = settings
        self.window_ms, self.capacity = window_s * 1e3, capacity
        self.limit_rps = math.inf
        self.state = H.CLOSED if self.forced is None else self.forced
        gen = self._write()
        us = (time.perf_counter_ns() - t0) / 1e3
        history = self.retuner.history
        self.retuner = Retuner(b, keep_latencies=False, apply=self._apply)
        self.retuner.history.extend(history)
        self.retuner.window_s, self.retuner.capacity = window_s, capacity
        self.breaker = settings.breaker.build()
        self.deadline_ns = int(settings.fallback.deadline_ms * 1e6)
        self.expire_after_ns = max(self.deadline_ns, int(b.window_max_ms * 1e6)) * 2
        self.rate = RateLimiter(b.rate_limit)
        total = (time.perf_counter_ns() - t0) / 1e3
        self.update_us.append(us)
        self.changes[reason] += 1
        record = {"type": "settings", "t": time.monotonic(), "reason": reason, "gen": gen, "update_us": us,
                  "rebuilt_us": total, "window_ms": self.window_ms, "capacity": self.capacity}
        self.log(record)
        return record

    def _offered(self) -> int:
        d = self.horn.decisions()
        return sum(d[name] for name in H.OFFERED)

    def sense_terrain(self) -> str:
        """One terrain sample: the requests offered since the last one."""
        offered = self._offered()
        n, self._offered_mark = offered - self._offered_mark, offered
        return self.terrain.add(n)

    def watermark_step(self, period_s: float) -> float:
        """The watermark loop: the marks' P95 over CPUs since the last step; with the rate
        limit on, the new limit goes into the kernel. Returns the P95."""
        marks = self.horn.take_watermarks()
        self.watermark_p95 = float(np.percentile(marks, 95)) if marks else 0.0
        passed = self.horn.counter(H.C_PASSED)
        rps, self._passed_mark = (passed - self._passed_mark) / period_s, passed
        limit = self.rate.step(self.watermark_p95, self.capacity, rps)
        if limit != self.limit_rps:
            self.limit_rps = limit
            self._write()
            self.log({"type": "rate_limit", "t": time.monotonic(), "watermark_p95": self.watermark_p95,
                      "passed_rps": rps, "limit_rps": limit})
        return self.watermark_p95

    def _answered(self) -> int:
        """Requests the kernel answered itself so far (OPEN and capacity answers): the
        slots count only the requests passed to the upstream."""
        d = self.horn.decisions()
        return sum(d[name] for name in H.NOT_PASSED)

    def read_slots(self) -> int:
        """Hand every complete sample interval of window slots to the re-tuning; returns
        how many periodic re-tunes that made. Requests offered in an interval are those the
        slots counted (passed) plus those the kernel answered since the last read."""
        newest_complete = time.monotonic_ns() // self.horn.slot_ns - 1
        n = (newest_complete - self.last_epoch) // self.slots_per_sample
        if n <= 0:
            return 0
        answered = self._answered()
        extra, self.answered = answered - self.answered, answered
        retunes = 0
        for k in range(n):
            end = self.last_epoch + self.slots_per_sample
            tot, _ = self.horn.read_slots(self.last_epoch, end)
            offered = tot.requests + extra // n + (1 if k < extra % n else 0)
            if self.sensor is not None:
                self.sensor.count = offered
                self.sensor.sample()
            before = len(self.retuner.retunes)
            self.retuner.step(time.monotonic(), Interval(offered, tot.count, tot.sum_us / 1e6,
                                                         tot.sumsq_us / 1e12), self.sensor)
            if any(cause == "period" for _, cause, *_ in self.retuner.retunes[before:]):
                retunes += 1
                self._log_tune(tot)
            self.last_epoch = end
        return retunes

    def expire(self) -> None:
        now = time.monotonic()
        for client, req_id, age in self.horn.expire(self.expire_after_ns):
            self.breaker.report(now, Outcome.TIMEOUT, age / 1e9)
            if self.log_decisions:
                self.log({"type": "decision", "ts_ns": time.monotonic_ns(), "client": client, "req_id": req_id,
                          "upstream": str(self.horn.upstream), "decision": "expired", "status": "error",
                          "latency_us": age // 1000, "key": None})

    def force(self, state: int | None) -> None:
        """Pin the kernel's state (``H.OPEN``, ``H.CLOSED``), or give control back (None)."""
        self.forced = state
        self.sync_breaker()

    def sync_breaker(self) -> None:
        """Carry the breaker's state (or the forced one) into the kernel."""
        now = time.monotonic()
        st = self.breaker.state(now)
        want = {State.CLOSED: H.CLOSED, State.OPEN: H.OPEN, State.HALF_OPEN: H.HALF_OPEN}[st]
        if self.forced is not None:
            want = self.forced
        if want == H.HALF_OPEN and self.state != H.HALF_OPEN:
            granted = 0
            while self.breaker.allow(now):  # move it into HALF_OPEN, claiming every probe
                granted += 1
            self.horn.set_counter(H.C_PROBES, granted)
        if want != self.state:
            self.log({"type": "state", "t": now, "from": self._name(self.state), "to": self._name(want)})
            self.state = want
            self._write()

    @staticmethod
    def _name(state: int) -> str:
        return {H.CLOSED: "closed", H.OPEN: "open", H.HALF_OPEN: "half_open"}[state]

    def _log_tune(self, last: H.SlotTotals) -> dict[str, Any]:
        """Log a periodic re-tune, with the watermarks since the last one."""
        rps, std_ms, _ = self.retuner.stats(self.s.buffer.adjust_s)
        record = {"type": "tune", "t": time.monotonic(), "rps": rps, "latency_std_ms": std_ms,
                  "responses": sum(iv.n for iv in list(self.retuner.history)[-self.retuner._every:]),
                  "errors_last_sample": last.errors, "window_ms": self.window_ms, "capacity": self.capacity,
                  "damping": self.retuner.damping, "state": self._name(self.state),
                  "in_flight": self.horn.in_flight(), "watermark_p95": self.watermark_p95,
                  "limit_rps": self.limit_rps, "terrain": self.terrain.terrain,
                  "decisions": self.horn.decisions()}
        self.log(record)
        return record

    def run(self, duration_s: float | None = None, should_stop: Callable[[], bool] = lambda: False,
            watch: Callable[[], str | None] | None = None, watch_every_s: float = 1.0,
            control: Any = None) -> str | None:
        """Poll and control until ``duration_s`` passes or ``should_stop()``. Every
        ``watch_every_s`` it asks ``watch()`` whether its programs are still attached: if
        not, it stops and returns what ``watch`` said (None on a normal stop). ``control``
        (a :class:`mbsim.kernel.control.ControlServer`) is served between polls: it waits
        on its socket instead of sleeping, so a request is answered at once."""
        start = time.monotonic()
        expire_every = self.horn.slot_ns * max(1, self.horn.slot_count // 3) / 1e9
        next_expire = start + expire_every
        next_watch = start + watch_every_s
        mark_every = self.s.buffer.rate_limit.every_s
        next_mark = start + mark_every
        next_terrain = start + TERRAIN_SAMPLE_S
        while not should_stop() and (duration_s is None or time.monotonic() - start < duration_s):
            self.horn.bpf.ring_buffer_consume()  # events are posted without wakeups
            if control is not None:
                control.serve(self, 0.005)
            else:
                time.sleep(0.005)
            now = time.monotonic()
            self.sync_breaker()
            self.read_slots()
            if now >= next_mark:
                self.watermark_step(mark_every + (now - next_mark))
                mark_every = self.s.buffer.rate_limit.every_s
                next_mark = now + mark_every
            if now >= next_terrain:
                self.sense_terrain()
                next_terrain += TERRAIN_SAMPLE_S
                if next_terrain < now:
                    next_terrain = now + TERRAIN_SAMPLE_S
            if now >= next_expire:
                self.expire()
                next_expire = now + expire_every
            if watch is not None and now >= next_watch:
                gone = watch()
                if gone:
                    return gone
                next_watch = now + watch_every_s
        self.horn.bpf.ring_buffer_consume()
        return None
