"""The testbed: two network namespaces joined by veth, the droppers, and the processes of one
run - the server, the sidecar, the horn's controller, the sender and the receiver.

    [ client ns 10.77.0.1: sender (CPU 1), receiver, sidecar, horn + controller ]
            <--- veth, droppers at both ingresses --->  [ server ns 10.77.0.2:7000: server ]

Addresses live only inside the namespaces it creates. Neighbour entries are pinned both
ways, as on a network whose neighbours are known: a partition then drops packets, not ARP
state. Everything is torn down afterwards - on success, on failure, on Ctrl-C and on
SIGTERM; the namespaces are recorded with ``mbsim``'s other attachments, so that after a
SIGKILL the next run (or ``mbsim detach``) removes them.

CPU placement (``pinned``): the sender alone on CPU 1; the server, the receiver, the sidecar
and the controller on CPU 0. Unpinned, the scheduler places them. While the testbed is up
it holds a PM QoS request of 0 us (:func:`proc.low_latency`, as cyclictest does): an idle
CPU polls instead of halting, so that a wake-up across CPUs costs what the scheduler costs.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mbsim import exclusive
from mbsim.deploy.export import export
from mbsim.engine import draws as draws_mod
from mbsim.errors import MbsimError
from mbsim.formats import snapshot_file
from mbsim.formats.settings_file import SettingsFile
from mbsim.kernel import horn as H
from mbsim.kernel import netns, programs, tc
from mbsim.kernel.apply import Applied
from mbsim.kernel.dropper import Dropper
from mbsim.kernel.rig import CLIENT_ADDR, SERVER_ADDR, Rig
from mbsim.mbb.settings import MbbSettings
from mbsim.verify import database as db_mod
from mbsim.verify import proc
from mbsim.verify.arms import Arm
from mbsim.verify.client import ClientConfig, arrays, client_socket, run_receiver, run_sender, run_sidecar
from mbsim.verify.db_server import FIELDS, MAX_JOBS, job_table, run_db_server
from mbsim.verify.server import LATE_SAMPLES, ServerConfig, run_server
from mbsim.world.scenario import Scenario

PORT, SIDECAR_PORT = 7000, 7001
LEAD_S = 0.5  # from the moment every process is up to scenario time 0 (s)
SNAPSHOT_KEYS = 1000  # keys 1..1000 are in the snapshot; a request that misses asks for another
BACKENDS = ("sqlite", "timer")  # the real database; the emulated service (timers)
_FORK = mp.get_context("fork")


def requests_of(sc: Scenario, seed: int) -> dict[str, np.ndarray]:
    """The run's requests as the simulator draws them for ``seed``: arrival times (s, from
    scenario time 0, up to the end), keys (in the snapshot exactly when the simulator's
    hit draw says so), and the first attempts' service times and spike uniforms."""
    d = draws_mod.draws(sc, seed)
    times: list[float] = []
    rows: list[tuple[Any, ...]] = []
    t = 0.0
    while True:
        t += next(d.gaps)
        if t >= sc.duration_s:
            break
        times.append(t)
        rows.append(next(d.first))
    n = len(times)
    first = np.array(rows, dtype=float).reshape(n, -1) if n else np.zeros((0, draws_mod.LOSS_REQUEST))
    hit = first[:, draws_mod.HIT] < sc.snapshot.hit_ratio
    idx = np.arange(n)
    keys = np.where(hit, 1 + idx % SNAPSHOT_KEYS, SNAPSHOT_KEYS + 1 + idx).astype(np.uint32)
    return {"times": np.array(times), "keys": keys, "service": first[:, draws_mod.SERVICE].copy(),
            "spike": first[:, draws_mod.SPIKE].copy()}


@dataclass
class RawRun:
    """What one run on the testbed recorded (times in ns, CLOCK_MONOTONIC)."""

    scenario: Scenario
    arm: str
    seed: int
    t0_ns: int
    arrays: dict[str, np.ndarray]
    server: dict[str, Any]
    transitions: list[tuple[float, int]]  # (scenario s, breaker state 0/1/2)
    drops: dict[str, tuple[int, int]]
    pinned: bool
    controller_log: list[dict[str, Any]] = field(default_factory=list)
    # what disturbed the run, for a failed gate's message: CPU stolen by the hypervisor (ms,
    # both CPUs), and the sender's major page faults and involuntary context switches
    health: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, np.ndarray] | None = None  # the real backend's job records (db_server.FIELDS)


