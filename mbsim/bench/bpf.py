"""``mbsim bench bpf``: what the horn costs per packet, and what its answer saves the client.

* ``BPF_PROG_TEST_RUN``: the answer path rewrites the packet, so a repeated run would
  see its own answer; every figure here is therefore the kernel-measured duration of
  single runs, in many short rounds that interleave every program with an empty TC
  program measured the same way (its figure is the fixed cost of a run). The goal is a
  ratio, not nanoseconds: the answer path at most 3x the empty program, read as the median
  of the rounds' paired ratios with its interval (``answer_ratio``); an interval wider
  than 20 % of the ratio gives no verdict. The pass path leaves
  the packet alone, so it is also measured with ``repeat``.
* the breakdown: the same source built with the answer path cut short at each stage
  (``MBB_BENCH_CUT``, bpf/mbb_horn.c): what parsing and the decision, the snapshot
  lookup, growing the packet, writing the answer, the checksums and the decision counter
  with the redirect each add; and what the decision log (a ring-buffer record per
  answer, ``mbsim apply --log-decisions``) adds.
* live: the kernel's own statistics (``kernel.bpf_stats_enabled``: run time / run
  count) while a client sends requests on the verification's testbed (its rig, its
  server, the horn applied with its controller), CLOSED (passed to the server) and then
  held OPEN (answered by the horn); and the client's round trip in both phases.
"""
from __future__ import annotations

import argparse
import ctypes
import math
import multiprocessing as mp
import select
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mbsim import exclusive
from mbsim.argtypes import count
from mbsim.deploy.export import export
from mbsim.formats import wire as P
from mbsim.formats.settings_file import SettingsFile
from mbsim.formats.snapshot_file import Entry, tail_sum
from mbsim.kernel import horn as H
from mbsim.kernel import prog_stats, programs, testrun
from mbsim.kernel.rig import CLIENT_ADDR, SERVER_ADDR
from mbsim.metrics import intervals
from mbsim.verify import calibrate, proc
from mbsim.verify.arms import ARMS
from mbsim.verify.client import client_socket
from mbsim.verify.testbed import PORT, Testbed

STAGES = ("parse and decide", "snapshot lookup", "grow the packet", "write the answer", "checksums",
          "count, mark and redirect")
VALUE = b"bench value"


def _single_runs(fd: int, frame: bytes, runs: int, drain: Any=None) -> float:
    total = 0
    for k in range(runs):
        total += testrun.run(fd, frame).duration_ns
        if drain is not None and k % 512 == 0:
            drain()
    return total / runs


def _request_frame(key: int) -> bytes:
    return P.udp_frame(P.mac("02:00:00:00:00:01"), P.mac("02:00:00:00:00:02"), P.ip4(CLIENT_ADDR),
                       P.ip4(SERVER_ADDR), 40000, 7000, P.request(1, key))


def _cut_horn(config_dir: Path, cut: int) -> Any:
    """The horn built with its answer path cut short at stage ``cut``, OPEN, ready to run."""
    bcc = programs.require_bpf()
    b = bcc.BPF(text=programs._source("mbb_horn.c"),
                cflags=[f"-I{programs.BPF_DIR}", f"-I{Path(config_dir).resolve()}", "-DMBB_BCC",
                        f"-DMBB_BENCH_CUT={cut}"])
    fn = b.load_func("horn_egress", bcc.BPF.SCHED_CLS)
    cfg = b["mbb_config"].Leaf()
    cfg.state, cfg.capacity, cfg.window_us = H.OPEN, 1 << 20, 50_000
    cfg.upstream_addr = programs.Upstream(SERVER_ADDR, 7000).addr_be32
    cfg.upstream_port = socket.htons(7000)
    b["mbb_config"][ctypes.c_int(0)] = cfg
    leaf = b["mbb_snapshot"].Leaf()
    leaf.status, leaf.len, leaf.csum = P.ST_OK, len(VALUE), tail_sum(P.ST_OK, VALUE)
    ctypes.memmove(ctypes.addressof(leaf.value), VALUE, len(VALUE))
    b["mbb_snapshot"][b["mbb_snapshot"].Key(42)] = leaf
    return b, fn


ROUNDS = 41  # interleaved rounds: the median of the paired ratios, with its order-statistic interval
WIDE = 0.20  # an interval wider than this share of its ratio gives no verdict


def _paired(ratios: list[float]) -> dict[str, Any]:
    """The median of per-round paired ratios, its 95 % distribution-free interval and whether
    that interval is narrow enough (within ``WIDE`` of the median) to judge by."""
    m = intervals.percentile(ratios, 0.5)
    width = (m.high - m.low) / m.value if m.value else math.inf
    return {"median": m.value, "ci_low": m.low, "ci_high": m.high, "rounds": len(ratios), "width": width,
            "stable": bool(width <= WIDE)}


