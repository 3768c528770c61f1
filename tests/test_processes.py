"""A study that is killed leaves no worker behind (issue 12, part 5)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

POOLS = {
    "tuning": "from mbsim.tuning.executors import LocalExecutor\n"
              "ex = LocalExecutor(2)\n"
              "futures = [ex.pool.submit(time.sleep, 60) for _ in range(2)]\n"
              "pids = list(ex.pool._processes)\n",
    "processes.pool": "from mbsim import processes\n"
                      "pool = processes.pool(2)\n"
                      "futures = [pool.submit(time.sleep, 60) for _ in range(2)]\n"
                      "pids = list(pool._processes)\n",
}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("kind", sorted(POOLS))
def test_sigkill_of_the_parent_leaves_no_worker(kind):
    code = "import sys, time\n" + POOLS[kind] + \
        "time.sleep(1.0)\nprint(' '.join(map(str, pids)), flush=True)\ntime.sleep(60)\n"
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline()
        pids = [int(x) for x in line.split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        survivors = [p for p in pids if alive(p)]
        for p in survivors:
            os.kill(p, signal.SIGKILL)
        assert not survivors, f"workers {survivors} outlived their SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
