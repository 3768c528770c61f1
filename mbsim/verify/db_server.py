"""The testbed's real backend: a UDP server whose workers run real queries on a SQLite file.

Unlike the emulated service (:mod:`mbsim.verify.server`), nothing here is drawn from the
model: a request's service time is whatever its query takes on this machine. The server
is one process (in the server namespace, pinned like the emulated one): the main thread
receives requests into one FIFO queue and, with one worker (the default), runs them in
turn (:meth:`Database.query`) and answers; with more, ``workers`` threads, each with its own
connection, take them in order.

What the model still decides, so that the simulator and the testbed see the same
requests (common random numbers): whether a request is a tail spike (a heavy query), from
the same uniform the simulator draws; and the scenario's spike windows, which lengthen the
queries started inside them. Outages are not played here: another process holds the
database's lock (:func:`mbsim.verify.database.hold_lock`), and the workers meet it as
SQLite makes them.

Every job is recorded (``jobs``: a shared int64 array; see :data:`FIELDS`) for the fit of
the service-time distributions and the load function (:mod:`mbsim.verify.fit`).
"""
from __future__ import annotations

import dataclasses
import select
import signal
import socket
import sqlite3
import struct
import sys
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from mbsim.formats import wire as P
from mbsim.verify import proc
from mbsim.verify.client import SO_TIMESTAMPNS
from mbsim.verify.database import Database
from mbsim.verify.server import ATTEMPTS, ServerConfig
from mbsim.world.faults import FaultClock

#: one job's record in ``jobs`` (after the count in slot 0): when it arrived (the kernel's
#: receive timestamp), started and ended (CLOCK_MONOTONIC ns), heavy (0/1), the queue
#: behind it when it was taken, error (0/1), its request id, and when its worker took it.
#: A job *starts* when it arrives or when its worker's previous job ended, whichever is
#: later, and *ends* when its answer is sent: its service time (``end - start``) is all the
#: time it held its worker - the wake-up, the hand-over, the query and the send - as a FIFO
#: queue with c servers counts it. ``idle`` (0/1): the job found its worker free.
FIELDS = ("arrival_ns", "start_ns", "end_ns", "heavy", "queue", "error", "req_id", "taken_ns", "idle")
MAX_JOBS = 400_000
SO_RCVBUFFORCE = 33  # Python 3.11 has no constant for it (root may exceed rmem_max)


def job_table(jobs: np.ndarray) -> dict[str, np.ndarray]:
    """The recorded jobs as columns (see :data:`FIELDS`)."""
    n = int(jobs[0])
    rows = jobs[1:1 + n * len(FIELDS)].reshape(n, len(FIELDS))
    return {name: rows[:, k].copy() for k, name in enumerate(FIELDS)}


