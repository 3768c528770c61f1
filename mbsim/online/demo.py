"""The online tuner shown on the testbed: safe BO, plain BO and offline settings, same load.

``mbsim tune --online --demo`` (and notebook 05) runs, on the real SQLite backend:

1. **a warm-up** at 10 % load measures the backend's light and heavy service times and the
   round trip (:mod:`mbsim.verify.backend_fit`'s helpers);
2. **an offline study** in the simulator, on that measured service under the demo's own
   load (the same rate steps: the model knows the terrain): the constrained GP over the
   online dimensions, minimising the unserved share with at most 1 % of the 1-s windows
   over the SLO. Its best are "the offline-tuned settings";
   The demo tunes three settings (``DIMS``): the in-flight capacity and the breaker's trip
   ratio and open time (``mbsim tune --online`` takes the whole space by default);
3. **three arms on the same load and seed**, each one testbed run with the horn applied,
   its controller serving metrics to one local Prometheus:

   * ``safe``: the online loop with its rails, from a deliberately bad start (the
     capacity at its minimum, 2: most requests answered from the snapshot);
   * ``plain``: the online loop without rails, from the same start;
   * ``fixed``: the offline-tuned settings, left in force.

The load's terrain changes midway: **noisy** (the rate redrawn every 250 ms, lognormal with
sd 0.35 around the mean) for the first half, then **spike** (a steady 70 % of the mean with
bursts of 2.5x for 0.5 s every 3 s). The mean rate is ``load`` (55 %) of the backend's
measured capacity. Every 1-s window's P99 and unserved share come from Prometheus.
"""
from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mbsim.engine.simulate import simulate
from mbsim.errors import MbsimError
from mbsim.kernel import control
from mbsim.mbb.settings import MbbSettings
from mbsim.metrics.registry import P99_MS, REAL_SUCCESS_RATIO, SLO_VIOLATION_RATIO
from mbsim.online.loop import LoopConfig, OnlineResult
from mbsim.online.prometheus import LocalPrometheus, free_port
from mbsim.online.study import ControlTarget, online_dims, prometheus_reader, run_online
from mbsim.params import from_dict, override, to_dict
from mbsim.provenance import provenance
from mbsim.tuning.constrained import ConstrainedGP
from mbsim.tuning.samplers import Observation
from mbsim.tuning.space import settings_from
from mbsim.verify import backend_fit as bf
from mbsim.verify import fit
from mbsim.verify.arms import ARMS
from mbsim.verify.testbed import Testbed
from mbsim.world.client import Client
from mbsim.world.network import Network
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.service_time import ServiceTime
from mbsim.world.slo import Slo
from mbsim.world.workload import Workload

ARMS_SHOWN = ("safe", "plain", "fixed")
#: what the demo tunes (online and offline): the three settings that decide the unserved share
#: and the tail on this backend - the in-flight capacity and the breaker's trip ratio and open time
DIMS = ("buffer.capacity_max", "breaker.failure_ratio", "breaker.open_ms")
HEAVY = 0.005  # share of heavy queries in the demo's load (the warm-up measures them at 10 %)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    quick: bool = False
    seed: int = 1
    load: float = 0.55  # the mean rate, as a share of the measured capacity
    slo_ms: float = 4.0  # a 1-s window's P99 above this breaks the SLO (the deadline is 5 ms)
    budget: int = 0  # trials per online arm (0: 8 quick, 20 otherwise)
    trial_s: float = 0.0  # s per trial (0: 2 quick, 3 otherwise)
    offline_budget: int = 0  # evaluations of the offline study (0: 12 quick, 30 otherwise)

    def trials(self) -> int:
        return self.budget or (8 if self.quick else 20)

    def trial_len(self) -> float:
        return self.trial_s or (2.0 if self.quick else 3.0)

    def offline(self) -> int:
        return self.offline_budget or (12 if self.quick else 30)


def bad_start(settings: MbbSettings) -> MbbSettings:
    """The deliberately bad start: the capacity at its minimum (2)."""
    s: MbbSettings = override(settings, {"buffer.capacity_min": 2, "buffer.capacity_max": 2})
    return s