class Testbed:
    """The network, for as many runs as needed; a context manager that always tears down."""

    __test__ = False  # not a pytest class, despite its name

    def __init__(self, settings: MbbSettings | None = None, pinned: bool = True, realtime: bool = False,
                 backend: str = "timer", db_rows: int = db_mod.ROWS, db_workers: int = 1,
                 db_path: str | Path | None = None) -> None:
        if backend not in BACKENDS:
            raise MbsimError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if db_workers < 1:
            raise MbsimError(f"the database needs at least 1 worker, got {db_workers}")
        programs.require_bpf()
        self.settings = settings or MbbSettings()
        self.backend = backend
        self.db_rows, self.db_workers, self.db_path = db_rows, db_workers, db_path
        self.db: db_mod.Database | None = None
        self.pinned = pinned
        self.realtime = realtime  # SCHED_FIFO and locked memory for the sender, receiver and server
        self.rig = Rig(prefix="mbv")
        self.tmp = tempfile.TemporaryDirectory(prefix="mbsim-verify-")
        self._old: dict[int, Any] = {}
        self._held = contextlib.ExitStack()
        self.pm_qos = False  # does the PM QoS request (proc.low_latency) hold?
        self.metrics: str | None = None  # ADDR:PORT: the horn's controller serves metrics there

    # -- setup and teardown ------------------------------------------------------
    def __enter__(self) -> Testbed:
        tc.detach(only_dead=True)  # what a killed run left behind
        global _OWNER
        _OWNER = os.getpid()
        _PENDING.clear()
        for s in (signal.SIGTERM,):  # SIGTERM tears down like Ctrl-C
            self._old[s] = signal.signal(s, _raise_interrupt)
        self._hook = sys.unraisablehook
        sys.unraisablehook = _quiet_interrupt(self._hook)
        try:
            self.pm_qos = self._held.enter_context(proc.low_latency())
            self.rig.up()
            tc.record_netns(self.rig.client_ns)
            tc.record_netns(self.rig.server_ns)
            r = self.rig
            netns.ip("neigh", "replace", SERVER_ADDR, "lladdr", r.server_mac, "nud", "permanent", "dev",
                     r.client_dev, netns=r.client_ns)
            netns.ip("neigh", "replace", CLIENT_ADDR, "lladdr", r.client_mac, "nud", "permanent", "dev",
                     r.server_dev, netns=r.server_ns)
            self.to_server = Dropper(r.server_ns, r.server_dev, PORT)  # request leg
            self.to_client = Dropper(r.client_ns, r.client_dev, PORT)  # response leg
            d = Path(self.tmp.name)
            SettingsFile(settings=self.settings).write(d / "settings.json")
            export(d / "settings.json", d / "out", build_object=False)
            self.snapshot = {k: f"snap:{k}".encode() for k in range(1, SNAPSHOT_KEYS + 1)}
            snapshot_file.write(d / "snapshot.json", {k: v.decode() for k, v in self.snapshot.items()})
            if self.backend == "sqlite":
                path = db_mod.build(self.db_path or d / "items.sqlite", self.db_rows)
                self.db = db_mod.Database(path, self.db_rows)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            tc.detach_mine()  # droppers, anything the horn left, the namespaces
            self.rig.down()
            self.tmp.cleanup()
        finally:
            self._held.close()
            for s, h in self._old.items():
                signal.signal(s, h)
            self._old.clear()
            sys.unraisablehook = self._hook
        pending = bool(_PENDING)
        _PENDING.clear()
        if pending and (not exc or exc[0] is None):  # a SIGTERM whose raise was swallowed
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def without_pm_qos(self) -> Iterator[None]:
        """The block runs with the PM QoS request released (idle CPUs halt again)."""
        held = self.pm_qos
        self._held.close()
        self.pm_qos = False
        try:
            yield
        finally:
            if held:
                self.pm_qos = self._held.enter_context(proc.low_latency())

    # -- one run -------------------------------------------------------------------
    @contextlib.contextmanager
    def services(self, sc: Scenario, arm: Arm, seed: int, start: Any, reqs: dict[str, np.ndarray] | None = None,
                 sidecar: bool | None = None) -> Iterator[Services]:
        """The server (and the sidecar, and the horn with its controller, as ``arm`` has
        them) running until the block ends; everything stops and detaches however it ends.
        ``start`` is a shared int64 (``RawValue("q")``): the server waits until it holds scenario
        time 0 (CLOCK_MONOTONIC ns), so the caller picks that time once everything is up."""
        reqs = reqs if reqs is not None else {"service": np.zeros(0), "spike": np.zeros(0)}
        proc.realtime = self.realtime  # what the processes forked from here do (proc.settle)
        cpu = self.cpus()
        r = self.rig
        stats = _FORK.RawArray("q", 4 + LATE_SAMPLES)
        svc = Services(np.frombuffer(stats, dtype=np.int64))
        scfg = ServerConfig(sc, SERVER_ADDR, PORT, 0, reqs["service"], reqs["spike"], seed, start)
        stop_ctl = threading.Event()
        ctl_thread = None
        try:
            if self.db is not None:
                svc.jobs = np.frombuffer(_FORK.RawArray("q", 1 + MAX_JOBS * len(FIELDS)), dtype=np.int64)
                svc.procs.append(_start(run_db_server, (scfg, self.db, self.db_workers, r.server_ns,
                                                        cpu.get("server"), svc.server_stats, svc.jobs), "server"))
                if sc.faults.down:
                    locker = _FORK.Process(target=_hold_lock, daemon=True,
                                           args=(self.db.path, sc.faults.down, start, cpu.get("server")))
                    locker.start()
                    svc.procs.append(locker)
            else:
                svc.procs.append(_start(run_server, (scfg, r.server_ns, cpu.get("server"), svc.server_stats),
                                        "server"))
            if arm.sidecar if sidecar is None else sidecar:
                svc.sidecar = ("127.0.0.1", SIDECAR_PORT)
                svc.procs.append(_start(run_sidecar, (r.client_ns, cpu.get("sidecar"), svc.sidecar, self.snapshot),
                                        "sidecar"))
            if arm.kernel:
                d = Path(self.tmp.name)
                svc.applied = Applied(d / "out", r.client_ns, r.client_dev, f"{SERVER_ADDR}:{PORT}",
                                      d / "snapshot.json", upstream_mac=r.server_mac, log=svc.log.append,
                                      metrics=self.metrics)
                svc.applied.__enter__()
                ctl_thread = threading.Thread(target=svc.applied.run, args=(None, stop_ctl.is_set), daemon=True)
                ctl_thread.start()
            yield svc
        finally:
            stop_ctl.set()
            if ctl_thread is not None:
                ctl_thread.join(5)
            if svc.applied is not None:
                svc.applied.__exit__(None, None, None)
            _stop(svc.procs)

    def background(self, sc: Scenario, arm: Arm, seed: int, sidecar: bool | None = None) -> Any:
        """:meth:`services` for a run without a generator (calibration), starting now, with
        ``sc``'s loss in the droppers (no partition: there is no scenario time)."""
        self.to_server.set(sc.network.loss_request)
        self.to_client.set(sc.network.loss_response)
        return self.services(sc, arm, seed, _FORK.RawValue("q", time.monotonic_ns()), sidecar=sidecar)

    def cpus(self) -> dict[str, int]:
        """Who runs where: the sender alone on CPU 1; the rest on CPU 0 (empty: unpinned)."""
        return {"server": 0, "sender": 1, "receiver": 0, "sidecar": 0} if self.pinned else {}

    def run(self, sc: Scenario, arm: Arm, seed: int, closed_loop: bool = False, lag_ns: int = 0,
            stall: tuple[float, float] | None = None, force_open: bool = False,
            reqs: dict[str, np.ndarray] | None = None) -> RawRun:
        """``sc`` under ``arm`` for ``sc.duration_s``; ``stall`` = (at s, for s) freezes the
        server (SIGSTOP) to test that the generator stays open-loop; ``force_open`` holds
        the arm's breaker open (calibration: every answer comes from the snapshot).
        ``reqs`` replaces the simulator's draws (:func:`requests_of`'s arrays: times, keys,
        service and spike uniforms), for a load the scenario cannot describe."""
        reqs = reqs if reqs is not None else requests_of(sc, seed)
        n = len(reqs["times"])
        if n == 0:
            raise MbsimError(f"scenario {sc.name!r} has no request within {sc.duration_s:g} s")
        a = arrays(n)
        a["keys"][:] = reqs["keys"]
        cpu = self.cpus()
        r = self.rig
        start = _FORK.RawValue("q", 0)  # scenario time 0, chosen once every process is up
        # the machine to itself while it measures, where $MBSIM_EXCLUSIVE_LOCK asks for it
        with exclusive.machine(), self.services(sc, arm, seed, start, reqs) as svc:
            if force_open and svc.applied is not None:
                svc.applied.controller.force(H.OPEN)  # type: ignore[union-attr]
            ccfg = ClientConfig(arm, sc.client, self.settings.breaker, self.settings.fallback.deadline_ms,
                                (SERVER_ADDR, PORT), svc.sidecar, 0, proc.realtime_offset_ns(), seed,
                                closed_loop=closed_loop, lag_ns=lag_ns, force_open=force_open)
            with netns.inside(r.client_ns):
                up = client_socket((SERVER_ADDR, PORT), tx_timestamps=True)
                side = client_socket(svc.sidecar) if svc.sidecar else None
            socks = [s for s in (up, side) if s is not None]
            go = _FORK.Event()
            clients = [_FORK.Process(target=run_receiver, args=(ccfg, a, r.client_ns, cpu.get("receiver"), socks, go),
                                     daemon=True),
                       _FORK.Process(target=run_sender, daemon=True,
                                     args=(ccfg, a, r.client_ns, cpu.get("sender"), up, side, go, start))]
            try:
                for p in clients:
                    p.start()
                # setting up (the horn's compile alone takes about 0.7 s, forks of a large
                # caller more) is done: scenario time 0 is LEAD_S from now
                t0 = time.monotonic_ns() + int(LEAD_S * 1e9)
                a["planned"][:] = t0 + np.round(reqs["times"] * 1e9).astype(np.int64)
                self._faults(sc, t0)
                start.value = t0
                steal0 = proc.steal_ms()
                go.set()
                fifo = self.realtime and _is_fifo(clients[1])
                if stall is not None:
                    self._stall(svc.procs[0], t0, stall)
                sender = clients[1]
                end = t0 + int(sc.duration_s * 1e9) + int(_settle_s(sc, self.settings) * 1e9)
                while time.monotonic_ns() < end or sender.is_alive():
                    if not sender.is_alive() and sender.exitcode not in (0, None):
                        raise MbsimError(f"the testbed's sender failed (exit {sender.exitcode})")
                    _check_interrupt()
                    time.sleep(0.05)
                time.sleep(0.05)  # the last answers reach the receiver
                prog = a["progress"]
                health = {"steal_ms": proc.steal_ms() - steal0, "sender_major_faults": float(prog[2]),
                          "sender_involuntary_switches": float(prog[3]), "sender_sched_fifo": float(fifo),
                          "pm_qos": float(self.pm_qos)}
            finally:
                _stop(clients)
                for s in socks:
                    s.close()
            stats = svc.server_stats
        k = int(stats[3])
        server = {"received": int(stats[0]), "answered": int(stats[1]), "errors": int(stats[2]),
                  "answer_lateness_ns": stats[4:4 + k].copy()}
        transitions = _transitions(svc.log, t0) if arm.kernel else []
        return RawRun(sc, arm.name, seed, t0, a.copy(), server, transitions,
                      {"to_server": self.to_server.stats(), "to_client": self.to_client.stats()}, self.pinned, svc.log,
                      health, job_table(svc.jobs) if svc.jobs is not None else None)

    def _faults(self, sc: Scenario, t0: int) -> None:
        """Loss and partitions of ``sc`` into both droppers (absolute monotonic windows)."""
        parts = tuple((t0 + int(s * 1e9), t0 + int(e * 1e9)) for s, e in sc.faults.partitions)
        if len(parts) > 1:
            raise MbsimError("the testbed's dropper holds one partition window per run")
        self.to_server.set(sc.network.loss_request, parts)
        self.to_client.set(sc.network.loss_response, parts)

    @staticmethod
    def _stall(server: mp.process.BaseProcess, t0: int, stall: tuple[float, float]) -> None:
        at, length = stall
        proc.wait_until(t0 + int(at * 1e9), spin_ns=0)
        os.kill(server.pid, signal.SIGSTOP)  # type: ignore[arg-type]
        time.sleep(length)
        os.kill(server.pid, signal.SIGCONT)  # type: ignore[arg-type]


