"""Bad input never crashes, hangs or passes as nonsense: a hypothesis-driven fuzz of the
command line, each case in a forked child with a time and memory bound.

Every invocation must end, within its bound, with exit 0 or with exit 2 and one line on
stderr - never a traceback, a hang or a runaway. The invocations known to be nonsense
(issue 12's list, and more) must be refused."""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TIME_S = 30  # per case: a hang is a failure
MEMORY = 3 << 30  # bytes of address space per case


def invoke(argv: list[str], cwd: Path, time_s: int = TIME_S) -> tuple[int, str, str, float]:
    """``mbsim ARGV`` in a forked child: (exit code, stdout, stderr, seconds). A child killed
    by its alarm (a hang) exits -SIGALRM; one that ran out of memory fails its own way."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.chdir(cwd)
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
            signal.alarm(time_s)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = os.fdopen(2, "w", buffering=1)
            from mbsim.cli import main
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # what the test is looking for
            traceback.print_exc()
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    os.close(out_w)
    os.close(err_w)
    chunks = {out_r: b"", err_r: b""}
    import select
    fds = [out_r, err_r]
    while fds:
        for fd in select.select(fds, [], [], 1.0)[0]:
            data = os.read(fd, 65536)
            if data:
                chunks[fd] += data
            else:
                fds.remove(fd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    for fd in (out_r, err_r):
        os.close(fd)
    return code, chunks[out_r].decode(errors="replace"), chunks[err_r].decode(errors="replace"), \
        time.monotonic() - t0


def check(argv, cwd, must_refuse=False):
    code, out, err, _secs = invoke(argv, cwd)
    assert code != -signal.SIGALRM, f"hang: mbsim {' '.join(argv)}"
    assert "Traceback" not in err, f"traceback: mbsim {' '.join(argv)}\n{err[-1500:]}"
    assert code in (0, 2), f"exit {code}: mbsim {' '.join(argv)}\n{err[-800:]}"
    if code == 2:
        assert err.strip().count("\n") == 0, f"more than one line: mbsim {' '.join(argv)}\n{err}"
    if must_refuse:
        assert code == 2, f"accepted nonsense: mbsim {' '.join(argv)}\n{out[-800:]}"
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    (d / "latin1.json").write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    (d / "settings-latin1.json").write_bytes('{"schema": "mbsim.settings/1", "settings": {}, "scenario": "\xe9"}'
                                             .encode("latin-1"))
    (d / "list-settings.json").write_text('{"schema": "mbsim.settings/1", "settings": []}')
    (d / "numeric-scenario.json").write_text('{"schema": "mbsim.settings/1", "settings": {}, "scenario": 12345}')
    (d / "string-provenance.json").write_text('{"schema": "mbsim.settings/1", "settings": {}, '
                                              '"provenance": "a string"}')
    (d / "inf-deadline.json").write_text('{"schema": "mbsim.settings/1", "settings": {"fallback": '
                                         '{"deadline_ms": Infinity}}}')
    (d / "huge-window.json").write_text('{"schema": "mbsim.settings/1", "settings": {"buffer": '
                                        '{"window_max_ms": 1e308}}}')
    (d / "inf-duration.json").write_text(json.dumps({"name": "x", "duration_s": 1e999}).replace("Infinity", "Infinity"))
    (d / "inf-duration.json").write_text('{"name": "x", "duration_s": Infinity}')
    (d / "not-json.json").write_text("{not json")
    (d / "a-directory.json").mkdir()
    (d / "existing-file").write_text("I am a file")
    (d / "good.json").write_text('{"schema": "mbsim.settings/1", "settings": {}}')
    return d


NONSENSE = [
    ["simulate", "--duration", "inf"],
    ["simulate", "--duration", "1e308"],
    ["simulate", "--duration", "nan"],
    ["simulate", "--duration", "1e-300"],
    ["simulate", "--scenario", "{d}/inf-duration.json"],
    ["simulate", "--set", "workload.rate_rps=Infinity"],
    ["simulate", "--set", "workload.rate_rps=1e12"],
    ["simulate", "--set", "buffer.topology.sample_ms=1e-9"],
    ["simulate", "--set", "service.workers=100000000"],
    ["simulate", "--set", "network.rtt_ms=Infinity"],
    ["simulate", "--set", "workload.spike_factor=Infinity"],
    ["simulate", "--set", "network.rtt_ms=NaN"],
    ["simulate", "--seed", "-1"],
    ["simulate", "--seed", "99999999999999999999999"],
    ["simulate", "--scenario", "{d}/latin1.json"],
    ["simulate", "--scenario", "{d}/not-json.json"],
    ["simulate", "--scenario", "{d}/a-directory.json"],
    ["compare", "--scenario", "loss12", "--quick", "--out", "{d}/existing-file", "--policies", "none,mbb"],
    ["compare", "--scenario", "loss12", "--reps", "1"],
    ["compare", "--scenario", "loss12", "--reps", "-3"],
    ["run", "--quick", "--out", "{d}/existing-file"],
    ["tune", "--workers", "-2", "--budget", "2", "--quick", "--out", "{d}/studies"],
    ["tune", "--budget", "0", "--quick", "--out", "{d}/studies"],
    ["tune", "--budget", "2", "--quick", "--bounds", "fallback.deadline_ms=5:1", "--out", "{d}/studies"],
    ["tune", "--budget", "2", "--quick", "--bounds", "fallback.deadline_ms=inf:5", "--out", "{d}/studies"],
    ["export", "{d}/list-settings.json", "--out", "{d}/o1"],
    ["export", "{d}/numeric-scenario.json", "--out", "{d}/o2"],
    ["export", "{d}/string-provenance.json", "--out", "{d}/o3"],
    ["export", "{d}/inf-deadline.json", "--out", "{d}/o4"],
    ["export", "{d}/huge-window.json", "--out", "{d}/o5"],
    ["export", "{d}/settings-latin1.json", "--out", "{d}/o6"],
    ["export", "{d}/good.json", "--out", "{d}/existing-file"],
    ["export", "{d}/a-directory.json", "--out", "{d}/o7"],
]


@pytest.mark.parametrize("argv", NONSENSE, ids=[" ".join(a)[:60] for a in NONSENSE])
def test_known_nonsense_is_refused_in_one_line(files, argv):
    check([a.replace("{d}", str(files)) for a in argv], files, must_refuse=True)


PARAMS = ["workload.rate_rps", "workload.spike_fraction", "workload.spike_factor", "service.workers",
          "service.mean_ms", "service.sigma", "network.rtt_ms", "network.loss_request", "client.timeout_ms",
          "client.max_retries", "client.backoff_ms", "snapshot.hit_ratio", "slo.target_ms", "slo.percentile",
          "buffer.window_min_ms", "buffer.window_max_ms", "buffer.capacity_max", "buffer.adjust_s",
          "buffer.topology.sample_ms", "breaker.failure_ratio", "breaker.open_ms", "breaker.min_calls",
          "fallback.deadline_ms", "service.load.gain", "warmup_s", "nonsense.field"]
VALUES = ["0", "-1", "1", "2", "0.5", "1e-9", "1e9", "1e308", "Infinity", "-Infinity", "NaN", "true", "\"x\"",
          "[1, 2]", "{}", "null", "3.7", "16", "200", "0.001"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(scenario=st.sampled_from(["db-down", "loss12", "tail-spike", "nope"]),
       policy=st.sampled_from(["mbb", "none", "hystrix", "mbb-concurrency", "nope"]),
       duration=st.sampled_from(["0.5", "1", "2", "0", "-1", "inf", "nan", "1e-300", "1e308", "x"]),
       seed=st.sampled_from(["1", "0", "-1", "2", "18446744073709551616", "x"]),
       sets=st.lists(st.tuples(st.sampled_from(PARAMS), st.sampled_from(VALUES)), max_size=3))
def test_simulate_never_crashes_hangs_or_runs_away(files, scenario, policy, duration, seed, sets):
    argv = ["simulate", "--scenario", scenario, "--policy", policy, "--duration", duration, "--seed", seed]
    for name, value in sets:
        argv += ["--set", f"{name}={value}"]
    code, out, _ = check(argv, files)
    if code == 0:  # what is accepted is something: a run that measured requests
        assert "requests" in out and "nan" not in out.split("requests", 1)[1].split("\n", 1)[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(doc=st.fixed_dictionaries({}, optional={
    "schema": st.sampled_from(["mbsim.settings/1", "mbsim.settings/2", 1]),
    "settings": st.one_of(st.just({}), st.just([]), st.just("x"),
                          st.fixed_dictionaries({}, optional={
                              "fallback": st.fixed_dictionaries({}, optional={
                                  "deadline_ms": st.sampled_from([5, 0, -1, 1e308, 60000.5, "5", None])}),
                              "buffer": st.fixed_dictionaries({}, optional={
                                  "window_max_ms": st.sampled_from([200, 1e308, -1, 10]),
                                  "capacity_max": st.sampled_from([256, 0, 10**12, 2.5])})})),
    "scenario": st.sampled_from(["tail-spike", 12345, None, ["x"]]),
    "provenance": st.sampled_from([{}, "a string", 5, None]),
    "slo": st.sampled_from([{}, {"target_ms": 10}, {"target_ms": 1e308}, {"percentile": 100}, []])}),
    name=st.sampled_from(["mbsim", "", "Bad Name!", "ok-name"]))
def test_export_never_crashes_or_writes_nonsense(files, doc, name):
    path = files / f"s{abs(hash(json.dumps(doc, sort_keys=True, default=str))) % 10**9}.json"
    path.write_text(json.dumps(doc, default=str))
    out = files / f"out-{path.stem}"
    code, _, _ = check(["export", str(path), "--out", str(out), f"--name={name}", "--no-object"], files)
    if code == 2:
        assert not out.exists()  # nothing written
