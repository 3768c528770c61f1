"""The horn and the dropper for real: namespaces, veth, a UDP server and a UDP client."""
import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from kernel_fixtures import UdpClient, UdpServer, as_nobody, needs_bpf
from scipy import stats as sps

from mbsim.errors import MbsimError
from mbsim.formats import wire as P
from mbsim.kernel import horn as H
from mbsim.kernel import netns, programs, tc
from mbsim.kernel.apply import Applied
from mbsim.kernel.rig import SERVER_ADDR, Rig

pytestmark = [needs_bpf, pytest.mark.bpf]
UPSTREAM = f"{SERVER_ADDR}:7000"


@pytest.fixture
def rig():
    with Rig(prefix="mbt") as r:
        server = UdpServer(r)
        server.start()
        client = UdpClient(r)
        r.server, r.client = server, client  # type: ignore[attr-defined]  # the concrete object's own attribute
        yield r
        client.close()
        server.stop()
    tc.detach_mine()


@pytest.fixture
def applied(rig, exported):
    logs: list[dict[str, Any]] = []
    with Applied(exported / "out", rig.client_ns, rig.client_dev, UPSTREAM, exported / "snapshot.json",
                 log=logs.append) as ap:
        ap.logs = logs  # type: ignore[attr-defined]  # the concrete object's own attribute
        yield ap


class Dropper:
    """The chaos dropper at the server's ingress (where loss must be injected)."""

    def __init__(self, rig, port=7000):
        self.b = programs.compile_dropper()
        self.fn = programs.sched_cls(self.b, "chaos_drop")
        self.cfg = self.b["drop_config"]
        self.port = port
        self.set(0)
        tc.attach(self.fn, rig.server_ns, rig.server_dev, "ingress", 48)

    def set(self, p=0.0, partition_s=0.0):
        v = self.cfg.Leaf()
        v.threshold = min(2 ** 32 - 1, round(p * 2 ** 32))
        v.port = self.port
        if partition_s:
            now = time.monotonic_ns()
            v.partition_start_ns, v.partition_end_ns = now, now + int(partition_s * 1e9)
        self.cfg[self.cfg.Key(0)] = v

    def stats(self):
        seen, dropped = (sum(self.b["drop_stats"].getvalue(self.b["drop_stats"].Key(k))) for k in (0, 1))
        return seen, dropped


def ask_all(client, n, first_id, key=lambda i: 1 + i % 100, fallback=False, timeout=0.5):
    return [client.ask(first_id + i, key(i), fallback=fallback, timeout=timeout) for i in range(n)]


def test_closed_requests_reach_the_server_and_are_matched(rig, applied):
    got = ask_all(rig.client, 300, 1)
    assert all(m is not None and not m.fallback and m.value == b"live:%d" % m.key for m in got)
    assert rig.server.received == 300
    horn = applied.horn
    deadline = time.monotonic() + 1
    while horn.in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert horn.in_flight() == 0
    assert horn.counter(H.C_PASSED) == 300 and horn.counter(H.C_DONE) == 300
    time.sleep(horn.slot_ns / 1e9 * 1.5)
    tot, _ = horn.read_slots(0, 2 ** 63)
    assert tot.count == 300 and tot.requests == 300 and tot.errors == 0 and tot.sum_us > 0


def test_forced_open_answers_everything_and_the_server_sees_nothing(rig, applied):
    applied.controller.force(H.OPEN)
    got = ask_all(rig.client, 500, 1000)
    assert all(m is not None and m.fallback and m.value == b"snap:%d" % m.key for m in got)
    assert rig.server.received == 0


def test_fallback_reasks_are_answered_locally(rig, applied):
    got = ask_all(rig.client, 200, 5000, fallback=True)
    assert all(m is not None and m.fallback and m.status == P.ST_OK for m in got)
    assert rig.server.received == 0
    miss = rig.client.ask(6000, 424242, fallback=True)
    assert miss.status == P.ST_NOT_FOUND and miss.fallback


