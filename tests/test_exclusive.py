"""mbsim.exclusive: a measurement waits for the shared holders, and holds off new ones."""
from __future__ import annotations

import multiprocessing as mp
import threading
import time

from mbsim import exclusive

CTX = mp.get_context("fork")


def _hold_shared(d: str, held: mp.synchronize.Event, release: mp.synchronize.Event) -> None:
    with exclusive.machine(exclusive=False, directory=d):
        held.set()
        release.wait(30)


def _take_shared(d: str, got: mp.synchronize.Event) -> None:
    exclusive._held.clear()  # an independent process (a fork of a holder would pass through)
    with exclusive.machine(exclusive=False, directory=d):
        got.set()


def test_a_measurement_waits_for_shared_holders_and_holds_off_new_ones(tmp_path):
    d = str(tmp_path / "lock")
    held, release = CTX.Event(), CTX.Event()
    holder = CTX.Process(target=_hold_shared, args=(d, held, release))
    holder.start()
    assert held.wait(30)
    inside = threading.Event()
    leave = threading.Event()

    def measure() -> None:
        with exclusive.machine(directory=d):
            inside.set()
            leave.wait(30)

    t = threading.Thread(target=measure)
    t.start()
    assert not inside.wait(0.3)  # the shared holder is still there
    release.set()
    assert inside.wait(30)  # ... and once it left, the measurement runs
    got = CTX.Event()
    late = CTX.Process(target=_take_shared, args=(d, got))
    late.start()
    assert not got.wait(0.3)  # no new shared holder while the measurement runs
    leave.set()
    t.join(30)
    assert got.wait(30)
    for p in (holder, late):
        p.join(30)
        assert p.exitcode == 0


def test_without_a_directory_it_is_a_no_op(monkeypatch):
    monkeypatch.delenv(exclusive.ENV, raising=False)
    with exclusive.machine(), exclusive.machine():  # nothing to wait for, not even itself
        pass


def test_a_nested_section_passes_through(tmp_path):
    d = str(tmp_path / "lock")
    with exclusive.machine(exclusive=False, directory=d):
        start = time.monotonic()
        with exclusive.machine(directory=d):  # would wait for itself
            pass
        assert time.monotonic() - start < 5
