"""The whole verification: each scenario under each arm on the testbed and in the simulator,
compared, with the goals, and written under ``data/verification/``.

A run whose validity gates fail is repeated with the same seed, up to ``retries`` times;
if it still fails it is reported as failed, with its gates, never as if it had passed.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mbsim.errors import ConfigError
from mbsim.formats.settings_file import SettingsFile
from mbsim.metrics.intervals import Percentile
from mbsim.metrics.registry import (
    DECISION_ACCURACY,
    ERROR_RATIO,
    FALLBACK_RATIO,
    MISS_RATIO,
    P99_JITTER_MS,
    REAL_SUCCESS_RATIO,
    REQUESTS,
    SUCCESS_RATIO,
    TIMEOUT_RATIO,
    TRANSITIONS_TO_OPEN,
)
from mbsim.params import to_dict
from mbsim.provenance import dirty_banner, provenance
from mbsim.tables import fmt
from mbsim.verify import calibrate, gates, measure, plots, predict, verdict
from mbsim.verify.arms import Arm
from mbsim.verify.testbed import Testbed
from mbsim.world import catalog
from mbsim.world.client import Client
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.workload import Workload

QUICK_S = 10.0  # every built-in fault window starts before 10 s
EMULATED = ("emulated: the service-time process (c workers, FIFO, service times from the scenario's distribution "
            "with the load function, tail spikes and outages, played by timers); real: the sockets, the kernel "
            "path, the horn, the dropper, client timing and the controller")
REAL_DB = ("emulated: which requests are tail spikes (the simulator's own draw picks the heavy query) and when the "
           "spike windows and outages happen; real: the service (a worker thread running SQL on a 1M-row SQLite "
           "file: its service times, queueing and load effects are whatever this machine does), the outages (another "
           "process holds the database's exclusive lock), the sockets, the kernel path, the horn, the dropper, "
           "client timing and the controller")
WHAT = {"timer": EMULATED, "sqlite": REAL_DB}


def scenario_for(name: str | Scenario, quick: bool) -> Scenario:
    sc = name if isinstance(name, Scenario) else catalog.get(name)
    if quick and sc.duration_s > QUICK_S:
        sc = dataclasses.replace(sc, duration_s=QUICK_S, warmup_s=min(sc.warmup_s, 1.0))
    return sc


def utilisation(sc: Scenario) -> float:
    """Offered load over the service's capacity, at the scenario's base rate."""
    return sc.workload.rate_rps / sc.service.capacity_rps


def flat(m: dict[str, Any]) -> dict[str, Any]:
    """The headline values of measured or predicted metrics, as numbers (ms, ratios)."""
    out = {k: (v.value if isinstance(v, Percentile) else v) for k, v in m.get("percentiles", {}).items()}
    for k in (SUCCESS_RATIO, FALLBACK_RATIO, REAL_SUCCESS_RATIO, TIMEOUT_RATIO, ERROR_RATIO,
              MISS_RATIO, P99_JITTER_MS, DECISION_ACCURACY, TRANSITIONS_TO_OPEN, REQUESTS):
        if k in m:
            out[k] = m[k]
    return out


def simulated_metrics(r: Any) -> dict[str, Any]:
    pct = predict.percentiles(r)
    return {**r.metrics, "percentiles": pct, TRANSITIONS_TO_OPEN: sum(1 for _, s in r.transitions if s == 1)}


def realized_arrivals(raw: Any, o: measure.Outcomes) -> np.ndarray:
    """When the generator really sent each request (``o.actual_ns``: the kernel's transmit
    timestamp of its first send where there is one), in s from scenario time 0, ascending:
    the simulator's arrivals for the realized-send prediction."""
    t = (o.actual_ns - raw.t0_ns) / 1e9
    return np.maximum.accumulate(np.maximum(t, 0.0))


