"""Verdicts come only from measurements: errors across runs with intervals, "not measured"
with the gate that failed, and the realized-send comparison judged when the planned one is not."""
import math
from typing import Any

import pytest

from mbsim.verify import verdict

GOOD = [{"name": g, "passed": True, "value": 1.0, "limit": "ok"} for g in ("rate", "arrivals", "lateness")]
LATE = [{"name": "rate", "passed": True, "value": 0.0, "limit": "ok"},
        {"name": "lateness", "passed": False, "value": 42.0, "limit": "p99 <= 25 us"}]


def one(errors: dict[str, float], gates=GOOD, meaningful=True, p9999=5.0, success=1.0) -> dict[str, Any]:
    """One run's comparison on one basis: relative errors for percentiles, points for ratios."""
    r = {"gates": gates}
    for name in ("p50", "p99", "p99_99"):
        r[name] = {"error": errors.get(name, 0.0), "meaningful": meaningful,
                   "measured": {"value": p9999 if name == "p99_99" else 1.0}}
    for name in verdict.RATIOS:
        r[name] = {"error_points": errors.get(name, 0.0), "measured": success}
    return r


def run(planned: dict[str, float], realized: dict[str, float], **kw) -> dict[str, Any]:
    r = one(planned, **kw)
    r["realized"] = one(realized, meaningful=kw.get("meaningful", True))
    return r


def arm(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"runs": runs, "across": verdict.across(runs)}


def judged(r: dict[str, Any], text: str, util: float = 0.3) -> dict[str, Any]:
    """The goal of the none arm of loss12 whose name contains ``text``."""
    return goal(verdict.goals({"loss12": {"none": r}}, 5.0, None, {"loss12": util}), text)


def goal(goals: list[dict[str, Any]], text: str) -> dict[str, Any]:
    found = [g for g in goals if text in g["goal"]]
    assert len(found) == 1, [g["goal"] for g in goals]
    return found[0]


def test_the_error_across_runs_is_a_mean_with_a_t_interval():
    # errors 0.01, 0.02, 0.03: mean 0.02, sd 0.01, t(0.975, 2) = 4.303
    runs = [run({"p50": e}, {"p50": e}) for e in (0.01, 0.02, 0.03)]
    a = verdict.across(runs)["planned"]["p50"]
    half = 4.302652729911275 * 0.01 / math.sqrt(3)
    assert a["mean"] == pytest.approx(0.02) and a["n"] == 3 and a["of"] == 3
    assert (a["low"], a["high"]) == pytest.approx((0.02 - half, 0.02 + half))


def test_a_goal_is_met_only_when_its_whole_interval_is_within_it():
    inside = arm([run({"p50": e}, {"p50": e}) for e in (0.01, 0.015, 0.02)])  # interval about 0.003..0.027
    wide = arm([run({"p50": e}, {"p50": e}) for e in (-0.02, 0.02, 0.06)])  # mean 0.02, interval about -0.08..0.12
    g1 = judged(inside, "P50 prediction from the planned")
    g2 = judged(wide, "P50 prediction from the planned")
    assert g1["met"] is True and g1["status"] == "met"
    assert g2["met"] is False and g2["status"] == "missed"  # its mean (2 %) is within 10 %, its interval is not
    assert "95 % interval" in verdict.describe(g2) and "3 runs" in verdict.describe(g2)


def test_runs_that_failed_their_gates_give_not_measured_with_the_gate_and_its_value():
    runs = [run({"p50": 0.5}, {"p50": 0.01}, gates=LATE) for _ in range(3)]
    goals = verdict.goals({"loss12": {"none": arm(runs)}}, 5.0, None, {"loss12": 0.3})
    planned = goal(goals, "P50 prediction from the planned")
    assert planned["met"] is None
    assert planned["status"].startswith("not measured: lateness gate 42 (p99 <= 25 us) in 3 of 3 runs")
    assert "judged on the realized sends" in planned["status"]
    # the realized-send prediction is judged on every run: its error is 1 %, its interval 0 wide
    realized = goal(goals, "P50 prediction from the realized")
    assert realized["met"] is True


def test_the_horn_goals_read_the_actual_sends_of_every_run_whatever_the_generators_gates():
    runs = [run({}, {}, gates=LATE) for _ in range(3)]
    for r, worst in zip(runs, (4.0, 4.9, 4.2)):  # the realized basis holds latency from the actual send
        r["realized"]["p99_99"]["measured"]["value"] = worst
        r["p99_99"]["measured"]["value"] = 40.0  # from the planned send: the late generator's
    goals = verdict.goals({"db-down": {"horn": arm(runs)}}, 5.0, None, {"db-down": 0.9})
    g = goal(goals, "P99.99 <= deadline")
    assert g["met"] is True and g["value_ms"] == 4.9 and g["runs"] == 3 and "from the actual send" in g["goal"]
    assert goal(goals, "P99.99 <= 3.2 ms")["met"] is False
    assert goal(goals, "success >= 100.00%")["met"] is True
    none = verdict.goals({"db-down": {"horn": {"runs": [], "across": {}}}}, 5.0, None, {})
    assert goal(none, "deadline")["status"] == "not measured: no run"


def test_a_percentile_with_too_few_samples_beyond_it_gets_no_verdict():
    runs = [run({"p99": 0.5}, {"p99": 0.5}, meaningful=False) for _ in range(3)]
    g = judged(arm(runs), "P99 prediction from the realized")
    assert g["met"] is None and g["status"].startswith("not meaningful")


def test_one_usable_run_gives_no_interval_and_no_verdict():
    runs = [run({"p50": 0.01}, {"p50": 0.01})] + [run({"p50": 0.01}, {"p50": 0.01}, gates=LATE) for _ in range(2)]
    g = judged(arm(runs), "P50 prediction from the planned")
    assert g["met"] is None and g["status"].startswith("not measured: lateness gate 42 (p99 <= 25 us) in 2 of 3")


def test_the_kernel_ratio_goal_reads_the_runs_own_ping_pong():
    pp = {"ratio": 10.3, "kernel_p50_us": 9.0, "user_p50_us": 92.7}
    g = goal(verdict.goals({}, 5.0, pp, {}), "kernel answer")
    assert g["met"] is True and "10.3x" in verdict.describe(g) and "ping-pong in this run" in g["goal"]
    assert not [g for g in verdict.goals({}, 5.0, None, {}) if "kernel" in g["goal"]]
