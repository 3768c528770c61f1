"""The demo's load and its summary (the testbed run itself: notebook 05 and `tune --online --demo`)."""
import math

import numpy as np
import pytest

from mbsim.online import demo
from mbsim.world.terrain import classify


def test_the_load_is_noisy_then_spiky_around_the_mean():
    steps = demo.terrain_steps(1000.0, 40.0, seed=3)
    first = [r for t, r in steps if t < 20]
    second = [r for t, r in steps if t >= 20]
    assert len(first) == 80  # every 250 ms
    assert np.mean(first) == pytest.approx(1000, rel=0.15)
    assert 0.25 < np.std(first) / np.mean(first) < 0.5
    assert set(np.round(second, 6)) == {700.0, 2500.0}
    # the terrain rule, on 250 ms samples of each half, sees what the load is
    assert classify(first[:20]) in ("noisy", "spike")
    spike = [700.0] * 6 + [2500.0, 2500.0]
    assert classify([700.0] * 12 + spike) == "spike"
    assert demo.terrain_steps(1000.0, 40.0, seed=3) == steps  # seeded


def arm(windows, trials, events=(), offset=0.0):
    return {"windows": windows, "trials": trials, "events": list(events), "violation_share":
            sum(w["over"] for w in windows) / len(windows), "stopped": None, "load_time_at_loop_0_s": offset}


def w(t, unserved, over=False, p99=1.0):
    return {"t": t, "unserved": unserved, "offered": 100.0, "over": over, "p99_ms": p99, "measured": True,
            "params": {}}


def test_the_summary_counts_windows_rollbacks_and_the_time_to_the_offline_share():
    fixed = arm([w(t, 0.10) for t in range(1, 21)], [])
    safe = arm([w(t, 0.5 if t < 5 else 0.102) for t in range(1, 21)],
               [{"t": 4.0, "unserved": 0.5, "feasible": True}, {"t": 8.0, "unserved": 0.102, "feasible": True},
                {"t": 14.0, "unserved": 0.30, "feasible": True}, {"t": 18.0, "unserved": 0.104, "feasible": True}],
               [{"reason": "rollback", "after_window_s": 0.4}], offset=1.0)
    doc = {"change_at_s": 10.0, "arms": {"fixed": fixed, "safe": safe}}
    s = demo.summarize(doc)
    assert s["offline_unserved"]["noisy"] == pytest.approx(0.10)
    assert s["safe"]["rollbacks"] == 1 and s["safe"]["rollback_after_window_s_max"] == 0.4
    # within 5 % of 0.10 (+0.001): the trial ending at 8 s (load time 9 s) in the first half; at 18 s (19 s) after
    assert s["safe"]["time_to_within_5pct_s"] == {"noisy": 9.0, "spike": 9.0}
    assert s["fixed"]["over"] == 0 and math.isclose(s["safe"]["unserved_spike"], 0.102)
