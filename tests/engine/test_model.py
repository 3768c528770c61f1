"""Paths of the request model that the scenarios alone do not pin down."""
import pytest

from mbsim import simulate
from mbsim.engine import model as model_mod
from mbsim.engine.run import run_model
from mbsim.mbb.buffer import BufferSettings, MountainBikeBuffer
from mbsim.mbb.topology import Topology, TopologySettings
from mbsim.policies.protection import Pool, Protection
from mbsim.world.client import Client
from mbsim.world.faults import Faults
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.workload import Workload


def overload(**kw):
    return Scenario(duration_s=4, warmup_s=0.5, workload=Workload(rate_rps=20000.0),
                    service=Service(workers=8), **kw)


def test_rejections_get_retry_after_and_clients_wait_it(monkeypatch):
    delays = []
    original = model_mod.Model._retry_later

    def spy(self, req, delay):
        delays.append((delay, self.adm.retry_after_s if self.adm else None))
        original(self, req, delay)

    monkeypatch.setattr(model_mod.Model, "_retry_later", spy)
    sc = overload(client=Client(timeout_ms=1000, max_retries=1))
    r = simulate(sc, policy="mbb", params={"fallback": {"enabled": False},
                                           "buffer": {"capacity_max": 4, "capacity_min": 4}}, seed=3)
    assert r["rejected_ratio"] > 0.1
    retried = [d for d, ra in delays if ra is not None]
    assert retried and all(d == pytest.approx(ra + sc.network.rtt_ms / 1e3) for d, ra in delays)


def test_buffer_sheds_instead_of_queueing():
    sc = overload()
    none = simulate(sc, policy="none", seed=1)
    mbb = simulate(sc, policy="mbb", params={"fallback": {"enabled": False},
                                             "buffer": {"capacity_max": 16, "capacity_min": 16}}, seed=1)
    assert none.server["mean_wait_ms"] > 50
    assert mbb.server["mean_wait_ms"] < 5  # at most 15 waiting for 8 workers


def test_fast_errors_are_answered_from_the_snapshot():
    sc = Scenario(duration_s=6, warmup_s=1, workload=Workload(rate_rps=2000.0),
                  faults=Faults(down=((2.0, 4.0),), down_mode="error", error_ms=0.5))
    none = simulate(sc, policy="none", seed=2)
    assert none["error_ratio"] > 0.2  # three attempts, all in the outage
    mbb = simulate(sc, policy="mbb", seed=2)
    assert mbb["error_ratio"] == 0 and mbb["success_ratio"] == 1.0 and mbb["fallback_ratio"] > 0.2


def test_delay_spikes_add_latency():
    sc = Scenario(duration_s=6, warmup_s=1, workload=Workload(rate_rps=2000.0),
                  faults=Faults(delay_spikes=((1.0, 6.0, 20.0),)))
    r = simulate(sc, policy="none", seed=1)
    assert 20 < r["p50_ms"] < 23


def test_caller_pool_threads_and_queue():
    sc = Scenario(duration_s=3, warmup_s=0.5, workload=Workload(rate_rps=2000.0),
                  service=Service(workers=64, dist="deterministic", mean_ms=5.0))
    peak = []
    prot = Protection(pool=Pool(threads=4, queue=2))
    original = model_mod.Model._take_thread

    def spy(self, *a):
        took = original(self, *a)
        peak.append(self.pool_busy)  # right after a thread was handed out (or refused)
        return took

    model_mod.Model._take_thread = spy
    try:
        _m, rec = run_model(sc, prot, seed=1)
    finally:
        model_mod.Model._take_thread = original
    assert max(peak) <= 4
    counts = rec.summary(2.5)["counts"]
    assert counts["rejected"] > 0 and counts["success"] > 0
    # 2000 req/s x 5.2 ms = 10 in flight wanted; 4 threads serve at most 4 / 5.2 ms = 769 req/s
    assert counts["success"] / 2.5 == pytest.approx(4 / 0.0052, rel=0.05)


class FakeSensor:
    def __init__(self):
        self.accel = 0.0
        self.slope = 0.0
        self.trend = 0.0


def test_topology_windows_open_on_their_triggers_and_change_what_they_say():
    buf = MountainBikeBuffer(BufferSettings(), workers=8, mean_service_s=1e-3).retuner
    topo = buf.topology
    calls = []
    buf.retune = lambda now, span, cause: calls.append((round(now, 3), span, cause))  # type: ignore[assignment]  # a recording fake
    s = FakeSensor()
    t = 0.0
    for _ in range(5):  # quiet: nothing opens
        t += 0.05
        topo.tick(t, s)
    assert topo.opened == {"short": 0, "medium": 0, "long": 0}
    s.accel = 2.5  # above 1.8 /s^2: the short window opens, and re-tunes from its 200 ms when it closes
    t += 0.05
    topo.tick(t, s)
    s.accel = 0.0
    for _ in range(4):
        t += 0.05
        topo.tick(t, s)
    assert topo.opened["short"] == 1 and calls[-1][1:] == (0.2, "short")
    s.slope = 0.1  # trend angle jumps by 0.1 rad within 1.2 s: > 0.03 rad/s -> medium window
    t += 0.05
    topo.tick(t, s)
    assert topo.opened["medium"] == 1
    before = buf.damping
    for _ in range(24):
        t += 0.05
        topo.tick(t, s)
    assert buf.damping <= before  # the fitted damping: 1 / (1 + cv^2) <= 1
    s.trend = -0.2  # falling for 1 s -> long window; at its close: damping 1 and an 8 s re-tune
    for _ in range(20):  # 20 samples span 0.95 s: not yet
        t += 0.05
        topo.tick(t, s)
    assert topo.opened["long"] == 0
    t += 0.05
    topo.tick(t, s)
    assert topo.opened["long"] == 1
    buf.damping = 0.5
    for _ in range(161):
        t += 0.05
        topo.tick(t, s)
    assert buf.damping == 1.0 and any(c[2] == "long" and c[1] == 8.0 for c in calls)


def test_topology_can_be_switched_off():
    buf = MountainBikeBuffer(BufferSettings(topology=TopologySettings(enabled=False)), 8, 1e-3)
    s = FakeSensor()
    s.accel, s.slope, s.trend = 10, 1, -1
    for k in range(100):
        buf.retuner.topology.tick(k * 0.05, s)
    assert buf.retuner.topology.opened == {"short": 0, "medium": 0, "long": 0}
    assert isinstance(buf.retuner.topology, Topology)