def terrain_steps(mean_rps: float, duration_s: float, seed: int) -> tuple[tuple[float, float], ...]:
    """Rate steps: noisy for the first half (lognormal, sd 0.35, every 250 ms), then spike
    (70 % of the mean, bursts of 2.5x for 0.5 s every 3 s)."""
    rng = np.random.default_rng([seed, 5])
    half = duration_s / 2
    steps: list[tuple[float, float]] = []
    t = 0.0
    while t < half:
        steps.append((round(t, 3), float(mean_rps * math.exp(0.35 * rng.standard_normal() - 0.35 ** 2 / 2))))
        t += 0.25
    t = half
    while t < duration_s:
        steps.append((round(t, 3), 0.7 * mean_rps))
        if t + 1.5 < duration_s:
            steps.append((round(t + 1.5, 3), 2.5 * mean_rps))
            steps.append((round(t + 2.0, 3), 0.7 * mean_rps))
        t += 3.0
    return tuple(steps)


def demo_scenario(service: Service, rtt_us: np.ndarray, mean_rps: float, duration_s: float, slo_ms: float,
                  seed: int, terrain: bool = True) -> Scenario:
    wl = Workload(rate_rps=mean_rps, spike_fraction=HEAVY,
                  steps=terrain_steps(mean_rps, duration_s, seed) if terrain else ())
    net = Network(rtt_ms=float(np.mean(rtt_us)) / 1e3, rtt_samples_us=tuple(float(v) for v in rtt_us[:2000]))
    return Scenario(name="online-demo" if terrain else "online-demo-steady",
                    description="online tuning demo: noisy, then spike" if terrain else "steady at the mean",
                    duration_s=duration_s, warmup_s=0.5, workload=wl, service=service, network=net,
                    client=Client(timeout_ms=100.0, max_retries=0), slo=Slo(target_ms=slo_ms, budget=0.01))


def measure_backend(tb: Testbed, seed: int, say: Callable[[str], None]) -> tuple[Service, np.ndarray, float]:
    """The warm-up: the backend's service (light, heavy), round trip (us), capacity (req/s)."""
    assert tb.db is not None
    guess = bf.guess_light_ms(tb.db)
    say(f"warm-up: 10 % of about {1e3 / guess:.0f} req/s, 10 % of it heavy")
    raw = tb.run(bf.probe("online-warmup", 0.1 * 1e3 / guess, 4.0, heavy=0.1), ARMS["none"], seed)
    light, heavy = bf.service_ms(raw)
    rtt = bf.round_trips_us(raw)
    if light.size < 50 or heavy.size < 20 or rtt.size < 20:
        raise MbsimError(f"the warm-up recorded too few jobs ({light.size} light, {heavy.size} heavy)")
    lf = fit.distribution(light, seed)["service_time"]
    hf = fit.distribution(heavy, seed)["service_time"]
    service = Service(workers=1, heavy=from_dict(ServiceTime, hf),
                      **{k: v for k, v in lf.items() if k != "samples_ms"},
                      samples_ms=tuple(lf.get("samples_ms", ())))
    mean_ms = (1 - HEAVY) * float(light.mean()) + HEAVY * float(heavy.mean())
    return service, rtt, 1e3 / mean_ms


def offline_tune(sc: Scenario, start: MbbSettings, budget: int, seed: int,
                 say: Callable[[str], None]) -> tuple[MbbSettings, dict[str, Any]]:
    """The offline study: the constrained GP in the simulator, over the online dimensions."""
    dims = online_dims(start, list(DIMS))
    gp = ConstrainedGP(dims, seed, None, n_initial=min(6, budget))
    sc = dataclasses.replace(sc, duration_s=max(sc.duration_s, 20.0))
    best: tuple[float, dict[str, float]] | None = None
    history: list[dict[str, Any]] = []
    for k in range(budget):
        x = gp.ask(1)[0]
        s = settings_from(x, "mbb", start)
        m = simulate(sc, "horn", params=s, seed=seed).metrics
        share = 1.0 - float(m[REAL_SUCCESS_RATIO])
        viol = float(m[SLO_VIOLATION_RATIO])
        gp.tell(x, Observation(share + 1e-3, share + 1e-3, {"slo": 0.01 - viol}))
        history.append({"params": x, "unserved": share, SLO_VIOLATION_RATIO: viol})
        if viol <= 0.01 and (best is None or share < best[0]):
            best = (share, x)
        say(f"offline {k + 1}/{budget}: unserved {share:.3f}, windows over the SLO {viol:.1%}")
    if best is None:  # nothing met the SLO: the fewest windows over it
        h = min(history, key=lambda r: (r[SLO_VIOLATION_RATIO], r["unserved"]))
        best = (float(h["unserved"]), dict(h["params"]))
        say("offline: no setting met the SLO in the model; keeping the one that broke it least")
    tuned: MbbSettings = settings_from(best[1], "mbb", start)
    return tuned, {"best": best[1], "unserved": best[0], "history": history}


