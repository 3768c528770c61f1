"""The verification testbed for real, shortened for CI: every scenario under every arm in
namespaces, the open loop under a stalled server, the gates against broken generators,
calibration from measurement to simulator, teardown, and bad input."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from kernel_fixtures import as_nobody, needs_bpf

from mbsim import machine
from mbsim.engine.simulate import simulate
from mbsim.formats.settings_file import SettingsFile
from mbsim.kernel import netns, tc
from mbsim.verify import calibrate, gates, measure, predict
from mbsim.verify import run as verify_run
from mbsim.verify.arms import ARMS
from mbsim.verify.testbed import Testbed
from mbsim.world import catalog
from mbsim.world.client import Client
from mbsim.world.faults import Faults
from mbsim.world.scenario import Scenario

pytestmark = [needs_bpf, pytest.mark.bpf]


def short(name: str, duration: float = 3.5) -> Scenario:
    """A built-in scenario in 3.5 s, its fault moved to 1.5-2.5 s."""
    sc = catalog.get(name)
    f = sc.faults
    if f.down:
        f = dataclasses.replace(f, down=((1.5, 2.5),))
    if f.partitions:
        f = dataclasses.replace(f, partitions=((1.5, 2.5),))
    w = sc.workload
    if w.spike_windows:
        w = dataclasses.replace(w, spike_windows=((1.5, 2.0, 4.0),))
    return dataclasses.replace(sc, duration_s=duration, warmup_s=0.5, faults=f, workload=w)


@pytest.fixture(scope="module")
def testbed():
    with Testbed() as tb:
        yield tb


def window(raw: Any, sc: Scenario) -> tuple[int, int]:
    return raw.t0_ns + int(sc.warmup_s * 1e9), raw.t0_ns + int(sc.duration_s * 1e9)


def late_share(raw: Any, o: measure.Outcomes, deadline_ms: float) -> float:
    """Of the requests whose first attempt was answered live, the share answered after the
    deadline: on a quiet machine none (the service takes ~1 ms), on a stalled one many."""
    a = raw.arrays
    first = a["live"][0::4]
    ok = (first > 0) & o.in_window
    return float(np.mean(first[ok] - a["planned"][ok] > deadline_ms * 1e6)) if ok.any() else 0.0


@pytest.mark.parametrize("name", ["loss12", "db-down", "tail-spike", "partition"])
def test_every_scenario_runs_end_to_end_under_every_arm(testbed, name):
    sc = short(name)
    out = {}
    late_p99_us: dict[str, float] = {}
    slow = 0.0
    for arm in ARMS.values():
        deadline = 5.0 if arm.deadline else None
        # what is asserted below holds whatever the generator's gates say (they are checked to
        # be there; the horn's latency is read from the actual send): a run is repeated only
        # when a VM stall made loss12's breaker open
        for _attempt in range(3):
            raw = testbed.run(sc, arm, seed=1)
            o = measure.outcomes(raw, deadline)
            gs, thin = gates.check(o, raw.arrays["planned"], *window(raw, sc), sc.workload.constant)
            m = measure.metrics(raw, deadline, thin)
            # a VM stall times out everything in flight at once, and the horn's breaker opens on
            # that burst although nothing is down: the snapshot then answers more than the
            # identity below allows, so such a run is repeated (the breaker arm's openings under
            # loss alone are chance - the dropper's losses are the kernel's own draws - and
            # nothing below depends on them)
            stalled = name == "loss12" and arm.name == "horn" and m["transitions_to_open"] > 0
            if name == "loss12" and arm.deadline:
                slow = late_share(raw, o, 5.0)
            if not stalled:
                break
        assert m["requests"] > 0.9 * sc.workload.rate_rps * (sc.duration_s - sc.warmup_s) * 0.95
        assert m["unresolved"] < 0.01 * len(raw.arrays["planned"])
        assert {g.name for g in gs} == {"rate", "arrivals", "lateness", "independence"}
        p = predict.predict(sc, arm, SettingsFile().settings, 1, None)
        assert p["requests"] > 0
        out[arm.name] = m
        w = (raw.arrays["planned"] >= window(raw, sc)[0]) & (raw.arrays["planned"] < window(raw, sc)[1])
        late_p99_us[arm.name] = float(np.percentile(o.lateness_ns[w], 99)) / 1e3
    # what the arms are for, measured: the horn answers everything, the others do not always
    assert out["horn"]["success_ratio"] >= 0.999
    if name in ("db-down", "partition"):
        assert out["none"]["success_ratio"] < 0.95
        assert out["horn"]["fallback_ratio"] > 0.1
        # the horn's P99 within 1 ms of its 5 ms deadline needs a client whose timers keep time
        # (the deadline is the sender's timer): under a CPU hog they run milliseconds late
        from_send = out["horn"]["percentiles_uncorrected"]["p99"].value  # ms, from the actual send
        if late_p99_us["horn"] > 500:
            pytest.skip(f"machine too busy for the client's deadline timer: its lateness p99 {late_p99_us['horn']:.0f} "
                        f"us (limit 500); the horn's P99 {from_send:.2f} ms")
        assert from_send < 6.0, from_send
    if name == "loss12":
        # the horn answers exactly what the live path did not answer by the deadline: a request
        # or answer lost (12 % each way), or an answer later than 5 ms (the service's own tail,
        # and on a busy machine its stalls: measured in the same run)
        lost = 1 - 0.88 ** 2
        assert out["horn"]["fallback_ratio"] == pytest.approx(lost + (1 - lost) * slow, abs=0.015), slow


def test_the_plain_service_matches_its_prediction(testbed):
    """At 31 % load with no fault, the testbed's P50 from the actual send is the realized-send
    prediction's within 10 % (one run). Needs a server whose timers keep time (median answer
    lateness under 50 us, 5 % of the 1 ms service): under a CPU hog they do not, and the
    test skips with the figure."""
    sc = dataclasses.replace(catalog.get("loss12"), duration_s=4.0, warmup_s=1.0,
                             network=dataclasses.replace(catalog.get("loss12").network, loss_request=0.0,
                                                         loss_response=0.0))
    raw = testbed.run(sc, ARMS["none"], seed=3)
    o = measure.outcomes(raw, None)
    m = measure.metrics(raw, None)
    assert m["success_ratio"] == pytest.approx(1.0, abs=1e-4)
    late_us = float(np.median(raw.server["answer_lateness_ns"])) / 1e3
    if late_us > 50:
        pytest.skip(f"machine too busy for the server's timers: median answer lateness {late_us:.0f} us (limit 50)")
    cal = {"base_rtt_us": {"mean": 60.0}, "kernel_answer_us": {"samples": [5.0]}, "user_answer_us": {"samples": [50.0]}}
    p = predict.predict(sc, ARMS["none"], SettingsFile().settings, 3, cal,
                        arrivals_s=verify_run.realized_arrivals(raw, o))
    assert m["percentiles_uncorrected"]["p50"].value == pytest.approx(p["p50_ms"], rel=0.10)


def test_the_generator_stays_open_loop_when_the_server_stalls(testbed):
    sc = dataclasses.replace(catalog.get("loss12"), duration_s=3.0, warmup_s=0.5,
                             network=dataclasses.replace(catalog.get("loss12").network, loss_request=0.0,
                                                         loss_response=0.0),
                             workload=dataclasses.replace(catalog.get("loss12").workload, rate_rps=2000.0),
                             client=Client(timeout_ms=2000.0, max_retries=0))
    stall_at, stall = 1.5, 0.2
    for _attempt in range(3):
        # a stall of the VM itself (one run in CI sent a few requests 0.4 s late) is repeated, as
        # mbsim verify repeats a run whose gates fail; a closed-loop generator fails every attempt
        raw = testbed.run(sc, ARMS["none"], seed=4, stall=(stall_at, stall))
        o = measure.outcomes(raw, None)
        planned_s = (raw.arrays["planned"] - raw.t0_ns) / 1e9
        during = (planned_s >= stall_at + 0.005) & (planned_s < stall_at + stall - 0.02)
        if np.percentile(o.lateness_ns[during], 99) < 100_000:
            break
    assert during.sum() > 200
    # the schedule held: sends went out on time while the server was frozen. A closed-loop
    # generator sends nothing until the stall ends: its median lateness here is ~100 ms and
    # most sends are late by more than 10 ms, on any machine
    late = during & (o.lateness_ns > 100_000)
    lateness = o.lateness_ns[during]
    assert np.median(lateness) < 1_000_000 and np.mean(lateness > 10_000_000) < 0.05, (
        raw.health, planned_s[late][:3], planned_s[late][-3:])
    # on time to 100 us (p99) needs a quiet machine: a host stall of a few ms (seen in CI) delays
    # the sends it covers; what the machine did outside the server's stall says which it was
    outside = (planned_s > 0.6) & ~((planned_s >= stall_at - 0.05) & (planned_s < stall_at + stall + 0.05))
    noise_us = float(np.percentile(o.lateness_ns[outside], 99)) / 1e3
    if noise_us < 100:
        assert np.percentile(lateness, 99) < 100_000, (raw.health, planned_s[late][:3], planned_s[late][-3:])
    # and those requests waited for the stall: latency about (stall end - planned send)
    expect = stall_at + stall - planned_s[during]
    got = o.latency_s[during]
    assert np.all(got >= expect - 0.01) and np.median(got - expect) < 0.02
    before = (planned_s > 0.6) & (planned_s < stall_at - 0.1)
    assert np.median(o.latency_s[before]) < 0.005


@pytest.mark.parametrize("broken", [{"closed_loop": True}, {"lag_ns": 60_000}], ids=["closed-loop", "lagging"])
def test_the_gates_catch_a_broken_generator(testbed, broken):
    sc = short("loss12", 2.5)
    raw = testbed.run(sc, ARMS["none"], seed=5, **broken)
    o = measure.outcomes(raw, None)
    gs, _ = gates.check(o, raw.arrays["planned"], *window(raw, sc), True)
    assert not gates.passed(gs), [g.as_dict() for g in gs]


def test_a_normal_run_passes_its_gates_where_the_machine_allows_it(testbed):
    """Needs a quiet machine: the gates read this machine's scheduling (lateness p99 <= 25 us;
    a send held 100 us or more also bends the arrival gaps). Up to three runs. If every run
    that failed was measured noisy (lateness p99 over its limit, or a send held 100 us or
    more), the test skips with those figures; a failure on a quiet run fails."""
    sc = short("loss12", 2.5)
    seen = []
    for _attempt in range(3):
        good = testbed.run(sc, ARMS["none"], seed=5)
        o = measure.outcomes(good, None)
        start, end = window(good, sc)
        gs, _ = gates.check(o, good.arrays["planned"], start, end, True)
        if gates.passed(gs):
            return
        w = (good.arrays["planned"] >= start) & (good.arrays["planned"] < end)
        late_us = o.lateness_ns[w] / 1e3
        p99, worst = float(np.percentile(late_us, 99)), float(late_us.max())
        failed = [g.name for g in gs if not g.passed]
        # noisy: over the p99 limit, or sends held 100 us or more (four times the limit): a few
        # such bent gaps are enough for the arrivals test on 1,000 gaps to refuse the run
        noisy = p99 > gates.LATENESS_P99_US or worst > 100.0
        seen.append((failed, p99, worst, noisy))
        assert noisy, f"a quiet run (lateness p99 {p99:.0f} us, max {worst:.0f} us) failed {failed}"
    pytest.skip("machine too noisy for the gates: " + "; ".join(
        f"run {k + 1} failed {', '.join(f)} with lateness p99 {p:.0f} us (limit {gates.LATENESS_P99_US:g}), "
        f"max {m:.0f} us" for k, (f, p, m, _n) in enumerate(seen)))


def test_calibration_is_measured_stored_and_fed_to_the_simulator(tmp_path):
    doc = calibrate.calibrate(rounds=100, duration_s=1.5)
    path = calibrate.save(doc, tmp_path / "cal.json")
    back = calibrate.load(path)
    assert back["provenance"]["kernel"] and back["kernel_to_user_p50_ratio"] > 1
    assert machine.differs(back["machine"]) is None  # it records this machine and boot
    for key in ("base_rtt_us", "kernel_answer_us", "user_answer_us", "generator_lateness_us"):
        assert back[key]["n"] > 100 and back[key]["p50"] >= 0
    sc = calibrate.apply(catalog.get("db-down"), back, "horn")
    assert sc.network.rtt_ms == pytest.approx(back["base_rtt_us"]["mean"] / 1e3)
    assert list(sc.snapshot.latency_samples_us) == back["kernel_answer_us"]["samples"]
    assert list(sc.network.rtt_samples_us) == back["base_rtt_us"]["samples"]  # each attempt draws one
    r = simulate(sc, policy="horn", seed=1, duration_s=6)
    assert r["fallback_ratio"] > 0.1  # the simulator ran on the measured constants
    (tmp_path / "broken.json").write_text(json.dumps({**back, "kernel_answer_us": {"samples": []}}))
    with pytest.raises(Exception, match="no usable samples"):
        calibrate.load(tmp_path / "broken.json")


# constants of this machine's own (so verify uses them and measures nothing first)
FAKE_CALIBRATION = {"schema": calibrate.SCHEMA, "base_rtt_us": {"mean": 60.0, "samples": [60.0]},
                    "kernel_answer_us": {"samples": [5.0]}, "user_answer_us": {"samples": [50.0]},
                    "machine": machine.identity(), "testbed": {"pm_qos_us": 0}}


def _ours():
    return [ns for ns in os.listdir("/var/run/netns") if ns.startswith("mbv")] if os.path.isdir("/var/run/netns") \
        else []


def _scenario_file(tmp_path):
    sc = dataclasses.replace(short("db-down", 3.0), name="ci-db-down")
    from mbsim.params import to_dict
    path = tmp_path / "ci.json"
    path.write_text(json.dumps(to_dict(sc)))
    return path


def test_teardown_leaves_nothing_after_a_run_and_after_sigkill(tmp_path):
    before = set(_ours())
    cmd = [sys.executable, "-m", "mbsim", "verify", "--scenario", str(_scenario_file(tmp_path)), "--arms", "horn",
           "--no-pinning-check", "--out", str(tmp_path / "out"), "--json", "--calibration", str(tmp_path / "none.json"),
           "--reps", "1"]
    calibrate.save(FAKE_CALIBRATION,
                   tmp_path / "none.json")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    horn = doc["scenarios"]["ci-db-down"]["horn"]
    assert "p99_99" in horn["measured"] and "error" in horn["p99"] and len(horn["runs"]) == 1
    assert "calibrating" not in r.stderr  # the calibration given is this machine's
    assert (tmp_path / "out" / "verification.json").is_file() and (tmp_path / "out" / "ci-db-down-cdf.png").is_file()
    assert set(_ours()) == before and not tc.snapshot()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(_ours()) == before:
        time.sleep(0.1)
    time.sleep(1.5)  # mid-run: the horn attached, the processes running
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    left = set(_ours()) - before
    assert left  # SIGKILL leaves the namespaces behind...
    time.sleep(0.5)  # ...and its children die with it (PR_SET_PDEATHSIG)
    r = subprocess.run([sys.executable, "-m", "mbsim", "detach"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert set(_ours()) == before and not tc.snapshot()
    assert not any(netns.exists(ns) for ns in left)


def test_sigterm_tears_down_a_running_verification(tmp_path):
    before = set(_ours())
    calibrate.save(FAKE_CALIBRATION,
                   tmp_path / "c.json")
    p = subprocess.Popen([sys.executable, "-m", "mbsim", "verify", "--scenario", str(_scenario_file(tmp_path)),
                          "--arms", "horn", "--no-pinning-check", "--out", "-", "--calibration",
                          str(tmp_path / "c.json"), "--reps", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(_ours()) == before:
        time.sleep(0.1)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert set(_ours()) == before and not tc.snapshot()


@pytest.mark.parametrize("args, message", [
    (["--scenario", "nowhere"], "unknown scenario 'nowhere'"),
    (["--arms", "horn,cape"], "unknown arm 'cape'"),
    (["--retries", "99"], "--retries: must be in [0, 10], got 99"),
])
def test_bad_input_is_one_line(args, message):
    r = subprocess.run([sys.executable, "-m", "mbsim", "verify", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_settings_that_fail_validation_are_one_line(tmp_path):
    (tmp_path / "s.json").write_text('{"schema": "mbsim.settings/1", "settings": {"fallback": {"deadline_ms": -2}}}')
    r = subprocess.run([sys.executable, "-m", "mbsim", "verify", "--settings", str(tmp_path / "s.json")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "fallback.deadline_ms must be in [0.001, 60,000], got -2" in r.stderr


def test_without_root_it_says_so_and_that_the_simulator_works(tmp_path):
    r = as_nobody(["verify", "--scenario", "db-down"], str(tmp_path))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "needs root" in r.stderr and "mbsim simulate" in r.stderr


def test_unused_faults_helper_is_consistent():
    assert short("db-down").faults.down == ((1.5, 2.5),) and isinstance(short("loss12").faults, Faults)
