"""The testbed's backend: a real UDP server that plays the scenario's service in real time.

It runs in the server namespace as its own process, pinned to a CPU, and does what the
simulator's service does (:mod:`mbsim.engine.request_path`), with timers instead of
simulated time:

* ``workers`` workers and one FIFO queue; a queued job starts at the planned completion of
  the job before it, not when the loop notices;
* the service time of request *i*'s first attempt is the simulator's own draw for request
  *i* (same seed, same stream); a retried attempt draws from the same distribution;
* tail spikes, spike windows, the load function (its own load sensor, the same class the
  simulator uses) and outages (hang until the outage ends, or a fast error) change it as
  they do in the model; a delay spike holds the answer for its extra latency.

The request id carries the request's index and attempt: ``id = index * 4 + attempt``.

A service time is a timer, not burnt CPU (:class:`TimerWork`), so that this 2-core machine
holds the rate. A mode that does real work would be another :class:`Work`: it is told the
service time and decides when the job is done.
"""
from __future__ import annotations

import dataclasses
import math
import select
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any, Protocol

import numpy as np

from mbsim.formats import wire as P
from mbsim.verify import proc
from mbsim.world.faults import FaultClock
from mbsim.world.scenario import Scenario
from mbsim.world.sensor import LoadSensor

ATTEMPTS = 4  # ids per request: index * 4 + attempt
SPIN_NS = 50_000  # sleep until this long before a due time, then spin
LATE_SAMPLES = 50_000  # how many answer-lateness samples the server keeps


class Work(Protocol):
    """How the server spends a job's service time."""

    def begin(self, now_ns: int, service_s: float) -> int:
        """Start a job of ``service_s`` at ``now_ns``; return when it is done (ns)."""


class TimerWork:
    """The service time is a timer: the job is done ``service_s`` after it began."""

    def begin(self, now_ns: int, service_s: float) -> int:
        return now_ns + round(service_s * 1e9)


@dataclass
class ServerConfig:
    """What the server needs: the scenario, the first attempts' draws and the time origin."""

    sc: Scenario
    addr: str
    port: int
    t0_ns: int  # CLOCK_MONOTONIC of scenario time 0
    first_service: np.ndarray  # s, by request index
    first_spike: np.ndarray  # uniforms, by request index
    seed: int
    start: Any = None  # shared int64: t0_ns is published here once the testbed is up (0: not yet)


