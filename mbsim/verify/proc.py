"""What every testbed process does first: enter its namespace, take its CPU, sleep
precisely, and die with its parent (a SIGKILLed ``mbsim verify`` leaves no worker)."""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import struct
import time
from collections.abc import Iterator
from typing import Any

from mbsim.kernel import netns
from mbsim.processes import die_with_parent

PR_SET_TIMERSLACK = 29
MCL_CURRENT, MCL_FUTURE = 1, 2
_libc = ctypes.CDLL(None, use_errno=True)

#: SCHED_FIFO priorities of the testbed's processes when real-time scheduling is on: the
#: sender above the receiver above the server (a late send is what the gates measure)
PRIORITY = {"sender": 50, "receiver": 45, "server": 40, "sidecar": 40, "pingpong": 50}
#: real-time scheduling and locked memory for processes settled from now on (set by the
#: testbed before it forks them; a forked process inherits it)
realtime = False


def make_realtime(role: str) -> str | None:
    """SCHED_FIFO at ``role``'s priority and all memory locked; None when done, else why not."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(PRIORITY.get(role, 40)))
    except (OSError, AttributeError) as exc:
        return f"SCHED_FIFO refused ({exc})"
    if _libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
        return f"mlockall refused (errno {ctypes.get_errno()})"
    return None


def settle(ns: str | None = None, cpu: int | None = None, role: str = "") -> None:
    """Enter network namespace ``ns`` (this process for good), pin to ``cpu`` (None: leave
    the affinity alone), set the timer slack to 1 ns (sleeps end when asked) and, when
    :data:`realtime` is on, run as ``role`` under SCHED_FIFO with memory locked."""
    die_with_parent()
    if ns is not None:
        fd = os.open(netns.path(ns), os.O_RDONLY)
        try:
            netns._setns(fd)
        finally:
            os.close(fd)
    if cpu is not None and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})
    _libc.prctl(PR_SET_TIMERSLACK, 1)
    if realtime and role:
        make_realtime(role)  # best effort: the run records whether it held (Testbed.run's health)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us


PM_QOS_US = 0  # the testbed's CPU wake-up latency request (us), as cyclictest makes it


@contextlib.contextmanager
def low_latency(us: int = PM_QOS_US) -> Iterator[bool]:
    """Hold a PM QoS request (``/dev/cpu_dma_latency``) of ``us`` while the block runs: idle
    CPUs poll instead of halting, so a wake-up costs what the scheduler costs, not a
    (virtual) CPU's halt and resume (about 70 us against 38 us here). Yields whether the
    request holds (it needs root; ``MBSIM_PM_QOS=off`` declines it, to measure without)."""
    if os.environ.get("MBSIM_PM_QOS") == "off":
        yield False
        return
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
    except OSError:
        yield False
        return
    try:
        os.write(fd, struct.pack("i", us))
        yield True
    finally:
        os.close(fd)


def steal_ms() -> float:
    """CPU time the hypervisor has taken from this VM since boot, over all CPUs (ms; 0 where
    /proc/stat has no steal column)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) * 1000.0 / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0
    except (OSError, ValueError):
        return 0.0


def await_start(start: Any, timeout_s: float = 60.0) -> int:
    """Scenario time 0 (CLOCK_MONOTONIC ns) once the testbed publishes it in the shared int64
    ``start`` (0 until then)."""
    give_up = time.monotonic() + timeout_s
    while (t0 := int(start.value)) == 0:
        if time.monotonic() > give_up:
            raise SystemExit("the testbed never started the run")
        time.sleep(0.001)
    return t0


def wait_until(due_ns: int, spin_ns: int = 150_000) -> int:
    """Sleep until ``spin_ns`` before ``due_ns`` (CLOCK_MONOTONIC), then spin; returns now."""
    now = time.monotonic_ns()
    if due_ns - now > spin_ns:
        time.sleep((due_ns - now - spin_ns) / 1e9)
    now = time.monotonic_ns()
    while now < due_ns:
        now = time.monotonic_ns()
    return now


def realtime_offset_ns(samples: int = 21) -> int:
    """CLOCK_REALTIME - CLOCK_MONOTONIC (ns), the median of bracketed reads: kernel socket
    timestamps are realtime, the testbed's schedule is monotonic."""
    offs = []
    for _ in range(samples):
        a = time.monotonic_ns()
        r = time.time_ns()
        b = time.monotonic_ns()
        offs.append(r - (a + b) // 2)
    offs.sort()
    return offs[len(offs) // 2]