@dataclass
class Services:
    """The processes behind a run (see :meth:`Testbed.services`)."""

    server_stats: np.ndarray
    procs: list[Any] = field(default_factory=list)
    sidecar: tuple[str, int] | None = None
    applied: Applied | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    jobs: np.ndarray | None = None  # the real backend's job records (shared)


def _hold_lock(path: Path, down: tuple[tuple[float, float], ...], start: Any, cpu: int | None) -> None:
    """The process that takes the database down: its lock over each outage (scenario s)."""
    proc.settle(None, cpu, "")
    t0 = proc.await_start(start)
    db_mod.hold_lock(path, [(t0 + int(s * 1e9), t0 + int(e * 1e9)) for s, e in down])


def _start(target: Any, args: tuple[Any, ...], what: str) -> mp.process.BaseProcess:
    """Start a service process and wait until it says it is ready."""
    ready = _FORK.Event()
    p = _FORK.Process(target=target, args=(*args, ready), daemon=True)
    p.start()
    if not ready.wait(10):
        p.kill()
        raise MbsimError(f"the testbed's {what} did not start")
    return p


def _stop(procs: list[Any]) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join(1)


def _settle_s(sc: Scenario, settings: MbbSettings) -> float:
    """How long after the last planned send the run waits for the last outcomes (s)."""
    c = sc.client
    timeout = c.timeout_ms / 1e3 if math.isfinite(c.timeout_ms) else 1.0
    per_try = timeout + c.backoff_cap_ms / 1e3
    return min(3.0, max(settings.fallback.deadline_ms / 1e3 + 0.05, per_try * (c.max_retries + 1)) + 0.1)