def test_answer_is_queued_before_sendto_returns(rig, applied):
    applied.controller.force(H.OPEN)
    rig.client.send(7000, 5)
    data = rig.client.sock.recv(2048)  # non-blocking socket: raises if nothing is there yet
    assert P.parse(data).req_id == 7000


def test_dropper_loss_is_binomial(rig):
    p, n = 0.12, 10_000
    d = Dropper(rig)
    d.set(p)
    for i in range(n):
        rig.client.send(i + 1, 1)
        if i % 200 == 0:
            time.sleep(0.002)  # let the server drain its socket
    time.sleep(0.3)
    seen, dropped = d.stats()
    assert seen == n
    assert rig.server.received == n - dropped  # what the receiver got is what was not dropped
    lo, hi = sps.binom.interval(0.999, n, p)
    assert lo <= dropped <= hi, (dropped, lo, hi)


def test_partition_with_stale_arp_still_answered(rig, applied):
    """100 % loss at the server (ARP included). The client's neighbour entry is gone as if
    it had gone stale; the pin that apply made keeps the horn fed."""
    d = Dropper(rig)
    d.set(partition_s=30)
    assert rig.neigh() == "PERMANENT"
    netns.ip("neigh", "flush", "dev", rig.client_dev, netns=rig.client_ns, check=False)  # spares PERMANENT only
    lost = ask_all(rig.client, 20, 9000, timeout=0.05)
    assert all(m is None for m in lost)  # the partition is real
    reasks = ask_all(rig.client, 20, 9000, fallback=True)
    assert all(m is not None and m.fallback for m in reasks)
    applied.controller.force(H.OPEN)
    opened = ask_all(rig.client, 200, 10000)
    assert all(m is not None and m.fallback for m in opened)
    assert rig.server.received == 0


def test_without_the_pin_a_stale_entry_starves_the_horn(rig, exported):
    """Why apply pins the neighbour: TC egress runs after neighbour resolution."""
    horn = H.Horn(exported / "out", programs.Upstream(SERVER_ADDR, 7000))
    horn.events.open_ring_buffer(lambda *a: None)
    horn.attach(rig.client_ns, rig.client_dev)
    horn.set_config(H.OPEN, 256, 50_000)
    d = Dropper(rig)
    d.set(partition_s=30)
    netns.ip("neigh", "flush", "dev", rig.client_dev, netns=rig.client_ns, check=False)
    got = ask_all(rig.client, 5, 1, timeout=0.3)
    assert sum(m is not None for m in got) == 0


def test_controller_retunes_in_place_and_breaker_opens_on_errors(rig, exported):
    from dataclasses import replace

    from mbsim.kernel.controller import Controller
    from mbsim.mbb.breaker import BreakerSettings
    from mbsim.mbb.settings import MbbSettings

    horn = H.Horn(exported / "out", programs.Upstream(SERVER_ADDR, 7000))
    logs: list[dict[str, Any]] = []
    s = MbbSettings()
    s = replace(s, buffer=replace(s.buffer, adjust_s=0.3),
                breaker=BreakerSettings(kind="count", failure_threshold=5, open_ms=60_000))
    ctl = Controller(horn, s, logs.append)
    horn.attach(rig.client_ns, rig.client_dev)
    tc.pin_neighbour(rig.client_ns, rig.client_dev, SERVER_ADDR, rig.server_mac)
    stop = threading.Event()
    t = threading.Thread(target=ctl.run, args=(None, stop.is_set))
    t.start()
    try:
        ask_all(rig.client, 300, 1)
        time.sleep(0.5)
        # the controller writes the map, then logs the re-tune: read the map between two reads
        # of the log that agree, so that the map holds the last logged re-tune's values
        for _ in range(20):
            seen = len(logs)
            _state, capacity, window_us = horn.get_config()
            if len(logs) == seen:
                break
        tunes = [r for r in logs[:seen] if r["type"] == "tune"]
        assert tunes and any(r["responses"] > 0 for r in tunes)
        assert capacity == s.buffer.capacity(tunes[-1]["rps"]) and window_us == int(tunes[-1]["window_ms"] * 1000)
        rig.server.error = True
        ask_all(rig.client, 10, 1000)
        deadline = time.monotonic() + 2
        while horn.get_config()[0] != H.OPEN and time.monotonic() < deadline:
            time.sleep(0.01)
        assert horn.get_config()[0] == H.OPEN
        before = rig.server.received
        got = ask_all(rig.client, 50, 2000)
        assert all(m.fallback for m in got) and rig.server.received == before
        assert any(r["type"] == "state" and r["to"] == "open" for r in logs)
        assert tc.filters(rig.client_ns, rig.client_dev)  # still attached throughout
    finally:
        stop.set()
        t.join()


