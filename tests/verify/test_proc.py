"""How a testbed process settles: its CPU, and real-time scheduling with locked memory."""
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from mbsim.verify import proc

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="SCHED_FIFO and mlockall need root")


def _report(q, role):
    proc.settle(None, 0, role)
    status = Path("/proc/self/status").read_text()
    locked = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmLck:"))
    q.put((os.sched_getscheduler(0), os.sched_getparam(0).sched_priority, locked, sorted(os.sched_getaffinity(0))))


def settled(realtime: bool, role: str):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    old, proc.realtime = proc.realtime, realtime
    try:
        p = ctx.Process(target=_report, args=(q, role))
        p.start()
        got = q.get(timeout=20)
        p.join(5)
    finally:
        proc.realtime = old
    return got


@ROOT
def test_a_realtime_process_runs_under_sched_fifo_at_its_roles_priority_with_memory_locked():
    policy, prio, locked_kb, cpus = settled(True, "sender")
    assert policy == os.SCHED_FIFO and prio == proc.PRIORITY["sender"] and locked_kb > 1000 and cpus == [0]
    assert settled(True, "server")[1] == proc.PRIORITY["server"] < proc.PRIORITY["sender"]


def test_without_realtime_a_process_keeps_the_normal_scheduler():
    policy, _prio, locked_kb, cpus = settled(False, "sender")
    assert policy == os.SCHED_OTHER and locked_kb == 0 and cpus == [0]