def run_once(tb: Testbed, sc: Scenario, arm: Arm, settings: SettingsFile, seed: int, cal: dict[str, Any] | None,
             retries: int = 0, model_sc: Scenario | None = None) -> dict[str, Any]:
    """One run of (scenario, arm) with ``seed``: measured (repeated while a gate fails, up to
    ``retries`` times), predicted from the planned arrivals and from the realized sends
    (of ``model_sc``, the simulator's view of ``sc``, where it has its own), compared on both."""
    model = model_sc or sc
    deadline = settings.settings.fallback.deadline_ms if arm.deadline else None
    attempts = []
    for _ in range(retries + 1):
        raw = tb.run(sc, arm, seed)
        o = measure.outcomes(raw, deadline)
        start, end = raw.t0_ns + int(sc.warmup_s * 1e9), raw.t0_ns + int(sc.duration_s * 1e9)
        gs, thin = gates.check(o, raw.arrays["planned"], start, end, sc.workload.constant)
        attempts.append([g.as_dict() for g in gs])
        if gates.passed(gs):
            break
    ind = next(g for g in gs if g.name == "independence")
    m = measure.metrics(raw, deadline, thin, correlated=not ind.passed)
    p = simulated_metrics(predict.predict(model, arm, settings.settings, seed, cal))
    r = predict.predict(model, arm, settings.settings, seed, cal, arrivals_s=realized_arrivals(raw, o))
    q = simulated_metrics(r)
    from_send = {**m, "percentiles": m["percentiles_uncorrected"]}
    lat = o.latency_s[o.in_window] * 1e3
    late = o.lateness_ns[(raw.arrays["planned"] >= start) & (raw.arrays["planned"] < end)] / 1e3
    cdf = r.histogram.cdf() if r.histogram is not None else (np.array([]), np.array([]))
    return {
        **verdict.row(m, p, p["percentiles"]),
        "realized": verdict.row(from_send, q, q["percentiles"]),
        "seed": seed, "arm": arm.name, "policy": arm.policy,
        "measured": flat(m), "predicted": flat(p),
        "measured_from_send": flat(from_send), "predicted_realized": flat(q),
        "passed": gates.passed(gs), "gates": [g.as_dict() for g in gs], "attempts": len(attempts),
        "failed_attempts": attempts[:-1], "thin": thin,
        "generator_lateness_us": {"p50": float(np.percentile(late, 50)), "p99": float(np.percentile(late, 99)),
                                  "max": float(late.max())},
        "achieved_rps": int(np.sum((raw.arrays["planned"] + o.lateness_ns >= start) &
                                   (raw.arrays["planned"] + o.lateness_ns < end))) / (sc.duration_s - sc.warmup_s),
        "server": {k: v for k, v in raw.server.items() if k != "answer_lateness_ns"},
        "drops": raw.drops, "unresolved": m["unresolved"], "pinned": raw.pinned, "health": raw.health,
        "kernel_tx_share": o.kernel_tx_share,
        "_curves": {"measured_ms": o.latency_uncorrected_s[o.in_window] * 1e3,
                    "measured_planned_ms": lat,
                    "predicted_cdf": ([x * 1e3 for x in cdf[0]], list(cdf[1]))},
    }


def verify_arm(tb: Testbed, sc: Scenario, arm: Arm, settings: SettingsFile, seeds: Sequence[int],
               cal: dict[str, Any] | None, retries: int = 0,
               progress: Callable[[str], None] = lambda s: None, model_sc: Scenario | None = None) -> dict[str, Any]:
    """(scenario, arm) run once per seed: the first run's comparison (for tables and
    figures), every run's, and each judged error across them (:func:`verdict.across`)."""
    runs = []
    for k, seed in enumerate(seeds):
        progress(f"{sc.name} / {arm.name}, run {k + 1} of {len(seeds)} (seed {seed})")
        runs.append(run_once(tb, sc, arm, settings, seed, cal, retries, model_sc))
    first = dict(runs[0])
    first["runs"] = [{k: v for k, v in r.items() if k != "_curves"} for r in runs]
    first["across"] = verdict.across(runs)
    first["passed_runs"] = sum(1 for r in runs if not verdict.failed_gates(r))
    return first