class DbServer:
    """See the module docstring. ``stats`` has the emulated server's layout: [received,
    answered, errors, 0]; ``jobs`` the job records."""

    def __init__(self, cfg: ServerConfig, db: Database, stats: np.ndarray, jobs: np.ndarray,
                 workers: int = 1) -> None:
        self.cfg = cfg
        self.sc = cfg.sc
        self.db = db
        self.stats = stats
        self.jobs = jobs
        self.workers = workers
        self.queue: deque[tuple[Any, ...]] = deque()
        self.cond = threading.Condition()
        self.record_lock = threading.Lock()
        self.clock_lock = threading.Lock()
        self.space = socket.CMSG_SPACE(16)
        self.off = 0  # CLOCK_REALTIME - CLOCK_MONOTONIC (ns), set when serving starts
        self.clock = FaultClock(dataclasses.replace(self.sc.faults, down=()), self.sc.workload.spike_windows)
        self.boundaries = list(self.clock.boundaries)
        self.retry_rng = np.random.default_rng([cfg.seed, 0x5E])
        self.stop = False
        self.mode = self.sc.faults.down_mode

    def heavy(self, req_id: int) -> bool:
        """Is this attempt a tail spike? The simulator's own uniform for a first attempt."""
        index, attempt = divmod(req_id, ATTEMPTS)
        cfg = self.cfg
        u = float(cfg.first_spike[index]) if attempt == 0 and 0 <= index < len(cfg.first_spike) \
            else float(self.retry_rng.random())
        return u < self.sc.workload.spike_fraction

    def spike_factor(self, now_ns: int) -> float:
        """The spike windows' factor at ``now_ns`` (call with ``clock_lock`` held)."""
        t = (now_ns - self.cfg.t0_ns) / 1e9
        while self.boundaries and self.boundaries[0] <= t:
            self.clock._update(self.boundaries.pop(0))
        return self.clock.spike_factor

    def execute(self, conn: sqlite3.Connection, sock: socket.socket, job: tuple[Any, ...], behind: int,
                last_end: int) -> int:
        """Run ``job``'s query, answer, record; returns when the worker is free again (ns).
        The job starts at ``last_end`` if it was waiting when the worker became free, else
        when it was received (the server's own wake-up belongs to the round trip, which the
        calibration measured against a server that wakes the same way)."""
        req_id, key, peer, arrival, received, heavy = job
        taken = time.monotonic_ns()
        idle = arrival > last_end
        start = max(received, last_end) if idle else last_end
        with self.clock_lock:
            factor = self.spike_factor(start)
        err = False
        try:
            self.db.query(conn, key, heavy, factor)
        except sqlite3.Error:
            err = True  # "database is locked" (error mode) or any real failure
        payload = P.response(req_id, key, b"live:%d" % key, P.ST_ERROR if err else P.ST_OK)
        try:
            sock.sendto(payload, peer)
            sent = True
        except OSError:
            sent = False  # a partition's dropped ARP: the answer is lost, as it would be
        end = time.monotonic_ns()
        self.record((arrival, start, end, int(heavy), behind, int(err), req_id, taken, int(idle)), err, sent)
        return end  # the record's own time goes to the next job that waits: no time of the worker is lost

    def work(self, sock: socket.socket) -> None:
        """One worker thread (``workers`` > 1): take the oldest job, run it."""
        conn = self.db.connect(self.mode)
        last_end = 0
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.stop:
                        self.cond.wait(0.1)
                    if self.stop:
                        return
                    job = self.queue.popleft()
                    behind = len(self.queue)
                last_end = self.execute(conn, sock, job, behind, last_end)
        finally:
            conn.close()

    def record(self, row: tuple[int, ...], err: bool, sent: bool) -> None:
        with self.record_lock:
            self.stats[1] += sent
            self.stats[2] += err
            n = int(self.jobs[0])
            if n < MAX_JOBS:
                k = 1 + n * len(FIELDS)
                self.jobs[k:k + len(FIELDS)] = row
                self.jobs[0] = n + 1

    def receive(self, sock: socket.socket) -> None:
        """Every request waiting on the socket into the queue (arrival: the kernel's
        receive timestamp; received: now)."""
        while True:
            try:
                data, anc, _f, peer = sock.recvmsg(2048, self.space)
            except BlockingIOError:
                return
            msg = P.parse(data)
            if msg is None or msg.is_response or msg.fallback:
                continue
            now = time.monotonic_ns()
            self.stats[0] += 1
            job = (msg.req_id, msg.key, peer, _kernel_ns(anc, self.off, now), now, self.heavy(msg.req_id))
            with self.cond:
                self.queue.append(job)
                self.cond.notify()

    def serve(self, sock: socket.socket) -> None:
        """Serve until :attr:`stop`. One worker: this thread receives and runs the queries in
        turn (requests that arrive during a query wait in the socket, with their kernel
        timestamps). More: this thread receives, ``workers`` threads run the queries."""
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.off = proc.realtime_offset_ns()
        if self.workers == 1:
            conn = self.db.connect(self.mode)
            last_end = 0
            try:
                while not self.stop:
                    self.receive(sock)
                    if self.queue:
                        job = self.queue.popleft()
                        last_end = self.execute(conn, sock, job, len(self.queue), last_end)
                    else:
                        select.select([sock], [], [], 0.05)
            finally:
                conn.close()
            return
        threads = [threading.Thread(target=self.work, args=(sock,), daemon=True) for _ in range(self.workers)]
        for t in threads:
            t.start()
        try:
            while not self.stop:
                if select.select([sock], [], [], 0.05)[0]:
                    self.receive(sock)
        finally:
            with self.cond:
                self.stop = True
                self.cond.notify_all()
            for t in threads:
                t.join(1.0)


def _kernel_ns(anc: list[tuple[int, int, bytes]], off: int, now: int) -> int:
    """The kernel's receive time of a datagram (monotonic ns), or ``now`` where it gave none."""
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", value[:16])
            return min(int(sec) * 1_000_000_000 + int(nsec) - off, now)
    return now


def run_db_server(cfg: ServerConfig, db: Database, workers: int, ns: str, cpu: int | None, stats: np.ndarray,
                  jobs: np.ndarray, ready: Any) -> None:
    """The server process: settle in ``ns`` on ``cpu``, bind, say ready, serve until SIGTERM."""
    proc.settle(ns, cpu, "server")
    sys.setswitchinterval(0.0005)  # the receiving thread gets the interpreter back soon
    server = DbServer(cfg, db, stats, jobs, workers)

    def on_term(*_a: Any) -> None:
        server.stop = True

    signal.signal(signal.SIGTERM, on_term)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # room for every request of an outage: the worker waits on the lock meanwhile
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind((cfg.addr, cfg.port))
    ready.set()
    if cfg.start is not None:
        t0 = proc.await_start(cfg.start)
        server.cfg = dataclasses.replace(cfg, t0_ns=t0)
    server.serve(sock)