def _apply_cmd(rig, exported, *extra):
    return [sys.executable, "-m", "mbsim", "apply", str(exported / "out"), "--json", "--netns", rig.client_ns,
            "--dev", rig.client_dev, "--upstream", UPSTREAM, "--snapshot", str(exported / "snapshot.json"), *extra]


def _wait_attached(rig, want=True, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bool(list(tc.filters(rig.client_ns, rig.client_dev))) == want:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_apply_cli_streams_json_and_cleans_up_on_signal(rig, exported, sig):
    p = subprocess.Popen(_apply_cmd(rig, exported, "--log-decisions"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    head: list[str] = []
    try:
        while not head or head[-1]["type"] != "applied":  # both halves attached, neighbour pinned
            line = p.stdout.readline()
            assert line, p.stderr.read()
            head.append(json.loads(line))
        ask_all(rig.client, 20, 1)
        time.sleep(0.2)
        p.send_signal(sig)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    records = head + [json.loads(line) for line in out.splitlines()]
    assert records[0]["type"] in ("applied", "cleanup")
    decisions = [r for r in records if r["type"] == "decision"]
    assert {"pass", "response"} <= {r["decision"] for r in decisions}
    assert records[-1]["type"] == "detached"
    assert not list(tc.filters(rig.client_ns, rig.client_dev))
    assert rig.neigh() != "PERMANENT"


def test_after_sigkill_detach_removes_the_leftovers(rig, exported):
    p = subprocess.Popen(_apply_cmd(rig, exported), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert _wait_attached(rig)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    assert list(tc.filters(rig.client_ns, rig.client_dev))  # left behind
    r = subprocess.run([sys.executable, "-m", "mbsim", "detach"], capture_output=True, text=True)
    assert r.returncode == 0 and "removed" in r.stdout
    assert not list(tc.filters(rig.client_ns, rig.client_dev))


def test_refuses_host_interface_and_bad_inputs_before_attaching(rig, exported, tmp_path):
    with pytest.raises(MbsimError, match="host's root namespace"):
        Applied(exported / "out", None, "lo", UPSTREAM, exported / "snapshot.json")
    bad = tmp_path / "snap.json"
    bad.write_text('{"schema": "mbsim.snapshot/1", "entries": {"1": "' + "x" * 65 + '"}}')
    r = subprocess.run([*_apply_cmd(rig, exported)[:-2], "--snapshot", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "at most 64" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*_apply_cmd(rig, exported), "--upstream", "nonsense"], capture_output=True, text=True)
    assert r.returncode == 2 and "IPV4:PORT" in r.stderr
    assert not list(tc.filters(rig.client_ns, rig.client_dev))


def test_without_root_one_line(tmp_path, exported):
    r = as_nobody(["apply", str(exported / "out"), "--dev", "lo", "--upstream", UPSTREAM,
                   "--snapshot", str(exported / "snapshot.json")], str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "needs root" in r.stderr
