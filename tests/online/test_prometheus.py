"""A real Prometheus, started by the tests, scrapes the running controller; PromQL reads
the metrics back with their labels; the online tuner survives Prometheus stopping."""
import json
import math
import subprocess
import sys
import threading
import time

import pytest
from kernel_fixtures import needs_bpf, udp_rig

from mbsim.kernel.apply import Applied
from mbsim.kernel.rig import SERVER_ADDR
from mbsim.online.prometheus import LocalPrometheus, PrometheusUnavailable, PromQL
from mbsim.online.readings import read

pytestmark = [needs_bpf, pytest.mark.bpf]
UPSTREAM = f"{SERVER_ADDR}:7000"


@pytest.fixture
def rig():
    yield from udp_rig("mbp")


class Load(threading.Thread):
    """About ``rps`` requests a second from the rig's client, answers drained."""

    def __init__(self, rig, rps=500):
        super().__init__(daemon=True)
        self.rig, self.rps, self.halt, self.sent = rig, rps, threading.Event(), 0

    def run(self):
        while not self.halt.is_set():
            for _ in range(self.rps // 100):
                self.rig.client.send(self.sent % 60_000, 1 + self.sent % 100)
                self.sent += 1
            while self.rig.client.recv(0) is not None:
                pass
            time.sleep(0.01)

    def stop(self):
        self.halt.set()
        self.join(5)


@pytest.fixture
def running(rig, exported):
    """An apply with --metrics and its controller running, under load."""
    ap = Applied(exported / "out", rig.client_ns, rig.client_dev, UPSTREAM, exported / "snapshot.json",
                 metrics="127.0.0.1:0")
    with ap:
        stop = threading.Event()
        t = threading.Thread(target=ap.run, args=(None, stop.is_set), daemon=True)
        t.start()
        load = Load(rig)
        load.start()
        try:
            yield ap, load
        finally:
            load.stop()
            stop.set()
            t.join(5)


def test_prometheus_scrapes_the_controller_and_promql_reads_labels_and_units(running):
    ap, _ = running
    target = ap.controller.metrics_at
    with LocalPrometheus([target], scrape_s=0.25) as prom:
        time.sleep(2.0)
        q = PromQL(prom.url)
        passed = q.query('mbsim_decisions_total{decision="passed"}')
        assert len(passed) == 1 and passed[0][0]["job"] == "mbsim" and passed[0][1] > 100
        assert passed[0][1] <= ap.horn.decisions()["pass"]
        lat = q.query("sum by (terrain, mode) (mbsim_response_latency_seconds_count)")
        assert lat and lat[0][0]["mode"] == "aggressive" and lat[0][0]["terrain"] in ("spike", "sustained", "noisy")
        p50 = q.value("histogram_quantile(0.5, sum by (le) (rate(mbsim_response_latency_seconds_bucket[1s])))")
        assert 1e-5 < p50 < 5e-3  # seconds: a round trip on the rig is tens of us, far under the 5 ms deadline
        info = q.query("mbsim_settings_info")
        assert info[0][0]["buffer_capacity_max"] == "256" and info[0][0]["mode"] == "aggressive"
        assert q.value('mbsim_breaker_state{mbsim_breaker_state="closed"}') == 1
        assert 0.05 <= q.value("mbsim_window_seconds") <= 0.2
        assert q.value("mbsim_capacity_requests") == ap.controller.capacity
        assert q.value("mbsim_rate_limit_requests_per_second") == math.inf
        assert q.value("sum(mbsim_settings_changes_total)") == 0
        r = read(q, time.time() - 0.3, 1.0)
        assert r.offered == pytest.approx(500, rel=0.5) and r.unserved < 0.05 and r.p99_ms < 5


def test_promql_errors_are_one_line():
    with pytest.raises(PrometheusUnavailable, match="unreachable"):
        PromQL("http://127.0.0.1:9", timeout_s=0.5).value("up")


def test_prometheus_stopped_in_the_middle_of_a_study(running, rig):
    """`mbsim tune --online` with Prometheus stopped after its second trial: one line, the last
    good settings stay in force, exit 1 (the study cannot go on), a result on disk."""
    ap, _ = running
    with LocalPrometheus([ap.controller.metrics_at], scrape_s=0.25) as prom:
        out = ap.config_dir.parent / "online"
        p = subprocess.Popen([sys.executable, "-m", "mbsim", "tune", "--online", "--prometheus", prom.url,
                              "--netns", rig.client_ns, "--dev", rig.client_dev, "--budget", "8", "--trial-s", "1",
                              "--slo-ms", "5", "--give-up-s", "3", "--dims", "buffer.capacity_max",
                              "--out", str(out), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ap.controller.changes["proposal"] < 2:
            time.sleep(0.05)
        time.sleep(0.5)
        prom.stop()
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 1, stderr
    lines = [ln for ln in stderr.splitlines() if "unreachable" in ln]
    assert len(lines) == 1 and "keeping the last good settings" in lines[0]
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["stopped"] == "prometheus"
    doc = json.loads((out / summary["study"] / "result.json").read_text())
    good = [t for t in doc["trials"] if t["feasible"] and t["complete"]]
    want = good[-1]["params"]["buffer.capacity_max"] if good else 256
    assert ap.controller.s.buffer.capacity_max == want


def test_a_proposal_that_breaks_the_slo_is_rolled_back_on_the_running_horn(running, rig):
    """An SLO no window can meet (1 us) makes every proposal a bad one: each is rolled back
    within its first window, the study stops at its violation budget, and the settings the
    study started from are in force again - all counted by the controller."""
    ap, _ = running
    start_cap = ap.controller.s.buffer.capacity_max
    with LocalPrometheus([ap.controller.metrics_at], scrape_s=0.25) as prom:
        out = ap.config_dir.parent / "online-rollback"
        r = subprocess.run([sys.executable, "-m", "mbsim", "tune", "--online", "--prometheus", prom.url,
                            "--netns", rig.client_ns, "--dev", rig.client_dev, "--budget", "3", "--trial-s", "1",
                            "--slo-ms", "0.001", "--violation-budget", "2", "--dims", "buffer.capacity_max",
                            "--out", str(out), "--json"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        changes = PromQL(prom.url).query("mbsim_settings_changes_total")
    summary = json.loads(r.stdout)
    assert summary["stopped"] == "violations" and summary["rollbacks"] >= 1
    doc = json.loads((out / summary["study"] / "result.json").read_text())
    rollbacks = [e for e in doc["events"] if e["reason"] == "rollback"]
    assert all(e["after_window_s"] < 1.0 for e in rollbacks)  # within the window after the one that broke
    assert ap.controller.changes["rollback"] == len(rollbacks) and ap.controller.changes["stop"] == 1
    assert ap.controller.s.buffer.capacity_max == start_cap
    by_reason = {labels["reason"]: v for labels, v in changes}
    assert by_reason.get("rollback", 0) >= 1  # exported as a Prometheus event counter
