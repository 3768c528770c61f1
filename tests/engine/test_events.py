"""The machinery under the fast request path: reusable event slots, inlined scheduling,
URGENT window closes, the recorder's success lane, derived counters, the paused GC."""
import gc
from heapq import heappush

import numpy as np
import pytest
import simpy
from helpers import queue_scenario
from simpy.events import NORMAL

from mbsim.engine.events import Slot, schedule_target, urgent
from mbsim.engine.run import cyclic_gc_paused, run_model
from mbsim.engine.windows import windows
from mbsim.metrics.recorder import Recorder
from mbsim.outcome import SUCCESS
from mbsim.policies.protection import Protection
from mbsim.world.slo import Slo


def test_a_slot_fires_rearms_and_refuses_to_be_armed_twice():
    env = simpy.Environment()
    fired = []

    def on(ev):
        fired.append((env.now, ev.value))
        if len(fired) < 3:
            ev.arm(0.5, len(fired))  # re-armed from its own callback

    slot = Slot(env, on)
    slot.arm(1.0, "first")
    with pytest.raises(RuntimeError):
        slot.arm(2.0)
    env.run()
    assert fired == [(1.0, "first"), (1.5, 1), (2.0, 2)]
    assert slot.callbacks is None  # idle again


def test_inlined_scheduling_is_environment_schedule():
    env = simpy.Environment(initial_time=0.25)
    a, b = simpy.Event(env), simpy.Event(env)
    for ev in (a, b):
        ev._ok, ev._value = True, None
    env.schedule(a, NORMAL, 0.5)
    heap, eid = schedule_target(env)
    heappush(heap, (env.now + 0.5, NORMAL, next(eid), b))
    (t1, p1, e1, ev1), (t2, p2, e2, ev2) = sorted(env._queue, key=lambda entry: entry[2])
    assert t1 == t2 == 0.75 and p1 == p2 == NORMAL and e2 == e1 + 1 and ev1 is a and ev2 is b


def test_inlined_scheduling_refuses_a_changed_environment():
    class Logged(simpy.Environment):
        def schedule(self, event, priority=NORMAL, delay=0):
            super().schedule(event, priority, delay)

    with pytest.raises(TypeError, match="not a plain SimPy 4 Environment"):
        schedule_target(Logged())


def test_urgent_goes_before_normal_events_of_the_same_instant():
    env = simpy.Environment()
    order = []
    env.timeout(1.0).callbacks.append(lambda e: order.append("normal"))
    urgent(env, 1.0).callbacks.append(lambda e: order.append("urgent"))
    env.run()
    assert order == ["urgent", "normal"]


def test_success_lane_records_what_settle_records():
    """Successes through the lane (the recorder's process keeps the window right) and the
    same successes through settle() give the same windows, counts and histogram."""
    times = np.sort(np.random.default_rng(3).uniform(0, 5.0, 4000))
    lats = np.random.default_rng(4).lognormal(-7, 0.6, times.size)
    slo = Slo(target_ms=2.0)
    out = []
    for lane in (True, False):
        env = simpy.Environment()
        rec = Recorder(1.5, slo)
        env.process(windows(env, rec))
        add = rec.success_lane

        def feed(env, lane=lane, add=add, rec=rec):
            for t, x in zip(times, lats):
                yield env.timeout(t - env.now)
                if lane:
                    add(x)
                else:
                    rec.settle(env.now, SUCCESS, x)
        env.process(feed(env))
        env.run(until=5.0)
        rec.finish(5.0)
        out.append(rec)
    a, b = out
    assert a.seconds == b.seconds and len(a.seconds) == 3  # complete windows [2,3), [3,4), [4,5)
    assert a.counts == b.counts and a.counts[SUCCESS] == int(np.sum(times >= 1.5))
    assert np.array_equal(a.hist.counts, b.hist.counts)


def test_started_jobs_are_counted_from_completions_and_busy_workers():
    rng = np.random.default_rng(5)
    gaps = rng.exponential(1e-3, 3000).tolist()
    services = rng.exponential(3e-3, 3000).tolist()  # 4 workers, rho 0.75
    sc = queue_scenario(4, 1.0, 1.0, duration_s=2.0, warmup_s=0.0)
    trace: list[float] = []
    model, _ = run_model(sc, Protection(), seed=0, gaps=gaps, services=services, trace=trace)
    assert model.busy > 0  # the run ends with work in progress
    assert model.n_started == len(trace) == model.counts.done + model.busy


def test_gc_is_paused_during_a_run_and_restored_even_on_error():
    assert gc.isenabled()
    with pytest.raises(ValueError), cyclic_gc_paused():
        assert not gc.isenabled()
        raise ValueError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
