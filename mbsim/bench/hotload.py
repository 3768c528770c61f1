"""``mbsim bench hotload``: what a settings change costs while the horn decides packets.

On a rig with the horn applied and a sender offering ``--rps`` requests a second through
it, in one run:

* **baseline**: one BPF map update (the probe counter), the cheapest write there is;
* **flip**: :meth:`Horn.set_config`, a whole setting into the spare config slot, then the
  active index flipped (two map updates);
* **hot load**: :meth:`Controller.hot_load`, from the decision (new settings in hand) to
  the flip: validation against the compiled constants, the re-tuning, breaker and rate
  limit rebuilt, the kernel's config written. The issue's goal: p99 at most 100 us;
* **served update**: the same, as the running controller does it for the online tuner -
  from the request's arrival on the control socket (parsed, settings checked) to the flip,
  timed inside the controller's loop;
* **control round trip**: the tuner's view of an update or a rollback - a request on the
  control socket until its answer, with the controller's loop (polling every 5 ms) serving it.

The first three run with the controller's loop not yet started (one thread writes, as in
the controller); the sender is a separate process, so no Python thread competes with them.

Each as p50 and p99 (us), and as a ratio to the baseline's p50 measured in the same run.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from mbsim.argtypes import count, number
from mbsim.deploy.export import export
from mbsim.formats import snapshot_file
from mbsim.formats import wire as P
from mbsim.formats.settings_file import SettingsFile
from mbsim.kernel import control, netns
from mbsim.kernel import horn as H
from mbsim.kernel.apply import Applied
from mbsim.kernel.rig import CLIENT_ADDR, SERVER_ADDR, Rig
from mbsim.mbb.settings import MbbSettings
from mbsim.params import override, to_dict

HELP = "the cost of a settings change under load: map write, flip, hot load, control round trip"
GOAL_P99_US = 100.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=count(10, 1_000_000), default=2000, help="updates per kind (default 2000)")
    p.add_argument("--rps", type=number(0, 200_000), default=5000.0, help="offered load meanwhile (default 5000)")


def _sender(ns: str, rps: float, stop: Any) -> None:
    s = netns.socket_in(ns)
    s.bind((CLIENT_ADDR, 0))
    s.connect((SERVER_ADDR, 7000))
    s.setblocking(False)
    k, t0 = 0, time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - t0) * rps)
        while k < due:
            try:
                s.send(P.request(k % 60_000, 1 + k % 100))
            except OSError:
                pass
            k += 1
        try:
            while s.recv(2048):
                pass
        except OSError:
            pass
        time.sleep(0.001)
    s.close()


def _stats(us: list[float], base: float) -> dict[str, float]:
    a = np.asarray(us)
    p50, p99 = float(np.percentile(a, 50)), float(np.percentile(a, 99))
    return {"n": int(a.size), "p50_us": p50, "p99_us": p99, "p50_ratio": p50 / base, "p99_ratio": p99 / base}


def measure(n: int = 2000, rps: float = 5000.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mbsim-hotload-") as tmp, Rig(prefix="mbk") as rig:
        d = Path(tmp)
        SettingsFile().write(d / "settings.json")
        export(d / "settings.json", d / "out")
        snapshot_file.write(d / "snapshot.json", {k: f"snap:{k}" for k in range(1, 101)})
        with Applied(d / "out", rig.client_ns, rig.client_dev, f"{SERVER_ADDR}:7000", d / "snapshot.json",
                     upstream_mac=rig.server_mac) as ap:
            assert ap.horn is not None and ap.controller is not None
            horn, ctl = ap.horn, ap.controller
            ctx = mp.get_context("fork")
            stop, halt = ctx.Event(), threading.Event()
            loop = threading.Thread(target=ap.run, args=(None, halt.is_set), daemon=True)
            load = ctx.Process(target=_sender, args=(rig.client_ns, rps, stop), daemon=True)
            load.start()
            try:
                time.sleep(0.5)
                base, flip, hot, rt, served = [], [], [], [], []
                for k in range(n):
                    t = time.perf_counter_ns()
                    horn.set_counter(H.C_PROBES, k)
                    base.append((time.perf_counter_ns() - t) / 1e3)
                for k in range(n):
                    t = time.perf_counter_ns()
                    horn.set_config(H.CLOSED, 200 + k % 50, 50_000)
                    flip.append((time.perf_counter_ns() - t) / 1e3)
                settings = [override(MbbSettings(), {"buffer.capacity_max": 64 + k % 3}) for k in range(3)]
                for k in range(n):
                    hot.append(ctl.hot_load(settings[k % 3], "bench")["update_us"])
                docs = [to_dict(s) for s in settings]
                loop.start()
                time.sleep(0.2)
                for k in range(max(10, n // 5)):
                    t = time.perf_counter_ns()
                    reply = control.request(rig.client_ns, rig.client_dev,
                                            {"op": "set", "settings": docs[k % 3], "reason": "rollback"})
                    rt.append((time.perf_counter_ns() - t) / 1e3)
                    assert reply["ok"], reply
                    served.append(float(reply["update_us"]))
                decided = sum(horn.decisions()[x] for x in H.OFFERED)
            finally:
                stop.set()
                halt.set()
                load.join(5)
                if loop.is_alive():
                    loop.join(5)
    b = float(np.percentile(base, 50))
    out: dict[str, Any] = {"rps": rps, "decided_during": decided, "baseline": _stats(base, b), "flip": _stats(flip, b),
           "hot_load": _stats(hot, b), "served_update": _stats(served, b), "control_round_trip": _stats(rt, b),
           "goal_p99_us": GOAL_P99_US}
    out["goal_met"] = max(out["hot_load"]["p99_us"], out["served_update"]["p99_us"]) <= GOAL_P99_US
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    return measure(args.n, args.rps)


def format(out: dict[str, Any]) -> str:
    lines = [f"settings changes under {out['rps']:.0f} req/s offered ({out['decided_during']} packets decided "
             f"meanwhile); ratios are to the baseline's p50, measured in this run", "",
             "| change | n | p50 us | p99 us | p50 / baseline | p99 / baseline |", "|---|---|---|---|---|---|"]
    names = {"baseline": "one map update (baseline)", "flip": "setting written whole, then flipped",
             "hot_load": "hot load: decision to the map", "served_update": "served update: arrival to the map",
             "control_round_trip": "control socket round trip (the tuner's view)"}
    for k, label in names.items():
        s = out[k]
        lines.append(f"| {label} | {s['n']} | {s['p50_us']:.1f} | {s['p99_us']:.1f} | {s['p50_ratio']:.2f} | "
                     f"{s['p99_ratio']:.2f} |")
    lines.append("")
    lines.append(f"goal: an update's p99 <= {out['goal_p99_us']:g} us from the decision to the map: "
                 f"{'met' if out['goal_met'] else 'missed'} (hot load {out['hot_load']['p99_us']:.1f} us, served "
                 f"{out['served_update']['p99_us']:.1f} us)")
    return "\n".join(lines)
