"""The side-by-side study: quick run, CRN across peers, outputs, bad input."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

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
        for m in ("p99_jitter_ms", "success_ratio", "fallback_ratio", "decision_accuracy"):
            # the interval, computed here by hand from the replications: mean +- t(0.975, n-1) s / sqrt(n)
            xs = np.array([rep[m] for rep in row["replications"]], dtype=float)
            half = scipy.stats.t.ppf(0.975, len(xs) - 1) * xs.std(ddof=1) / math.sqrt(len(xs))
            assert row[m] == pytest.approx(xs.mean(), abs=1e-12), (name, m)
            assert row[f"{m}_ci"] == pytest.approx([xs.mean() - half, xs.mean() + half], abs=1e-9), (name, m)
        lo, hi = row["p99_ms_ci"]  # a percentile's interval is at least one histogram bucket (0.1 %) wide
        assert hi - lo >= 0.999e-3 * row["p99_ms"], name
        assert row["cpu_us_per_decision"] >= 0
    assert data["none"]["cpu_us_per_decision"] == 0
    assert data["mbb"]["cpu_us_per_decision"] > 0


def test_quick_study_writes_table_figures_and_provenance(quick):
    out, _ = quick
    rec = json.loads((out / "results.json").read_text())
    assert rec["provenance"]["git"] and rec["provenance"]["packages"]["simpy"]
    assert len(rec["seeds"]) == 5 and rec["verdicts"]
    md = (out / "results.md").read_text()
    assert ("| policy | P99 ms | P99.99 ms | P99 jitter ms | SLO windows missed | success | fallback | fresh "
            "| goodput ratio | false open | decision acc. | CPU us/decision |") in md
    assert rec["scenario_params"]["workload"]["rate_rps"] == 10000.0  # what ran is recorded
    assert rec["policies"]["mbb"]["params"]["fallback"]["deadline_ms"] == 5.0
    assert rec["policies"]["hystrix"]["params"]["execution_timeout_ms"] == 1000.0
    # P99.99 of a 6 s run at 10K req/s has ~5 samples beyond it: marked, and never compared
    assert all(not row["p9999_ms_meaningful"] for row in rec["policies"].values())
    assert "p9999_ms not compared (fewer than 100 samples beyond it)" in md
    assert "p9999_ms wins" not in md and "p9999_ms loses" not in md
    assert "mbb vs hystrix:" in md
    for fig in ("latency-cdf.png", "p99-over-time.png", "state-timeline.png", "goodput-over-time.png", "health.png"):
        assert (out / fig).stat().st_size > 10_000


def test_two_policies_capped_at_one_bucket_tie_at_the_cap():
    """mbb and horn both answer late requests at the 5 ms deadline: under 12 % loss their
    P99 is deadline + the snapshot's answer in every replication, one histogram bucket, and
    a paired interval of zero width would claim a difference out of nothing."""
    st = compare("loss12", ["mbb", "horn"], reps=3, quick=True, cpu=False, workers=1)
    p99 = [r["metrics"]["p99_ms"] for name in ("mbb", "horn") for r in st.summaries[name].runs]
    assert max(p99) <= min(p99) * 1.001  # the cap: one bucket
    verdict = st.verdicts()[0]
    assert "p99_ms ties at the cap" in verdict
    ci = st.summaries["mbb"].intervals["p99_ms"]
    assert ci.high - ci.low >= ci.mean * 0.001 * 0.99  # at least the bucket, never zero width


def test_at_one_cap_is_one_bucket_and_no_wider():
    from mbsim.comparison.compare import at_one_cap
    assert at_one_cap([5.015, 5.015], [5.015, 5.0151])
    assert not at_one_cap([5.015, 5.015], [5.015, 5.03])
    assert not at_one_cap([], [])


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
    (["compare", "--reps", "1"], "--reps: must be in [2, 1,000]"),
    (["compare", "--scenario", "nowhere"], "unknown scenario 'nowhere'"),
    (["simulate", "--policy", "hystrix", "--set", "buffer.window_min_ms=3"], "policy 'hystrix' has 'buffer'"),
])
def test_bad_input(args, message):
    r = mbsim(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _params_file(path, policy, params):
    path.write_text(json.dumps({"schema": "mbsim.policy/1", "policy": policy, "params": params}))
    return path


def test_a_tuned_arm_runs_its_own_parameters_on_the_common_random_numbers(tmp_path):
    from mbsim import policies
    from mbsim.params import to_dict

    defaults = to_dict(policies.resolve("hystrix")[1])
    same = _params_file(tmp_path / "same.json", "hystrix", defaults)
    changed = dict(defaults)
    changed["execution_timeout_ms"] = 1.0  # calls time out at 1 ms: the answers differ
    (tmp_path / "study").mkdir()
    other = _params_file(tmp_path / "study" / "params.json", "hystrix", changed)  # a study's directory
    r = mbsim("compare", "--scenario", "db-down", "--quick", "--reps", "2", "--policies", "hystrix", "--json",
              "--no-figures", "--tuned", f"same={same}", "--tuned", str(other.parent), "--out", str(tmp_path / "o"),
              "--reference", "same")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert list(data) == ["hystrix", "same", "hystrix-bo"]
    # the defaults written to a file are the defaults: identical replications, seed for seed
    assert data["same"]["replications"] == data["hystrix"]["replications"]
    assert data["hystrix-bo"]["params"]["execution_timeout_ms"] == 1.0 and data["hystrix-bo"]["source"] == str(other)
    assert data["hystrix-bo"]["replications"] != data["hystrix"]["replications"]
    record = json.loads((tmp_path / "o" / "results.json").read_text())
    assert record["provenance"]["tuned"] == [f"same={same}", str(other.parent)]
    # the verdicts are the reference's: identical arms tie on every metric
    assert record["reference"] == "same" and record["verdicts"][0].startswith("same vs hystrix: ")
    assert " wins " not in record["verdicts"][0] and " loses " not in record["verdicts"][0]


def test_a_tuned_mbb_arm_reads_settings_json(tmp_path):
    from mbsim.comparison.compare import compare
    from mbsim.comparison.entries import tuned
    from mbsim.formats.settings_file import SettingsFile

    path = SettingsFile().write(tmp_path / "settings.json")  # the article's defaults
    entry = tuned(str(path))
    assert (entry.label, entry.policy) == ("mbb-bo", "mbb")
    study = compare("db-down", ["mbb", entry], reps=2, quick=True, cpu=False, workers=1)
    a, b = (study.summaries[k].runs for k in ("mbb", "mbb-bo"))
    assert [r["metrics"] for r in a] == [r["metrics"] for r in b]


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ('{"schema": "mbsim.other/1"}', "neither mbsim.settings/1 nor mbsim.policy/1"),
    ('{"schema": "mbsim.policy/1", "policy": "hystrix", "params": {"execution_timeout_ms": -5}}',
     "execution_timeout_ms must be positive"),
    ('{"schema": "mbsim.policy/1", "policy": "nope", "params": {}}', "unknown policy 'nope'"),
    ('{"schema": "mbsim.policy/1", "policy": "hystrix"}', "needs 'policy' (a name) and 'params'"),
    ('[1, 2', "invalid JSON"),
])
def test_bad_tuned_arms_are_one_line(tmp_path, content, message):
    path = tmp_path / "p.json"
    if content is not None:
        path.write_text(content)
    r = mbsim("compare", "--quick", "--policies", "none", "--tuned", str(path), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_reference_that_is_not_an_arm_is_one_line(tmp_path):
    r = mbsim("compare", "--quick", "--policies", "none,hystrix", "--reference", "mbb-bo", "--out", str(tmp_path))
    assert r.returncode == 2 and "--reference 'mbb-bo' is not one of the arms (none, hystrix)" in r.stderr


def test_two_arms_with_one_label_are_refused(tmp_path):
    path = _params_file(tmp_path / "p.json", "hystrix", {})
    r = mbsim("compare", "--quick", "--policies", "none", "--tuned", f"none={path}", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "two arms are labelled 'none'" in r.stderr


def _pinned_study(p99_a, p99_b, success=(1.0, 1.0), beyond=500):
    """Two arms of three replications: P99 ``p99_a`` / ``p99_b`` ms (one value each: pinned)."""
    from mbsim.comparison.compare import LOWER_IS_BETTER, Comparison, PolicySummary, percentile_interval
    from mbsim.metrics import intervals as stats
    from mbsim.world.catalog import get

    def arm(name, p99, ok):
        others = dict.fromkeys(LOWER_IS_BETTER, math.nan)  # not measured: left out of the verdict
        runs = [{"metrics": {**others, "p99_ms": p99, "success_ratio": ok}, "beyond": {"p99_ms": beyond}}
                for _ in range(3)]
        return PolicySummary(name, runs, intervals={"p99_ms": percentile_interval([p99] * 3),
                                                    "success_ratio": stats.t_interval([ok] * 3)})
    return Comparison(get("loss12"), ["a", "b"], [1, 2, 3],
                      {"a": arm("a", p99_a, success[0]), "b": arm("b", p99_b, success[1])}, quick=True, reference="a")


@pytest.mark.parametrize("a, b, words", [
    (5.015, 5.015, "p99_ms ties at the cap (both 5.015 ms in every replication: one histogram bucket)"),
    # the next bucket (x 1.001): a paired interval of zero width at -0.00501 would look like evidence
    (5.010249979978825, 5.015260229958805,
     "p99_ms ties at the cap (5.01 and 5.015 ms in every replication: one histogram bucket each, within 2 %)"),
    (5.0, 5.1, "p99_ms ties at the cap (5 and 5.1 ms in every replication: one histogram bucket each, within 2 %)"),
    (5.0, 6.0, "p99_ms wins (5 against 6 ms in every replication, each at one bucket: no interval)"),
    (6.0, 5.0, "p99_ms loses (6 against 5 ms in every replication, each at one bucket: no interval)"),
])
def test_arms_each_pinned_to_a_bucket_are_compared_by_value_never_by_a_zero_interval(a, b, words):
    line = _pinned_study(a, b).verdicts()[0]
    assert line.startswith("a vs b: ") and words in line and "CI" not in line.split(";")[0]


def test_pinned_apart_but_not_meaningful_is_not_compared():
    line = _pinned_study(5.0, 6.0, beyond=20).verdicts()[0]
    assert "p99_ms not compared (fewer than 100 samples beyond it)" in line
    assert "ties at the cap" in _pinned_study(5.0, 5.0, beyond=20).verdicts()[0]  # a shared cap is still a tie


def test_a_metric_equal_in_every_replication_says_so():
    line = _pinned_study(5.0, 5.0).verdicts()[0]
    assert "success_ratio ties (equal in every replication)" in line and "+0, CI +0..+0" not in line
    line = _pinned_study(5.0, 5.0, success=(1.0, 0.5)).verdicts()[0]
    assert "success_ratio wins (+0.5, CI +0.5..+0.5)" in line  # a real difference keeps its numbers
