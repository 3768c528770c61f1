"""Settings put in force while the horn runs: whole (one flip), at once, and the watermark
loop's rate limit enforced in the kernel."""
import threading
import time
from typing import Any

import pytest
from kernel_fixtures import needs_bpf, udp_rig

from mbsim.kernel import control, tc
from mbsim.kernel import horn as H
from mbsim.kernel.apply import Applied
from mbsim.kernel.rig import SERVER_ADDR
from mbsim.mbb.settings import MbbSettings
from mbsim.params import override, to_dict

pytestmark = [needs_bpf, pytest.mark.bpf]
UPSTREAM = f"{SERVER_ADDR}:7000"


@pytest.fixture
def rig():
    yield from udp_rig("mbh")


def applied(rig, exported, **kw):
    return Applied(exported / "out", rig.client_ns, rig.client_dev, UPSTREAM, exported / "snapshot.json", **kw)


def test_a_hot_update_changes_the_next_packet_s_decision(rig, exported):
    """Through the control socket, as the online tuner does: capacity 2 in force, the third
    request in flight is answered from the snapshot, with no detach in between."""
    rig.server.delay_s = 0.3  # answers held: requests stay in flight
    with applied(rig, exported) as ap:
        stop = threading.Event()
        t = threading.Thread(target=ap.run, args=(None, stop.is_set), daemon=True)
        t.start()
        try:
            filters = tc.filters(rig.client_ns, rig.client_dev)
            for i in range(3):
                rig.client.send(100 + i, 1 + i)
            got = [rig.client.recv(0.1) for _ in range(3)]
            assert not any(m is not None and m.fallback for m in got)  # 256 in force: all three passed
            time.sleep(1.0)
            while rig.client.recv(0.05) is not None:
                pass
            small = override(MbbSettings(), {"buffer.capacity_min": 2, "buffer.capacity_max": 2})
            reply = control.request(rig.client_ns, rig.client_dev,
                                    {"op": "set", "settings": to_dict(small), "reason": "proposal"})
            assert reply["ok"] and reply["gen"] > 1
            assert ap.horn.get_config()[1] == 2
            before = ap.horn.decisions()["answer_capacity"]
            for i in range(3):
                rig.client.send(200 + i, 1 + i)
            m = rig.client.recv(0.05)  # the snapshot's answer comes back first, at once
            assert m is not None and m.fallback and m.req_id == 202 and m.value == b"snap:3"
            assert ap.horn.decisions()["answer_capacity"] == before + 1
            assert tc.filters(rig.client_ns, rig.client_dev) == filters  # nothing detached or swapped
            state = control.request(rig.client_ns, rig.client_dev, {"op": "get"})
            assert state["capacity"] == 2 and state["changes"] == {"proposal": 1}
        finally:
            stop.set()
            t.join(5)


def test_settings_that_change_a_compiled_constant_are_refused_and_nothing_changes(rig, exported):
    with applied(rig, exported) as ap:
        gen = ap.horn.gen
        other = override(MbbSettings(), {"fallback.deadline_ms": 9.0})
        reply = control.ControlServer.answer(ap.controller, b'{"op": "set", "settings": %s}' %
                                             __import__("json").dumps(to_dict(other)).encode())
        assert not reply["ok"] and "MBB_DEADLINE_NS" in reply["error"] and "export and apply" in reply["error"]
        assert ap.horn.gen == gen
        bad = control.ControlServer.answer(ap.controller, b'{"op": "set", "settings": {"buffer": {"nope": 1}}}')
        assert not bad["ok"] and "unknown parameter settings.buffer.nope" in bad["error"]


def test_no_packet_is_decided_with_half_old_half_new_settings(rig, exported):
    """Under load, the settings flip thousands of times between capacity 0 (every request
    answered for capacity) and 10^6 (every request passed). Each decision carries the
    generation of the setting it read: a pass under a capacity-0 generation, or an answer
    under a 10^6 one, would be a packet that saw half of each."""
    log: list[dict[str, Any]] = []
    with applied(rig, exported, log_decisions=True, log=log.append) as ap:
        horn = ap.horn
        cap_of: dict[int, int] = {}
        stop = threading.Event()

        def flip():
            k = 0
            while not stop.is_set():
                cap = 0 if k % 2 else 1_000_000
                cap_of[horn.set_config(H.CLOSED, cap, 50_000) & 0xFFFFFFFF] = cap
                k += 1

        flipper = threading.Thread(target=flip, daemon=True)
        flipper.start()
        sent = 0
        try:
            t_end = time.monotonic() + 3.0
            while time.monotonic() < t_end:
                for _ in range(50):
                    rig.client.send(sent % 60_000, 1 + sent % 100)
                    sent += 1
                while rig.client.recv(0) is not None:
                    pass
                horn.bpf.ring_buffer_consume()
                time.sleep(0.002)
        finally:
            stop.set()
            flipper.join(5)
        time.sleep(0.3)
        horn.bpf.ring_buffer_consume()
    decided = [r for r in log if r.get("type") == "decision" and r["decision"] in ("pass", "answer_capacity")]
    flips = len(cap_of)
    assert flips > 2000 and len(decided) > 2000, (flips, len(decided))
    both = {cap_of[r["cfg_gen"]] for r in decided if r["cfg_gen"] in cap_of}
    assert both == {0, 1_000_000}  # the load really saw both settings
    mixed = [r for r in decided if r["cfg_gen"] in cap_of and
             (r["decision"] == "pass") != (cap_of[r["cfg_gen"]] == 1_000_000)]
    assert mixed == []


@pytest.mark.parametrize("refuse", [False, True])
def test_the_rate_limit_is_enforced_per_slot_in_the_kernel(rig, exported, refuse):
    with applied(rig, exported) as ap:
        horn = ap.horn
        horn.set_config(H.CLOSED, 1_000, 50_000, rate_per_slot=3, refuse_over_rate=refuse)
        before = horn.decisions()
        t0 = time.monotonic_ns()
        for i in range(20):
            rig.client.send(500 + i, 1 + i)
        took = time.monotonic_ns() - t0
        time.sleep(0.3)
        got = []
        while (m := rig.client.recv(0.05)) is not None:
            got.append(m)
        d = {k: v - before[k] for k, v in horn.decisions().items()}
        slots = 1 + took // horn.slot_ns + 1  # the burst spans at most this many slots
        assert 3 <= d["pass"] <= 3 * slots
        over = "refuse_rate" if refuse else "answer_rate"
        assert d["pass"] + d[over] == 20
        live = [m for m in got if not m.fallback]
        assert len(live) == d["pass"]
        assert len(got) == (d["pass"] if refuse else 20)  # a refused request gets no answer
        horn.set_config(H.CLOSED, 1_000, 50_000, rate_per_slot=0)
        assert rig.client.ask(900, 7) is not None and not rig.client.ask(901, 8).fallback
