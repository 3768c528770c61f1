"""The user-space controller of the horn: re-tuning, breaker and decision log.

Every ``slot`` it reads the per-CPU window slots that completed since the last read
(they are a ring; it reads them well before they are reused) and adds them to the
period's totals. Every ``adjust_s`` it

* re-tunes window and capacity with the mountain-bike formulas (:mod:`mbsim.formulas`)
  from the period's request rate and latency stddev, and writes them into the config map;
* reads and resets the per-CPU in-flight watermarks (their P95 over CPUs is logged,
  digest 2.3);
* closes in-flight entries older than the deadline (their answers were lost) and reports
  them as timeouts.

Decision events are posted without wakeups (a wakeup from the egress hook costs an IPI);
the controller drains the ring every 5 ms. The breaker is mbsim's own (:mod:`mbsim.breakers`), fed with every response, timeout and
late response from the ring buffer. Its state is written into the config map: OPEN makes
the kernel answer every request; HALF_OPEN lets ``probes`` requests through. All of it
happens while the programs stay attached.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from ..settings import MbbSettings
from ..strategy import Outcome, State
from . import horn as H


class Controller:
    def __init__(self, horn: H.Horn, settings: MbbSettings, log: Callable[[dict], None],
                 log_decisions: bool = True) -> None:
        self.horn = horn
        self.s = settings
        self.log = log
        self.log_decisions = log_decisions
        self.breaker = settings.breaker.build()
        self.window_ms = settings.buffer.window_min_ms
        self.capacity = settings.buffer.capacity_max
        self.state = H.CLOSED
        self.deadline_ns = int(settings.fallback.deadline_ms * 1e6)
        self.expire_after_ns = max(self.deadline_ns, int(settings.buffer.window_max_ms * 1e6)) * 2
        self.totals = H.SlotTotals()
        self.last_epoch = time.monotonic_ns() // horn.slot_ns - 1
        self.period_start = time.monotonic()
        self.decisions: dict[str, int] = {}
        self.forced: int | None = None  # an operator's override of the breaker (see force())
        horn.bpf["events"].open_ring_buffer(self._on_event)
        horn.set_config(self.state, self.capacity, int(self.window_ms * 1000))

    # -- events -------------------------------------------------------------------
    def _on_event(self, _ctx, data, _size) -> None:
        ev = H.event(data)
        decision = H.DECISIONS.get(ev.decision, str(ev.decision))
        self.decisions[decision] = self.decisions.get(decision, 0) + 1
        now = time.monotonic()
        if ev.decision == 5:  # response
            self.breaker.report(now, Outcome.SUCCESS if ev.status == 0 else Outcome.ERROR, ev.latency_us / 1e6)
        elif ev.decision in (6, 8):  # late response, timeout (FALLBACK re-ask)
            self.breaker.report(now, Outcome.TIMEOUT, ev.latency_us / 1e6)
        if self.log_decisions:
            self.log({"type": "decision", "ts_ns": ev.ts_ns, "req_id": ev.req_id, "upstream": str(self.horn.upstream),
                      "decision": decision, "status": H.STATUSES.get(ev.status, ev.status),
                      "latency_us": ev.latency_us, "key": ev.key})

    # -- periodic -------------------------------------------------------------------
    def read_slots(self) -> None:
        newest_complete = time.monotonic_ns() // self.horn.slot_ns - 1
        if newest_complete <= self.last_epoch:
            return
        tot, _ = self.horn.read_slots(self.last_epoch, newest_complete)
        self.totals.add(tot)
        self.last_epoch = newest_complete

    def expire(self) -> None:
        now = time.monotonic()
        for req_id, age in self.horn.expire(self.expire_after_ns):
            self.breaker.report(now, Outcome.TIMEOUT, age / 1e9)
            if self.log_decisions:
                self.log({"type": "decision", "ts_ns": time.monotonic_ns(), "req_id": req_id,
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
            self.horn.set_config(self.state, self.capacity, int(self.window_ms * 1000))

    @staticmethod
    def _name(state: int) -> str:
        return {H.CLOSED: "closed", H.OPEN: "open", H.HALF_OPEN: "half_open"}[state]

    def retune(self) -> dict:
        now = time.monotonic()
        period = max(1e-9, now - self.period_start)
        t = self.totals
        rps = t.requests / period
        mean_us = t.sum_us / t.count if t.count else math.nan
        var = (t.sumsq_us - t.sum_us ** 2 / t.count) / (t.count - 1) if t.count > 1 else 0.0
        std_ms = math.sqrt(max(0.0, var)) / 1000
        b = self.s.buffer
        self.window_ms = b.window_ms(std_ms)
        self.capacity = b.capacity(rps)
        self.horn.set_config(self.state, self.capacity, int(self.window_ms * 1000))
        marks = self.horn.take_watermarks()
        record = {"type": "tune", "t": now, "period_s": period, "rps": rps, "responses": t.count,
                  "latency_mean_us": mean_us, "latency_std_ms": std_ms, "errors": t.errors,
                  "window_ms": self.window_ms, "capacity": self.capacity, "state": self._name(self.state),
                  "in_flight": self.horn.in_flight(), "watermark_p95": float(np.percentile(marks, 95)),
                  "decisions": dict(self.decisions)}
        self.totals = H.SlotTotals()
        self.period_start = now
        self.log(record)
        return record

    def run(self, duration_s: float | None = None, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Poll and control until ``duration_s`` passes or ``should_stop()``."""
        start = time.monotonic()
        slot_every = self.horn.slot_ns * max(1, self.horn.slot_count // 3) / 1e9
        next_slots = start + slot_every
        next_tune = start + self.s.buffer.adjust_s
        while not should_stop() and (duration_s is None or time.monotonic() - start < duration_s):
            self.horn.bpf.ring_buffer_consume()  # events are posted without wakeups
            time.sleep(0.005)
            now = time.monotonic()
            self.sync_breaker()
            if now >= next_slots:
                self.read_slots()
                self.expire()
                next_slots = now + slot_every
            if now >= next_tune:
                self.read_slots()
                self.retune()
                next_tune = now + self.s.buffer.adjust_s
        self.horn.bpf.ring_buffer_consume()


