"""The command line: every metric on --json, one clear line on bad input."""
import json
import subprocess
import sys

import pytest

from mbsim.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "mbsim", *args], capture_output=True, text=True)


def test_help_lists_subcommands():
    out = run("--help").stdout
    for cmd in ("run", "simulate", "scenarios", "policies", "bench"):
        assert cmd in out


def test_done_when_command_prints_every_metric():
    r = run("simulate", "--scenario", "db-down", "--policy", "mbb", "--duration", "10", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    m = d["metrics"]
    for key in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "p9999_ms", "p99_jitter_ms", "success_ratio",
                "fallback_ratio", "rejected_ratio", "timeout_ratio", "goodput_rps", "decision_accuracy",
                "slo_met", "slo_violation_ratio"):
        assert key in m
    assert m["success_ratio"] >= 0.999 and m["fallback_ratio"] > 0.3
    assert d["scenario"] == "db-down" and d["seed"] == 1


@pytest.mark.parametrize("args, message", [
    (["simulate", "--scenario", "nope"], "unknown scenario 'nope'"),
    (["simulate", "--policy", "nope"], "argument --policy: invalid choice: 'nope'"),
    (["simulate", "--set", "workload.rate_rps=-5"], "workload.rate_rps must be positive"),
    (["simulate", "--set", "buffer.window_min_ms=300"], "window_min_ms (300) > window_max_ms (200)"),
    (["simulate", "--set", "buffer.capacity_min=512"], "capacity_min (512) > capacity_max (256)"),
    (["simulate", "--set", "workload.rate_rps=5", "--set", "workload.rate_rps=6"], "duplicate parameter"),
    (["simulate", "--set", "buffer.nonsense=1"], "unknown parameter buffer.nonsense"),
    (["simulate", "--set", "bogus=1"], "unknown parameter 'bogus'"),
    (["simulate", "--policy", "none", "--set", "buffer.window_min_ms=60"], "policy 'none' has"),
    (["simulate", "--duration", "-3"], "--duration: must be a number in (0, 86400]"),
    (["bench", "nothing"],
     "argument TARGET: invalid choice: 'nothing' (choose from 'sim', 'bpf', 'tune', 'rig', 'hotload')"),
    (["simulate", "--seed", "x"], "a seed is an integer in [0, 2**63)"),
])
def test_bad_input_is_one_line_without_traceback(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert message in lines[0]


def test_scenarios_lists_the_four(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in ("loss12", "db-down", "tail-spike", "partition"):
        assert name in out


def test_scenario_file_with_duplicate_key(tmp_path, capsys):
    f = tmp_path / "s.json"
    f.write_text('{"duration_s": 5, "duration_s": 6}')
    assert main(["simulate", "--scenario", str(f)]) == 2
    assert "duplicate parameter 'duration_s'" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["run", "simulate", "scenarios", "policies", "bench", "compare", "tune", "export",
                                 "apply", "detach", "verify", "calibrate"])
def test_every_subcommand_has_help(cmd, capsys):
    # in this process (the parser is what is tested; `mbsim --help` above runs the entry point)
    with pytest.raises(SystemExit) as exit_:
        main([cmd, "--help"])
    assert exit_.value.code == 0 and f"usage: mbsim {cmd}" in capsys.readouterr().out


def test_bench_tune_smoke(tmp_path):
    r = run("bench", "tune", "--budget", "2", "--factor", "2", "--reps", "1", "--problems", "four", "--json",
            "--out", str(tmp_path / "t.json"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)["problems"][0]
    assert d["random_evaluations"] == 4
    assert [m["method"] for m in d["methods"]] == ["skopt", "skopt-penalty", "optuna-tpe", "optuna-gp", "sobol",
                                                   "random"]
    assert [m["method"] for m in d["methods"] if m.get("default")] == ["skopt"]
    assert all({"runs", "reached", "median_evals", "duplicates"} <= set(m) for m in d["methods"])
    assert d["target"] >= d["best_random"]
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["results"]["methods"][0] == {**saved["results"]["methods"][0], "method": "skopt", "default": True}
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_bench_sim_smoke():
    """The figures and the ratio are there (speed itself is never asserted in a test)."""
    r = run("bench", "sim", "--duration", "0.5", "--reps", "1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["ratio"] == pytest.approx(out["full_model_req_per_s"] / out["bare_mm1_req_per_s"])
    assert out["goal_ratio"] == 3.0 and out["peak_mib_20s"] > 0


def test_examples_are_written_with_their_provenance(tmp_path):
    from mbsim.formats import settings_file, snapshot_file

    r = run("examples", "--out", str(tmp_path), "--keys", "7")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "snapshots" / "example.json").read_text())
    assert doc["provenance"]["git"]["commit"] and "k = 1..7" in doc["provenance"]["what"]
    assert [(e.key, e.value) for e in snapshot_file.load(tmp_path / "snapshots" / "example.json")] == \
        [(k, f"cached:{k}".encode()) for k in range(1, 8)]
    sf = settings_file.load(tmp_path / "settings" / "article-defaults.json")
    assert sf.provenance["packages"]["simpy"] and sf.settings.fallback.deadline_ms == 5.0