class Server:
    """The service, on a socket; see the module docstring. ``stats`` is a shared int64 array:
    [received, answered, errors, late samples kept], then the lateness samples (ns)."""

    def __init__(self, cfg: ServerConfig, stats: np.ndarray, work: Work | None = None) -> None:
        self.cfg = cfg
        sc = cfg.sc
        self.sc = sc
        self.stats = stats
        self.work = work or TimerWork()
        self.workers = sc.service.workers
        self.idle = sc.service.workers
        self.queue: deque[Any] = deque()
        self.busy: list[Any] = []  # heap of (done_ns, seq, job, error)
        self.sends: list[Any] = []  # heap of (send_ns, seq, payload, peer): answers held by a delay spike
        self.seq = 0
        self.clock = FaultClock(sc.faults, sc.workload.spike_windows)
        self.boundaries = list(self.clock.boundaries)
        lf = sc.service.load
        self.lf = lf
        self.sensor = LoadSensor(sc.service.capacity_rps, 0.05, lf.trend_window_s)
        self.omega_term = self.slope_term = 0.0
        self.inflation = 1.0
        self.arrived = 0  # attempts since the last sensor sample
        self.retry_rng = np.random.default_rng([cfg.seed, 0x5E])
        self.retry_service = sc.service.sampler(self.retry_rng)
        self.stop = False

    # -- the service ------------------------------------------------------------
    def t(self, now_ns: int) -> float:
        """Scenario time (s) of ``now_ns``."""
        return (now_ns - self.cfg.t0_ns) / 1e9

    def _advance_clock(self, now_ns: int) -> None:
        t = self.t(now_ns)
        while self.boundaries and self.boundaries[0] <= t:
            self.clock._update(self.boundaries.pop(0))

    def _sense(self) -> None:
        self.sensor.count = self.arrived
        self.arrived = 0
        self.sensor.sample()
        lf, omega = self.lf, self.sensor.omega
        self.omega_term = lf.a * omega * omega
        self.slope_term = lf.c * math.tanh(lf.d * self.sensor.slope)
        torque = self.omega_term + self.slope_term
        self.inflation = 1.0 + lf.gain * torque if torque > 0.0 else 1.0

    def service_time(self, index: int, attempt: int) -> float:
        """The job's base service time and tail spike (s), before the load function."""
        cfg = self.cfg
        if attempt == 0 and 0 <= index < len(cfg.first_service):
            s, u = float(cfg.first_service[index]), float(cfg.first_spike[index])
        else:
            s, u = float(self.retry_service(1)[0]), float(self.retry_rng.random())
        w = self.sc.workload
        return s * w.spike_factor if u < w.spike_fraction else s

    def begin(self, job: tuple[Any, ...], start_ns: int) -> None:
        """A worker takes ``job`` at ``start_ns`` (the planned end of the job before it)."""
        req_id = job[0]
        s = self.service_time(req_id // ATTEMPTS, req_id % ATTEMPTS)
        gain = self.lf.gain
        if self.queue and gain:
            psi = len(self.queue) / self.lf.psi_scale
            torque = (self.omega_term * (1.0 + self.lf.b * (1.0 - math.cos(math.pi * min(psi, 1.0))))
                      + self.slope_term)
            if torque > 0.0:
                s *= 1.0 + gain * torque
        else:
            s *= self.inflation
        err = False
        self._advance_clock(start_ns)
        s *= self.clock.spike_factor
        if self.clock.down_end is not None:
            if self.sc.faults.down_mode == "hang":
                s += self.clock.down_end - self.t(start_ns)
            else:
                s, err = self.sc.faults.error_ms / 1e3, True
        self.seq += 1
        heappush(self.busy, (self.work.begin(start_ns, s), self.seq, job, err))

    def arrive(self, job: tuple[Any, ...], now_ns: int) -> None:
        self.stats[0] += 1
        self.arrived += 1
        if self.idle:
            self.idle -= 1
            self.begin(job, now_ns)
        else:
            self.queue.append(job)

    def complete(self, sock: socket.socket, now_ns: int) -> None:
        done, _, job, err = heappop(self.busy)
        req_id, key, peer = job
        payload = P.response(req_id, key, b"live:%d" % key, P.ST_ERROR if err else P.ST_OK)
        self._advance_clock(done)
        extra = self.clock.extra_delay_s
        if extra > 0:
            self.seq += 1
            heappush(self.sends, (done + round(extra * 1e9), self.seq, payload, peer))
        else:
            self._send(sock, payload, peer, now_ns - done)
        self.stats[2] += err
        if self.queue:
            self.begin(self.queue.popleft(), done)  # at the planned end, not when noticed
        else:
            self.idle += 1

    def _send(self, sock: socket.socket, payload: bytes, peer: Any, late_ns: int) -> None:
        try:
            sock.sendto(payload, peer)
        except OSError:
            return  # a partition's dropped ARP: the answer is lost, as it would be
        self.stats[1] += 1
        k = int(self.stats[3])
        if k < LATE_SAMPLES:
            self.stats[4 + k] = late_ns
            self.stats[3] = k + 1

    # -- the loop ---------------------------------------------------------------
    def serve(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        next_sense = self.cfg.t0_ns + 50_000_000
        while not self.stop:
            now = time.monotonic_ns()
            while self.busy and self.busy[0][0] <= now:
                self.complete(sock, now)
            while self.sends and self.sends[0][0] <= now:
                due, _, payload, peer = heappop(self.sends)
                self._send(sock, payload, peer, now - due)
            if now >= next_sense:
                self._sense()
                next_sense += 50_000_000
            while True:  # every request waiting on the socket
                try:
                    data, peer = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                msg = P.parse(data)
                if msg is not None and not msg.is_response and not msg.fallback:
                    self.arrive((msg.req_id, msg.key, peer), time.monotonic_ns())
            due = min(self.busy[0][0] if self.busy else now + 10_000_000,
                      self.sends[0][0] if self.sends else now + 10_000_000, next_sense)
            wait = due - time.monotonic_ns()
            if wait > SPIN_NS:
                select.select([sock], [], [], (wait - SPIN_NS) / 1e9)


def run_server(cfg: ServerConfig, ns: str, cpu: int | None, stats: np.ndarray, ready: Any) -> None:
    """The server process: settle in ``ns`` on ``cpu``, bind, say ready, serve until SIGTERM."""
    proc.settle(ns, cpu, "server")
    server = Server(cfg, stats)

    def on_term(*_a: Any) -> None:
        server.stop = True

    signal.signal(signal.SIGTERM, on_term)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind((cfg.addr, cfg.port))
    ready.set()
    if cfg.start is not None:
        server.cfg = dataclasses.replace(cfg, t0_ns=proc.await_start(cfg.start))
    server.serve(sock)
