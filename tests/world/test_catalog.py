"""Built-in scenarios behave as the article says they should - or the test says why not."""
import pytest

from mbsim import SCENARIOS, simulate


def test_db_down_with_breaker_and_fallback_stays_up():
    r = simulate("db-down", policy="mbb", seed=1)
    assert r["success_ratio"] >= 0.999
    assert r["fallback_ratio"] > 0.2  # the outage really happened and the horn answered it
    assert r["p9999_ms"] < 10


def test_db_down_without_protection_collapses():
    r = simulate("db-down", policy="none", seed=1)
    assert r["success_ratio"] < 0.5
    assert r["p99_ms"] > 100  # callers wait for their timeouts
    assert r["timeout_ratio"] > 0.5


def test_plain_breaker_fails_fast_but_does_not_answer():
    r = simulate("db-down", policy="breaker", seed=1)
    assert r["rejected_ratio"] > 0.1
    assert r["decision_accuracy"] > 0.8
    # no answer from anywhere but the backend: nothing from the snapshot, and every rejected
    # call is a failure
    assert r["fallback_ratio"] == 0
    assert r["success_ratio"] <= 1 - r["rejected_ratio"] + 1e-12


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_runs_and_reports_every_metric(name):
    r = simulate(name, policy="mbb", seed=2, duration_s=5)
    for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "p9999_ms", "p99_jitter_ms", "success_ratio",
                "fallback_ratio", "rejected_ratio", "timeout_ratio", "goodput_rps", "decision_accuracy",
                "slo_met", "slo_violation_ratio"):
        assert key in r.metrics
    assert 0 <= r["success_ratio"] <= 1
    assert r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["p999_ms"] <= r["p9999_ms"]


def test_loss12_loses_the_expected_share():
    r = simulate("loss12", policy="mbb", seed=3)
    lost = 1 - (1 - 0.12) ** 2  # either leg
    assert abs(r["fallback_ratio"] - lost) < 0.01
    r_none = simulate("loss12", policy="none", seed=3)
    assert r_none["timeout_ratio"] == pytest.approx(lost ** 3, abs=0.005)  # three attempts all lost


def test_partition_is_answered_locally():
    r = simulate("partition", policy="mbb", seed=1)
    assert r["success_ratio"] >= 0.999
    none = simulate("partition", policy="none", seed=1)
    assert none["success_ratio"] < 0.9
