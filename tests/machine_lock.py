"""Tests that need the machine, under pytest-xdist.

The suite runs on every core (``-n auto``). Measurements that gate on microseconds (every
testbed run) must not share the machine with anything: they take :mod:`mbsim.exclusive`'s
lock exclusively, in whatever process runs them (a test, ``mbsim run``, a notebook's
kernel). ``MBSIM_EXCLUSIVE_LOCK`` names the lock's directory for the whole run, so the
processes the tests start find it too. Every ordinary test holds the lock shared while it
runs (set-up, call, tear-down). A test marked ``serial`` (and every ``bpf`` test: they share
the kernel's state, the namespaces and mbsim's record of attachments) runs on one worker,
one at a time, and holds no lock itself: only its measured runs do, so its compiles and
simulations overlap the other tests.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from mbsim import exclusive


def configure() -> None:
    """Name the lock's directory for this test run (every xdist worker the same one)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run and os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ[exclusive.ENV] = os.path.join(tempfile.gettempdir(), f"mbsim-tests-{run}")


@contextlib.contextmanager
def shared() -> Iterator[None]:
    with exclusive.machine(exclusive=False):
        yield