def test_run_costs(horn: H.Horn, config_dir: Path, runs: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """Single-run costs (ns) and their ratios to the empty program, from ``rounds`` short
    rounds of ``runs / rounds`` single runs each. Within a round every program runs once, in
    an order that rotates from round to round, so a drift of the machine (another tenant, a
    frequency change) touches a program and its baseline alike; each round's ratio is
    paired, and the figure is the median of the rounds' ratios with its interval."""
    frame = _request_frame(42)
    horn.events.open_ring_buffer(lambda *a: None)
    drain = horn.bpf.ring_buffer_consume
    empty = programs.sched_cls(programs.compile_empty(), "empty")
    cuts = [_cut_horn(config_dir, k) for k in range(1, len(STAGES))]
    per_round = max(1, runs // rounds)

    def measure(key: str) -> float:
        if key == "empty":
            return _single_runs(empty.fd, frame, per_round)
        if key.startswith("cut"):
            return _single_runs(cuts[int(key[3:]) - 1][1].fd, frame, per_round)
        horn.log_decisions = key == "answer_logged"
        if key == "pass":
            horn.set_config(H.CLOSED, (1 << 31) - 1, 50_000)
        else:
            horn.set_config(H.OPEN, 1 << 20, 50_000)
        ns = _single_runs(horn.egress.fd, frame, per_round, drain)
        horn.log_decisions = False
        return ns

    keys = ["empty", "answer", "answer_logged", "pass", *(f"cut{k}" for k in range(1, len(STAGES)))]
    got: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            got[key].append(measure(key))
    horn.set_config(H.OPEN, 1 << 20, 50_000)
    assert testrun.run(horn.egress.fd, frame).retval == 7  # TC_ACT_REDIRECT: really the answer path
    med = {k: float(np.median(v)) for k, v in got.items()}
    ratio = {k: _paired([a / e for a, e in zip(got[k], got["empty"])]) for k in ("answer", "answer_logged", "pass")}
    horn.set_config(H.CLOSED, (1 << 31) - 1, 50_000)
    pass_repeat = testrun.run(horn.egress.fd, frame, repeat=runs).duration_ns
    drain()
    empty_repeat = testrun.run(empty.fd, frame, repeat=runs).duration_ns
    prefix = [med["empty"], *(med[f"cut{k}"] for k in range(1, len(STAGES))), med["answer"]]
    breakdown = {name: max(0.0, b - a) for name, a, b in zip(STAGES, prefix, prefix[1:])}
    return {
        "answer_ns_per_packet": med["answer"],
        "answer_logged_ns_per_packet": med["answer_logged"],
        "decision_log_ns": med["answer_logged"] - med["answer"],
        "pass_ns_per_packet": med["pass"],
        "empty_ns_per_packet": med["empty"],
        "empty_ns_rounds_min_max": [min(got["empty"]), max(got["empty"])],
        "answer_net_ns_per_packet": med["answer"] - med["empty"],
        "pass_net_ns_per_packet": med["pass"] - med["empty"],
        "answer_ratio_to_empty": ratio["answer"]["median"],
        "answer_ratio": ratio["answer"],
        "answer_logged_ratio_to_empty": ratio["answer_logged"]["median"],
        "answer_logged_ratio": ratio["answer_logged"],
        "pass_ratio_to_empty": ratio["pass"]["median"],
        "pass_ratio": ratio["pass"],
        "answer_breakdown_ns": breakdown,
        "pass_ns_per_packet_repeat": float(pass_repeat),
        "empty_ns_per_packet_repeat": float(empty_repeat),
        "pass_ratio_to_empty_repeat": pass_repeat / max(1, empty_repeat),
        "goal_answer_ratio": 3.0,
    }


def _asks(ns: str, packets: int, first_id: int, out: Any) -> None:
    """In the client namespace: ``packets`` requests for key 42, one at a time, each waited
    for (0.5 s at most): their round trips (us) and how many came from the snapshot."""
    proc.settle(ns, None)
    sock = client_socket((SERVER_ADDR, PORT))
    rtts: list[float] = []
    answered = fallback = 0
    for i in range(packets):
        rid = (first_id + i) * 4
        t0 = time.perf_counter_ns()
        sock.send(P.request(rid, 42))
        give_up = t0 + 500_000_000
        while (left := give_up - time.perf_counter_ns()) > 0:
            if not select.select([sock], [], [], left / 1e9)[0]:
                break
            m = P.parse(sock.recv(2048))
            if m is not None and m.req_id == rid:
                rtts.append((time.perf_counter_ns() - t0) / 1e3)
                answered += 1
                fallback += m.fallback
                break
    out.put({"rtts": rtts, "answered": answered, "from_snapshot": fallback})


def _phase(tb: Testbed, horn: H.Horn, packets: int, first_id: int) -> dict[str, Any]:
    """One phase of the live measurement: the client's round trips and the programs' own
    run statistics over it."""
    before = {n: prog_stats.run_stats(p.fd) for n, p in (("egress", horn.egress), ("ingress", horn.ingress))}
    ctx = mp.get_context("fork")
    q: Any = ctx.Queue()
    child = ctx.Process(target=_asks, args=(tb.rig.client_ns, packets, first_id, q), daemon=True)
    child.start()
    got = q.get(timeout=30 + packets)
    child.join(5)
    rtts = got["rtts"] or [math.nan]
    out: dict[str, Any] = {"answered": got["answered"], "from_snapshot": got["from_snapshot"],
                           "rtt_p50_us": float(np.percentile(rtts, 50)), "rtt_p99_us": float(np.percentile(rtts, 99))}
    for name, prog in (("egress", horn.egress), ("ingress", horn.ingress)):
        t1, n1 = prog_stats.run_stats(prog.fd)
        t0_, n0 = before[name]
        out[f"{name}_runs"] = n1 - n0
        out[f"{name}_ns_per_run"] = (t1 - t0_) / (n1 - n0) if n1 > n0 else float("nan")
    return out


def live_costs(packets: int, settings: SettingsFile | None = None) -> dict[str, Any]:
    """The horn applied on the testbed (the same rig, server and controller that verification
    uses) in front of its server: ``packets`` requests passed to the server (CLOSED), then
    ``packets`` answered by the horn (held OPEN)."""
    sf = settings or SettingsFile()
    with Testbed(sf.settings) as tb, exclusive.machine(), \
            tb.background(calibrate.echo_scenario(), ARMS["horn"], seed=1) as svc:
        applied = svc.applied
        assert applied is not None and applied.horn is not None and applied.controller is not None
        horn = applied.horn
        with prog_stats.enabled():
            closed = _phase(tb, horn, packets, 1)
            applied.controller.force(H.OPEN)
            opened = _phase(tb, horn, packets, 10 ** 6)
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
        export(Path(tmp) / "settings.json", Path(tmp) / "out", build_object=False)
        horn = H.Horn(Path(tmp) / "out", programs.Upstream(SERVER_ADDR, 7000))
        horn.load_snapshot([Entry(42, VALUE)])
        out: dict[str, Any] = {"runs": runs, **test_run_costs(horn, Path(tmp) / "out", runs)}
        if live:
            out.update({"packets": packets, **live_costs(packets)})
    return out




HELP = "the horn's cost per packet (a ratio to the empty TC program, same run) and what its answer saves"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=count(ROUNDS, 10_000_000), default=20000,
                   help=f"BPF_PROG_TEST_RUN single runs per program, in {ROUNDS} interleaved rounds (default 20000)")
    p.add_argument("--packets", type=count(1, 10_000_000), default=2000,
                   help="requests per live phase (default 2000)")
    p.add_argument("--no-live", action="store_true", help="skip the live rig measurement")


def run(args: argparse.Namespace) -> dict[str, Any]:
    return bench_bpf(args.runs, args.packets, live=not args.no_live)


def _ratio(r: dict[str, Any]) -> str:
    text = f"{r['median']:.2f} (95 % CI {r['ci_low']:.2f}..{r['ci_high']:.2f}, {r['rounds']} paired rounds)"
    return text if r["stable"] else text + f"; interval {r['width']:.0%} wide: too noisy for a verdict"


def format(out: dict[str, Any]) -> str:
    a = out["answer_ratio"]
    goal = out["goal_answer_ratio"]
    verdict = f" -> goal <= {goal:.0f}: {'met' if a['ci_high'] <= goal else 'not met'}" if a["stable"] else ""
    lines = [
        f"BPF_PROG_TEST_RUN, {out['runs']} single runs per program (kernel-measured), interleaved:",
        f"  answer / empty program: {_ratio(a)}{verdict}",
        f"  answer {out['answer_ns_per_packet']:.0f} ns/packet, empty program {out['empty_ns_per_packet']:.0f} ns "
        f"(the empty program's rounds ranged {out['empty_ns_rounds_min_max'][0]:.0f}.."
        f"{out['empty_ns_rounds_min_max'][1]:.0f} ns)",
        f"  with the decision log (--log-decisions): ratio {_ratio(out['answer_logged_ratio'])}, "
        f"the ring-buffer record {out['decision_log_ns']:.0f} ns",
        "  where the answer's net cost goes: "
        + "; ".join(f"{k} {v:.0f} ns" for k, v in out["answer_breakdown_ns"].items()),
        f"  pass / empty program: {_ratio(out['pass_ratio'])}; with repeat: pass "
        f"{out['pass_ns_per_packet_repeat']:.0f}, empty {out['empty_ns_per_packet_repeat']:.0f} ns",
    ]
    if "live_answer_ns_per_packet" in out:
        lines += [
            f"live (bpf_stats, {out['packets']} requests per phase):",
            f"  answer {out['live_answer_ns_per_packet']:.0f} ns, pass {out['live_pass_ns_per_packet']:.0f} ns, "
            f"response matching {out['live_response_ns_per_packet']:.0f} ns",
            f"  client round trip p50: kernel answer {out['rtt_kernel_p50_us']:.1f} us, user-space server "
            f"{out['rtt_server_p50_us']:.1f} us (x{out['rtt_ratio_server_to_kernel']:.1f})",
        ]
    return "\n".join(lines)
