"""``mbsim bench bpf``: what the horn costs per packet, and what its answer saves the client.

* ``BPF_PROG_TEST_RUN``: the answer path rewrites the packet, so a repeated run would
  see its own answer; every figure here is therefore the kernel-measured duration of
  single runs, averaged. The same is measured for an empty TC program, whose figure is
  the fixed cost of a run; ``*_net_ns`` subtracts it. The pass path leaves the packet
  alone, so it is also measured with ``repeat``.
* live: the kernel's own statistics (``kernel.bpf_stats_enabled``: run time / run
  count) while a real client in the rig sends requests, CLOSED (passed to the server)
  and then OPEN (answered by the horn); and the client's round trip in both phases.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mbsim.deploy.export import export
from mbsim.deploy.settings_file import SettingsFile
from mbsim.deploy.snapshot_file import Entry
from mbsim.kernel import horn as H
from mbsim.kernel import prog_stats as stats
from mbsim.kernel import programs, tc, testrun
from mbsim.kernel import wire as P
from mbsim.kernel.rig import CLIENT_ADDR, SERVER_ADDR, Rig, UdpClient, UdpServer


def _single_runs(fd: int, frame: bytes, runs: int, drain=None) -> float:
    total = 0
    for k in range(runs):
        total += testrun.run(fd, frame).duration_ns
        if drain is not None and k % 512 == 0:
            drain()
    return total / runs


def _request_frame(key: int) -> bytes:
    return P.udp_frame(P.mac("02:00:00:00:00:01"), P.mac("02:00:00:00:00:02"), P.ip4(CLIENT_ADDR),
                       P.ip4(SERVER_ADDR), 40000, 7000, P.request(1, key))


def test_run_costs(horn: H.Horn, runs: int) -> dict[str, float]:
    frame = _request_frame(42)
    rb = horn.bpf["events"]
    rb.open_ring_buffer(lambda *a: None)
    drain = horn.bpf.ring_buffer_consume
    horn.set_config(H.OPEN, 1 << 30, 50_000)
    answer = _single_runs(horn.egress.fd, frame, runs, drain)
    assert testrun.run(horn.egress.fd, frame).retval == 7  # TC_ACT_REDIRECT: really the answer path
    horn.set_config(H.CLOSED, (1 << 31) - 1, 50_000)
    passed = _single_runs(horn.egress.fd, frame, runs, drain)
    pass_repeat = testrun.run(horn.egress.fd, frame, repeat=runs).duration_ns
    drain()
    empty_obj = programs.compile_empty()
    empty = programs.sched_cls(empty_obj, "empty")
    empty_single = _single_runs(empty.fd, frame, runs)
    empty_repeat = testrun.run(empty.fd, frame, repeat=runs).duration_ns
    return {
        "answer_ns_per_packet": answer,
        "pass_ns_per_packet": passed,
        "empty_ns_per_packet": empty_single,
        "answer_net_ns_per_packet": answer - empty_single,
        "pass_net_ns_per_packet": passed - empty_single,
        "answer_ratio_to_empty": answer / empty_single,
        "pass_ratio_to_empty": passed / empty_single,
        "pass_ns_per_packet_repeat": float(pass_repeat),
        "empty_ns_per_packet_repeat": float(empty_repeat),
        "pass_ratio_to_empty_repeat": pass_repeat / max(1, empty_repeat),
    }


def _phase(horn: H.Horn, client: UdpClient, state: int, packets: int, first_id: int) -> dict[str, Any]:
    horn.set_config(state, 1 << 20, 50_000)
    before = {n: stats.run_stats(p.fd) for n, p in (("egress", horn.egress), ("ingress", horn.ingress))}
    rtts = []
    answered = fallback = 0
    for i in range(packets):
        t0 = time.perf_counter_ns()
        m = client.ask(first_id + i, 42, timeout=0.5)
        rtts.append((time.perf_counter_ns() - t0) / 1e3)
        if m is not None:
            answered += 1
            fallback += m.fallback
        horn.bpf.ring_buffer_consume()
    out: dict[str, Any] = {"answered": answered, "from_snapshot": fallback,
                           "rtt_p50_us": float(np.percentile(rtts, 50)), "rtt_p99_us": float(np.percentile(rtts, 99))}
    for name, prog in (("egress", horn.egress), ("ingress", horn.ingress)):
        t1, n1 = stats.run_stats(prog.fd)
        t0_, n0 = before[name]
        out[f"{name}_runs"] = n1 - n0
        out[f"{name}_ns_per_run"] = (t1 - t0_) / (n1 - n0) if n1 > n0 else float("nan")
    return out


def live_costs(config_dir: Path, packets: int) -> dict[str, Any]:
    with Rig(prefix="mbb") as rig:
        server = UdpServer(rig)
        server.start()
        client = UdpClient(rig)
        horn = H.Horn(config_dir, programs.Upstream(SERVER_ADDR, 7000))
        horn.load_snapshot([Entry(42, b"bench value")])
        horn.bpf["events"].open_ring_buffer(lambda *a: None)
        try:
            horn.attach(rig.client_ns, rig.client_dev)
            tc.pin_neighbour(rig.client_ns, rig.client_dev, SERVER_ADDR, rig.server_mac)
            with stats.enabled():
                closed = _phase(horn, client, H.CLOSED, packets, 1)
                opened = _phase(horn, client, H.OPEN, packets, 10 ** 6)
        finally:
            tc.detach_mine()
            client.close()
            server.stop()
    return {
        "live_pass_ns_per_packet": closed["egress_ns_per_run"],
        "live_response_ns_per_packet": closed["ingress_ns_per_run"],
        "live_answer_ns_per_packet": opened["egress_ns_per_run"],
        "rtt_server_p50_us": closed["rtt_p50_us"],
        "rtt_server_p99_us": closed["rtt_p99_us"],
        "rtt_kernel_p50_us": opened["rtt_p50_us"],
        "rtt_kernel_p99_us": opened["rtt_p99_us"],
        "rtt_ratio_server_to_kernel": closed["rtt_p50_us"] / opened["rtt_p50_us"],
        "closed_phase": closed,
        "open_phase": opened,
    }


def bench_bpf(runs: int = 20000, packets: int = 2000, live: bool = True) -> dict[str, Any]:
    programs.require_bpf()
    with tempfile.TemporaryDirectory() as tmp:
        SettingsFile().write(Path(tmp) / "settings.json")
        export(Path(tmp) / "settings.json", Path(tmp) / "out")
        horn = H.Horn(Path(tmp) / "out", programs.Upstream(SERVER_ADDR, 7000))
        horn.load_snapshot([Entry(42, b"bench value")])
        out: dict[str, Any] = {"runs": runs, **test_run_costs(horn, runs), "goal_answer_ns": 200}
        if live:
            out.update({"packets": packets, **live_costs(Path(tmp) / "out", packets)})
    return out


