"""The side-by-side study: quick run, CRN across peers, outputs, bad input."""
import json
import subprocess
import sys

import pytest

from mbsim.comparison.compare import DEFAULT_POLICIES, compare


def mbsim(*args):
    return subprocess.run([sys.executable, "-m", "mbsim", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    r = mbsim("compare", "--scenario", "tail-spike", "--quick", "--json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)


def test_quick_study_json_is_keyed_by_policy_with_intervals(quick):
    _out, data = quick
    assert list(data) == list(DEFAULT_POLICIES)
    for name, row in data.items():
        assert len(row["replications"]) == 5
        for m in ("p99_ms", "p99_jitter_ms", "success_ratio", "fallback_ratio", "decision_accuracy"):
            lo, hi = row[f"{m}_ci"]
            assert lo <= row[m] <= hi, (name, m)
        assert row["cpu_us_per_decision"] >= 0
    assert data["none"]["cpu_us_per_decision"] == 0
    assert data["mbb"]["cpu_us_per_decision"] > 0


def test_quick_study_writes_table_figures_and_provenance(quick):
    out, _ = quick
    rec = json.loads((out / "results.json").read_text())
    assert rec["provenance"]["git"] and rec["provenance"]["packages"]["simpy"]
    assert len(rec["seeds"]) == 5 and rec["verdicts"]
    md = (out / "results.md").read_text()
    assert "| policy | P99 ms | P99 jitter ms | success | fallback | decision acc. | CPU us/decision |" in md
    assert "mbb vs hystrix:" in md
    for fig in ("latency-cdf.png", "p99-over-time.png", "state-timeline.png"):
        assert (out / fig).stat().st_size > 10_000


def test_paired_differences_use_common_random_numbers():
    st = compare("loss12", ["mbb", "none"], reps=3, quick=True, cpu=False, workers=1)
    # every replication saw the same requests: the counts of logical requests match pairwise
    for a, b in zip(st.summaries["mbb"].runs, st.summaries["none"].runs):
        assert a["seed"] == b["seed"]
        assert a["metrics"]["requests"] == pytest.approx(b["metrics"]["requests"], abs=30)
    ci = st.paired("p99_ms", "mbb", "none")
    assert ci.high < 0  # the horn cuts P99 under loss


@pytest.mark.parametrize("args, message", [
    (["compare", "--policies", "hystrix,nope"], "unknown policy 'nope'"),
    (["compare", "--reps", "1"], "at least 2"),
    (["compare", "--scenario", "nowhere"], "unknown scenario 'nowhere'"),
    (["simulate", "--policy", "hystrix", "--set", "buffer.window_min_ms=3"], "policy 'hystrix' has 'buffer'"),
])
def test_bad_input(args, message):
    r = mbsim(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