def sweep_scenario(u: float, duration_s: float, service: Service | None = None) -> Scenario:
    """The load sweep's service: 4 workers, lognormal 1 ms (4,000 req/s of capacity), or
    ``service`` (the fitted backend's, light requests only); no faults; ``u`` of its
    capacity offered."""
    svc = service or Service(workers=4)
    return Scenario(name=f"sweep-{round(u * 100)}", description=f"{u:.0%} of the service's capacity, no faults",
                    duration_s=duration_s, warmup_s=1.0, service=svc,
                    workload=Workload(rate_rps=u * svc.capacity_rps), client=Client())


def held_out_scenario(u: float, duration_s: float, service: Service) -> Scenario:
    """A load the backend fit never saw, as a scenario of its own (light requests only)."""
    sc = sweep_scenario(u, duration_s, service)
    return dataclasses.replace(sc, name=f"held-out-{round(u * 100)}", warmup_s=min(1.0, duration_s / 4),
                               description=f"{u:.0%} of the fitted backend's capacity: a load held out of the fit")


def verify(scenarios: Sequence[str | Scenario], arms: list[Arm], settings: SettingsFile, seed: int = 1,
           quick: bool = False, cal: dict[str, Any] | None = None, sweep: bool = False, pinning: bool = True,
           retries: int = 0, reps: int = 3, pingpong_rounds: int = 500, realtime: bool = False,
           backend: str = "timer", backend_fit: dict[str, Any] | None = None,
           progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Everything this verification measured and predicted (see the module docstring):
    each (scenario, arm) ``reps`` times on the seeds ``seed``, ``seed + 1``, ...; and, with
    the horn among the arms, the kernel's answer against user space, measured here.

    ``backend`` ``sqlite`` runs the real database (:mod:`mbsim.verify.db_server`) instead
    of the emulated service: each scenario is carried onto it with ``backend_fit``
    (:func:`backend_fit.on_backend`), and the loads held out of that fit are verified too,
    each as a scenario of its own under the none arm."""
    if reps < 1:
        raise ConfigError(f"reps must be at least 1, got {reps}")
    if backend not in WHAT:
        raise ConfigError(f"backend must be one of {', '.join(WHAT)}, got {backend!r}")
    if backend == "sqlite" and backend_fit is None:
        raise ConfigError("the sqlite backend needs its fit (mbsim calibrate --backend sqlite)")
    results: dict[str, dict[str, Any]] = {}
    scs = [scenario_for(s, quick) for s in scenarios]
    held: list[Scenario] = []
    from mbsim.verify import backend_fit as bf

    if backend_fit is not None and backend == "sqlite":
        scs = [bf.on_backend(sc, backend_fit) for sc in scs]
        length = min(QUICK_S if quick else 20.0, max(sc.duration_s for sc in scs))  # as long as the scenarios
        held = [bf.on_backend(held_out_scenario(u, length, bf.service(backend_fit)), backend_fit)
                for u in bf.held_out_loads(backend_fit) if u <= 0.8 + 1e-9]
    seeds = [seed + k for k in range(reps)]
    extra: dict[str, Any] = {}
    with Testbed(settings.settings, realtime=realtime, backend=backend) as tb:
        for sc in scs:
            results[sc.name] = {}
            model_sc = bf.for_model(sc, backend_fit) if backend_fit is not None and backend == "sqlite" else None
            for arm in arms:
                results[sc.name][arm.name] = verify_arm(tb, sc, arm, settings, seeds, cal, retries, progress, model_sc)
        from mbsim.verify.arms import ARMS
        for sc in held:
            results[sc.name] = {"none": verify_arm(tb, sc, ARMS["none"], settings, seeds, cal, retries, progress)}
        pp: dict[str, Any] | None = None
        if pingpong_rounds and any(a.name == "horn" for a in arms):
            progress(f"kernel against user space: {pingpong_rounds} ping-pong rounds")
            rtt = calibrate.pingpong(tb, pingpong_rounds)
            pp = {"ratio": calibrate.kernel_to_user(rtt), "rounds": pingpong_rounds, "pm_qos": tb.pm_qos,
                  **{f"{k}_p50_us": float(np.median(v)) for k, v in rtt.items()},
                  **{f"{k}_n": int(v.size) for k, v in rtt.items()}}
            if tb.pm_qos:  # and with idle CPUs halting, as on a machine without the request
                progress(f"kernel against user space without the PM QoS request: {pingpong_rounds} rounds")
                with tb.without_pm_qos():
                    rtt = calibrate.pingpong(tb, pingpong_rounds)
                pp["halting"] = {"ratio": calibrate.kernel_to_user(rtt),
                                 **{f"{k}_p50_us": float(np.median(v)) for k, v in rtt.items()}}
            extra["kernel_vs_user"] = pp
        if pinning and any(a.name == "horn" for a in arms):
            horn = next(a for a in arms if a.name == "horn")
            progress(f"{scs[0].name} / horn, unpinned")
            tb.pinned = False
            unpinned = run_once(tb, scs[0], horn, settings, seed, cal, retries)
            tb.pinned = True
            pinned = results[scs[0].name]["horn"]
            extra["pinning"] = {"scenario": scs[0].name, "arm": "horn",
                                "pinned": {k: pinned["measured"][k] for k in ("p99", P99_JITTER_MS)},
                                "unpinned": {k: unpinned["measured"][k] for k in ("p99", P99_JITTER_MS)},
                                "lateness_p99_us": {"pinned": pinned["generator_lateness_us"]["p99"],
                                                    "unpinned": unpinned["generator_lateness_us"]["p99"]}}
        if sweep and backend == "timer":
            points = []
            for u in ((0.2, 0.5, 0.8, 0.95) if quick else (0.2, 0.4, 0.6, 0.8, 0.9, 0.95)):
                sc = sweep_scenario(u, 5.0 if quick else 10.0)
                progress(f"load sweep {u:.0%}")
                r = run_once(tb, sc, ARMS["none"], settings, seed, cal, retries)
                points.append({"utilisation": u, "p50": r["p50"], "p99": r["p99"], "passed": r["passed"],
                               "achieved_rps": r["achieved_rps"]})
            extra["sweep"] = points
    util = {sc.name: utilisation(sc) for sc in (*scs, *held)}
    used: dict[str, Any] | None = None
    if cal:
        used = {k: cal[k] for k in ("base_rtt_us", "kernel_answer_us", "user_answer_us") if k in cal}
        used["machine"] = cal.get("machine")
    if backend_fit is not None and backend == "sqlite":
        extra["backend_fit"] = {k: v for k, v in backend_fit.items() if k not in ("service", "provenance")}
        # the fit's own record stays in its file; here, which code measured it
        extra["backend_fit"]["measured_by"] = (backend_fit.get("provenance") or {}).get("git")
        extra["backend_fit"]["service"] = {k: v for k, v in backend_fit["service"].items() if k != "samples_ms"}
    doc: dict[str, Any] = {"scenarios": results, "seed": seed, "quick": quick, "arms": [a.name for a in arms],
           "settings": to_dict(settings.settings), "utilisation": util, "what_is_emulated": WHAT[backend],
           "backend": backend,
           "reps": reps, "seeds": seeds, "realtime": realtime,
           "calibration": used,
           **extra}
    doc["goals"] = verdict.goals(results, settings.settings.fallback.deadline_ms, pp, util)
    return doc


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without the raw curves (JSON-ready)."""
    out = json.loads(json.dumps(doc, default=_json))
    typed: dict[str, Any] = out
    return typed


def _json(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return None  # the raw curves stay out of the JSON
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, Percentile):
        return v.as_dict()
    return str(v)


def strip_curves(doc: dict[str, Any]) -> dict[str, Any]:
    for arms in doc["scenarios"].values():
        for r in arms.values():
            r.pop("_curves", None)
    return doc


def markdown(doc: dict[str, Any]) -> str:
    lines = ["Predicted (simulator, calibrated) against measured (testbed) for each scenario and arm. "
             "Percentiles in ms from the planned send, with the measured 95 % distribution-free interval, the "
             "samples n and those beyond the percentile (of every k-th request when consecutive latencies are "
             "correlated: the interval is as wide as n / k independent samples allow); * = fewer than 100 beyond "
             "it (not meaningful). `in` = the measured interval contains the prediction. A run whose validity "
             "gates failed is marked, with the gates that failed: its numbers are not a measurement.", "",
             f"What the testbed emulates and what is real: {doc['what_is_emulated']}.", ""]
    for sc, arms in doc["scenarios"].items():
        lines += [f"### {sc} (utilisation {doc['utilisation'].get(sc, math.nan):.0%})", "",
                  "| arm | metric | measured | predicted | error | in |", "|---|---|---|---|---|---|"]
        for arm, r in arms.items():
            failed = [g["name"] for g in r["gates"] if not g["passed"] and g["name"] != "independence"]
            gate = f" (INVALID: {', '.join(failed)} gate)" if failed else ""
            every = f", every {r['thin']}th" if r.get("thin", 1) > 1 else ""
            for name in verdict.PCT:
                m = r[name]["measured"]
                star = "" if r[name]["meaningful"] else "*"
                lines.append(f"| {arm}{gate} | {name.upper().replace('_', '.')} | {fmt(m['value'])}{star} "
                             f"({fmt(m['ci_low'])}..{fmt(m['ci_high'])}, n {m['n']}{every}, beyond {m['beyond']}) | "
                             f"{fmt(r[name]['predicted']['value'])} | {verdict.pct(r[name]['error'], '-')} | "
                             f"{'yes' if r[name]['contained'] else 'no'} |")
            for name in verdict.RATIOS:
                lines.append(f"| {arm}{gate} | {name} | {fmt(r[name]['measured'], 5)} | "
                             f"{fmt(r[name]['predicted'], 5)} | "
                             f"{100 * r[name]['error_points']:+.2f} pt | |")
            for name in (P99_JITTER_MS, DECISION_ACCURACY):
                lines.append(f"| {arm}{gate} | {name} | {fmt(r[name]['measured'])} | {fmt(r[name]['predicted'])} | "
                             f"{verdict.pct(r[name]['error'], '-')} | |")
            t = r[TRANSITIONS_TO_OPEN]
            lines.append(f"| {arm}{gate} | breaker openings | {t['measured']} | {t['predicted']} | | |")
            g = r["generator_lateness_us"]
            lines.append(f"| {arm}{gate} | generator lateness p50/p99/max us | {g['p50']:.1f} / {g['p99']:.1f} / "
                         f"{g['max']:.0f} | | | |")
            ind = next((g for g in r["gates"] if g["name"] == "independence"), None)
            if ind is not None and not ind["passed"]:
                lines.append(f"| {arm} | note | {ind['note']}: intervals widened by sectioning (20 blocks) | | | |")
        lines.append("")
    lines += ["### Prediction errors across runs", "",
              "Each (scenario, arm) ran on the seeds " + ", ".join(str(x) for x in doc.get("seeds", [doc["seed"]]))
              + ". Mean error with its 95 % t-interval; planned: latency from the planned send against the "
              "prediction from the planned arrivals, counted only over runs whose generator passed its gates; "
              "realized: latency from the actual send (its kernel transmit timestamp) against the prediction from "
              "the sends the generator really made, over every run.", "",
              "| scenario | arm | metric | planned | realized |", "|---|---|---|---|---|"]
    for sc, arms in doc["scenarios"].items():
        for arm, r in arms.items():
            acr = r.get("across")
            if not acr:
                continue
            for name in verdict.JUDGED:
                cells = [verdict.error_cell(acr[basis][name], name) for basis in verdict.BASES]
                lines.append(f"| {sc} | {arm} | {name} | {cells[0]} | {cells[1]} |")
    lines.append("")
    shares = [x.get("kernel_tx_share", 0.0) for arms in doc["scenarios"].values() for r in arms.values()
              for x in r.get("runs", [])]
    if shares:
        lines += [f"Realized sends are the kernel's transmit timestamps of the first sends: {100 * min(shares):.1f} "
                  f"to {100 * max(shares):.1f} % of them per run (the rest: the sender's clock just before the "
                  f"send, e.g. a first ask that went to the sidecar).", ""]
    kv = doc.get("kernel_vs_user")
    if kv:
        lines += [f"Kernel against user space, measured in this run ({kv['rounds']} ping-pong rounds"
                  f"{', idle CPUs polling (PM QoS request 0 us)' if kv.get('pm_qos') else ''}): kernel answer "
                  f"{kv['kernel_p50_us']:.1f} us, user-space answer {kv['user_p50_us']:.1f} us, base round trip "
                  f"{kv['base_p50_us']:.1f} us (p50s): {kv['ratio']:.1f}x."]
        h = kv.get("halting")
        if h:
            lines += [f"With idle CPUs halting (the request released): kernel {h['kernel_p50_us']:.1f} us, user space "
                      f"{h['user_p50_us']:.1f} us, base {h['base_p50_us']:.1f} us: {h['ratio']:.1f}x. A user-space "
                      "answer pays the wake-up of a halted (virtual) CPU; the kernel's does not."]
        lines.append("")
    fit = doc.get("backend_fit")
    if fit:
        from mbsim.verify.backend_fit import markdown as fit_markdown

        lines += ["## The real backend's model, fitted on this machine", "",
                  "Measured on the testbed with the SQLite backend (`mbsim calibrate --backend sqlite`): each request "
                  "class's service-time distribution, the effective worker count and the load function. The loads "
                  "held out of the fit are verified above as scenarios of their own (`held-out-*`, light requests "
                  "only, none arm). Figure: `load-function.png`.", "", fit_markdown(fit)]
    lines += ["### Goals", "", "| goal | verdict | numbers |", "|---|---|---|"]
    for g in doc["goals"]:
        lines.append(f"| {g['goal']} | {g['status'] if g['met'] is None else ('met' if g['met'] else '**missed**')} "
                     f"| {verdict.describe(g)} |")
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], out: Path, command: str) -> dict[str, Path]:
    """JSON and markdown of every scenario, one CCDF figure per scenario, the sweep figure."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for sc, arms in doc["scenarios"].items():
        files[f"{sc}-cdf"] = plots.ccdfs(sc, {a: r["_curves"] for a, r in arms.items()}, out / f"{sc}-cdf.png")
    if doc.get("sweep"):
        files["sweep"] = plots.sweep(doc["sweep"], out / "load-sweep.png")
    if doc.get("backend_fit"):
        files["load-function"] = plots.backend_fit(doc["backend_fit"]["load_fit"], out / "load-function.png")
    record = public(strip_curves(dict(doc)))
    record["provenance"] = provenance(command=command, seed=doc["seed"], quick=doc["quick"])
    files["json"] = out / "verification.json"
    files["json"].write_text(json.dumps(record, indent=1) + "\n")
    files["md"] = out / "verification.md"
    files["md"].write_text(dirty_banner(record["provenance"]) + f"Command: `{command}`\n\n" + markdown(record))
    return files
