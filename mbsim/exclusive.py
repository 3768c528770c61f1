"""A machine-wide lock for measurements that need the machine to themselves.

A testbed run gates on the generator's lateness (microseconds): any other busy process on
the machine shows up in it. When ``MBSIM_EXCLUSIVE_LOCK`` names a directory, every
measured testbed run takes that directory's lock exclusively, and cooperating work (the
test suite's ordinary tests, say) takes it shared: a run then waits until the shared
holders have finished and no new one starts until it is done. Without the variable the
lock is a no-op. Two flock files make it fair: an exclusive taker first takes the *gate*,
so that no new shared holder starts after it asked, then the *machine* lock.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

ENV = "MBSIM_EXCLUSIVE_LOCK"
# locks this process already holds, by directory: a nested section passes through (an
# exclusive request under this process's own shared hold would wait for itself)
_held: dict[str, int] = {}


@contextlib.contextmanager
def machine(exclusive: bool = True, directory: str | Path | None = None) -> Iterator[None]:
    """Hold the machine exclusively (a measurement) or shared (cooperating work) while the
    block runs; a no-op when neither ``directory`` nor ``$MBSIM_EXCLUSIVE_LOCK`` is set."""
    where = directory or os.environ.get(ENV)
    key = str(Path(where).resolve()) if where else ""
    if not where or _held.get(key):
        yield
        return
    d = Path(where)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "gate", "a") as gate, open(d / "machine", "a") as whole:
        if exclusive:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(whole, fcntl.LOCK_EX)
        else:
            fcntl.flock(gate, fcntl.LOCK_SH)
            fcntl.flock(whole, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
            fcntl.flock(whole, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
