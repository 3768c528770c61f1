"""The ``horn`` policy: the ox-horn as the kernel runs it (breaker, hard deadline, snapshot,
in-flight cap with no queue), and what each piece does in a run."""
from __future__ import annotations

from mbsim import simulate
from mbsim.mbb.breaker import BreakerSettings
from mbsim.mbb.buffer import BufferSettings
from mbsim.mbb.fallback import Fallback
from mbsim.mbb.settings import MbbSettings
from mbsim.policies import get
from mbsim.policies.protection import Pool
from mbsim.world.catalog import get as scenario


def _build(p: MbbSettings):
    return get("horn").build(p, scenario("db-down"), None)


def test_the_horn_is_the_breaker_the_deadline_the_snapshot_and_a_cap_with_no_queue():
    p = MbbSettings(buffer=BufferSettings(capacity_max=37), breaker=BreakerSettings(open_ms=700),
                    fallback=Fallback(deadline_ms=7.5))
    pr = _build(p)
    assert pr.deadline_ms == 7.5 and pr.fallback is True
    assert pr.pool == Pool(37, 0)  # the kernel's in-flight cap: refusals go to the snapshot at once
    assert pr.admission is None  # no server-side buffer: the testbed's server is plain
    assert pr.strategy is not None and pr.strategy.open_s == 0.7


def test_a_horn_switched_off_has_no_deadline_and_no_snapshot():
    pr = _build(MbbSettings(fallback=Fallback(enabled=False, deadline_ms=7.5)))
    assert pr.deadline_ms is None and pr.fallback is False
    assert pr.pool == Pool(MbbSettings().buffer.capacity_max, 0)


def test_without_the_horn_db_down_fails_and_waits_for_the_client_timeout():
    """db-down (the backend hangs 4-9 s): with the horn every request is answered within
    about its 5 ms deadline; without it the breaker's refusals fail and the requests caught
    in the hang wait for the client's own timeout."""
    on = simulate("db-down", policy="horn", seed=1, duration_s=6).metrics
    off = simulate("db-down", policy="horn", seed=1, duration_s=6, overrides={"fallback.enabled": False}).metrics
    assert on["success_ratio"] == 1.0 and on["fallback_ratio"] > 0.3
    assert 5.0 <= on["p9999_ms"] < 5.1  # the deadline plus the snapshot's answer time
    assert off["fallback_ratio"] == 0.0 and off["rejected_ratio"] > 0.3 and off["timeout_ratio"] > 0
    assert off["p99_ms"] > 100