def run_arm(tb: Testbed, sc: Scenario, arm: str, settings: MbbSettings, cfg: DemoConfig, prom_url: str,
            say: Callable[[str], None]) -> tuple[OnlineResult, float]:
    """One arm: the load on the testbed, the loop (or nothing) beside it. Returns the loop's
    result and the load's time (s) at the loop's time 0."""
    tb.settings = settings
    loop_cfg = LoopConfig(slo_ms=cfg.slo_ms, budget=cfg.trials(), trial_s=cfg.trial_len(), rails=arm == "safe",
                          mode="fixed" if arm == "fixed" else "bo", seed=cfg.seed)
    box: dict[str, Any] = {}

    def tuner() -> None:
        r = tb.rig
        deadline = time.monotonic() + 30
        while not control.path_for(r.client_ns, r.client_dev).exists():
            if time.monotonic() > deadline:
                box["error"] = "the horn's control socket did not appear"
                return
            time.sleep(0.02)
        time.sleep(0.6)  # scenario time 0 (the testbed's lead)
        try:
            box["result"] = run_online(loop_cfg, ControlTarget(r.client_ns, r.client_dev),
                                       prometheus_reader(prom_url), settings, list(DIMS),
                                       say=lambda m: say(f"{arm}: {m}"))
        except Exception as exc:  # reported below, in the caller's thread
            box["error"] = f"{type(exc).__name__}: {exc}"

    th = threading.Thread(target=tuner, daemon=True)
    th.start()
    raw = tb.run(sc, ARMS["horn"], cfg.seed)
    th.join(30)
    if "error" in box or "result" not in box:
        raise MbsimError(f"the {arm} arm's loop failed: {box.get('error', 'it did not finish')}")
    # the load's time 0 in unix time, from its monotonic t0
    box["load_t0_unix"] = raw.t0_ns / 1e9 + (time.time() - time.monotonic())
    result: OnlineResult = box["result"]
    return result, float(result.t0_unix - box["load_t0_unix"])


def run_demo(cfg: DemoConfig, say: Callable[[str], None] = print, out: Path | None = None) -> dict[str, Any]:
    """The whole demo; its document (written to ``out`` when given)."""
    prov = provenance(**dataclasses.asdict(cfg))
    # the load outlasts the loop: a trial takes its windows plus a read's lag and a hot load
    duration = cfg.trials() * (cfg.trial_len() + 0.6) + 4.0
    port = free_port()
    doc: dict[str, Any] = {"schema": "mbsim.online-demo/1", "config": dataclasses.asdict(cfg), "arms": {}}
    with Testbed(MbbSettings(), backend="sqlite") as tb, LocalPrometheus([f"127.0.0.1:{port}"]) as prom:
        tb.metrics = f"127.0.0.1:{port}"
        service, rtt, capacity = measure_backend(tb, cfg.seed, say)
        mean_rps = cfg.load * capacity
        say(f"backend: capacity about {capacity:.0f} req/s; the demo's mean load {mean_rps:.0f} req/s")
        sc = demo_scenario(service, rtt, mean_rps, duration, cfg.slo_ms, cfg.seed)
        offline, off_doc = offline_tune(sc, MbbSettings(), cfg.offline(), cfg.seed, say)
        doc.update(capacity_rps=capacity, mean_rps=mean_rps, duration_s=duration, offline=off_doc,
                   change_at_s=duration / 2)
        for arm in ARMS_SHOWN:
            start = offline if arm == "fixed" else bad_start(MbbSettings())
            say(f"arm {arm}: {duration:.0f} s of load")
            res, offset = run_arm(tb, sc, arm, start, cfg, prom.url, say)
            doc["arms"][arm] = {**res.to_dict(), "start": to_dict(start), "load_time_at_loop_0_s": offset}
    doc["summary"] = summarize(doc)
    doc["provenance"] = prov
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc


