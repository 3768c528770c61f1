"""Tests that need the whole machine, under pytest-xdist.

The suite runs on every core (``-n auto``). A test marked ``serial`` (the testbed, the
rig, the timing-sensitive ones: they pin the generator and the server to the two CPUs and
gate on lateness) must not share the machine with anything. Every test takes a lock
around its whole run (set-up, call, tear-down): a shared one for ordinary tests, an
exclusive one for ``serial`` tests, which all go to one worker (xdist group ``serial``).

Two flock files make it fair: a serial test first takes the *gate* exclusively, so that
no ordinary test starts after it asked, then the *machine* lock exclusively, which it gets
as soon as the ordinary tests already running have ended. An ordinary test passes the gate
(shared, held for an instant) and holds the machine lock shared while it runs.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _lock_dir() -> Path | None:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run or not os.environ.get("PYTEST_XDIST_WORKER"):
        return None  # not under xdist: nothing runs beside this test
    return Path(tempfile.gettempdir()) / f"mbsim-tests-{run}"


@contextlib.contextmanager
def machine(exclusive: bool) -> Iterator[None]:
    d = _lock_dir()
    if d is None:
        yield
        return
    d.mkdir(exist_ok=True)
    with open(d / "gate", "a") as gate, open(d / "machine", "a") as whole:
        if exclusive:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(whole, fcntl.LOCK_EX)
        else:
            fcntl.flock(gate, fcntl.LOCK_SH)
            fcntl.flock(whole, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(whole, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