def _transitions(log: list[dict[str, Any]], t0: int) -> list[tuple[float, int]]:
    """The horn controller's breaker states, in scenario time."""
    names = {"closed": 0, "open": 1, "half_open": 2}
    out = []
    for rec in log:
        if rec.get("type") == "state":
            out.append(((rec["t"] * 1e9 - t0) / 1e9, names.get(rec["to"], 0)))
    return out


_OWNER = os.getpid()
_PENDING: list[int] = []  # SIGTERMs the testbed's process received (their raise can be lost)


def _is_fifo(p: mp.process.BaseProcess, wait_s: float = 1.0) -> bool:
    """Does process ``p`` run under SCHED_FIFO (it sets that itself, just after it starts)?"""
    give_up = time.monotonic() + wait_s
    while time.monotonic() < give_up:
        try:
            if os.sched_getscheduler(p.pid or 0) == os.SCHED_FIFO:
                return True
        except OSError:
            return False
        time.sleep(0.01)
    return False


def _raise_interrupt(signum: int, _frame: Any) -> None:
    """SIGTERM in the testbed's own process: tear down as on Ctrl-C. A forked helper (pyroute2
    forks some) inherits the handler; there the signal keeps its usual meaning. The signal is
    also noted: a handler that runs inside a destructor or logging's lock release has its
    exception swallowed ("Exception ignored in ..."), so :func:`_check_interrupt` raises it
    again at the next safe point."""
    if os.getpid() != _OWNER:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _PENDING.append(signum)
    raise KeyboardInterrupt


def _quiet_interrupt(hook: Any) -> Any:
    """An unraisable-exception hook that stays silent about the SIGTERM's KeyboardInterrupt
    (raised inside a destructor or a lock release, where Python can only print it): it is
    raised again at the next safe point (:func:`_check_interrupt`, ``__exit__``)."""
    def quiet(u: Any) -> None:
        if isinstance(u.exc_value, KeyboardInterrupt) and _PENDING:
            return
        hook(u)
    return quiet


def _check_interrupt() -> None:
    """Raise the interrupt a SIGTERM asked for, if its own raise was swallowed."""
    if _PENDING:
        raise KeyboardInterrupt