def load_time(arm: dict[str, Any]) -> list[dict[str, Any]]:
    """An arm's windows with ``t`` on the load's clock (s since the load began)."""
    off = arm["load_time_at_loop_0_s"]
    return [{**w, "t": w["t"] + off} for w in arm["windows"]]


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """The goals' figures per arm: windows over the SLO, rollbacks and how fast they took
    effect, the unserved share per terrain, and the time to within 5 % of the fixed
    (offline-tuned) arm's objective before and after the terrain change."""
    change = doc["change_at_s"]
    fixed = load_time(doc["arms"]["fixed"])

    def share(windows: list[dict[str, Any]], first: bool) -> float:
        sel = [w for w in windows if (w["t"] < change) == first and math.isfinite(w["unserved"])]
        tot = sum(w["offered"] for w in sel)
        return sum(w["unserved"] * w["offered"] for w in sel) / tot if tot else math.nan

    ref = {"noisy": share(fixed, True), "spike": share(fixed, False)}
    out: dict[str, Any] = {"offline_unserved": ref}
    for arm, a in doc["arms"].items():
        ws = load_time(a)
        off = a["load_time_at_loop_0_s"]
        rb = [e["after_window_s"] for e in a["events"] if e["reason"] == "rollback" and "after_window_s" in e]
        reach: dict[str, float | None] = {}
        for phase, first in (("noisy", True), ("spike", False)):
            target = ref[phase] * 1.05 + 1e-3
            t0 = 0.0 if first else change
            hit = next((t["t"] + off - t0 for t in a["trials"] if t.get("t") is not None
                        and (t["t"] + off < change) == first and t["feasible"] and t["unserved"] <= target), None)
            reach[phase] = hit
        out[arm] = {"windows": len(ws), "over": sum(w["over"] for w in ws),
                    "over_share": a["violation_share"], "rollbacks": len(rb),
                    "rollback_after_window_s_max": max(rb) if rb else None,
                    "unserved_noisy": share(ws, True), "unserved_spike": share(ws, False),
                    "time_to_within_5pct_s": reach, "stopped": a["stopped"]}
    return out


COLORS = {"safe": "tab:blue", "plain": "tab:orange", "fixed": "black"}


def plot(doc: dict[str, Any], path: Path) -> Path:
    """SLO windows, the capacity in force, and the unserved share, per arm, over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    slo = doc["config"]["slo_ms"]
    for arm, a in doc["arms"].items():
        ws = load_time(a)
        t = [w["t"] for w in ws]
        c = COLORS.get(arm)
        s = doc["summary"][arm]
        label = f"{arm}: {s['over']}/{s['windows']} windows over the SLO, {s['rollbacks']} rollbacks"
        axes[0].plot(t, [w[P99_MS] for w in ws], "-o", ms=3, color=c, label=label)
        axes[1].step(t, [w["params"].get("buffer.capacity_max", math.nan) for w in ws], where="post", color=c,
                     label=arm)
        axes[2].plot(t, [w["unserved"] for w in ws], "-", color=c, label=arm)
        for e in a["events"]:
            if e["reason"] == "rollback":
                axes[0].axvline(e["t"] + a["load_time_at_loop_0_s"], color=c, ls=":", lw=0.8)
    axes[0].axhline(slo, color="red", ls="--", lw=1, label=f"SLO: P99 {slo:g} ms per 1-s window")
    for ax in axes:
        ax.axvline(doc["change_at_s"], color="grey", lw=1.5, alpha=0.6)
    axes[2].text(doc["change_at_s"], 1.0, " terrain: noisy -> spike", va="top", fontsize=8)
    axes[0].set_ylabel("window P99 (ms)")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("capacity_max in force")
    axes[1].set_yscale("log")
    axes[2].set_ylabel("unserved share (window)")
    axes[2].set_xlabel("time since the load began (s)")
    axes[0].legend(fontsize=7, loc="upper left", framealpha=0.9)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"online tuning on the SQLite backend: {doc['mean_rps']:.0f} req/s mean "
                 f"({doc['config']['load']:.0%} of {doc['capacity_rps']:.0f}), dotted: rollbacks", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
