"""``mbsim calibrate --backend sqlite``: the model of the real backend, fitted from
measurements on this machine only, and the scenarios carried onto it.

On the testbed with the SQLite backend (:mod:`mbsim.verify.db_server`), from the server's
own job records:

1. **classes** - a low-load run (10 % of a first guess of the capacity, 10 % of requests
   heavy): each class's service-time distribution (:func:`fit.distribution`); and one run
   inside a 4x spike window: what a window really does to a job's service time (the query
   grows 4x, the rest of the job's work does not), which :func:`on_backend` gives the
   simulator in place of the scenario's factor;
2. **workers** - a saturated run (light requests at 1.3 times the guess): the effective
   worker count (:func:`fit.effective_workers`), rounded for the simulator;
3. **load sweep** - light requests at 10 % ... 90 % of the capacity so found; the load
   function fitted on every other load and judged on the rest (:func:`fit.split`,
   :func:`fit.fit_load`).

The base distributions are then divided by the fitted load factor that the low-load run
already carried, so that the simulator (which applies the load function itself) starts
from the unloaded service. The fit is stored beside the calibration, with its machine
(``data/calibration/this-machine-sqlite.json``), and :func:`on_backend` carries a scenario
onto the backend: the fitted service and the same utilisation as the scenario's.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mbsim import machine
from mbsim.errors import ConfigError
from mbsim.formats.settings_file import SettingsFile
from mbsim.metrics.registry import P50_MS, P99_MS
from mbsim.params import from_dict, to_dict
from mbsim.provenance import DATA, provenance
from mbsim.verify import fit
from mbsim.verify.arms import ARMS
from mbsim.verify.calibrate import read, testbed_conditions, thinned
from mbsim.verify.database import ROWS, Database
from mbsim.verify.testbed import RawRun, Testbed
from mbsim.world.client import Client
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.service_time import ServiceTime
from mbsim.world.workload import Workload

SCHEMA = "mbsim.backend-fit/1"
DEFAULT_PATH = DATA / "calibration" / "this-machine-sqlite.json"
SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
QUICK_SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
WINDOW_PROBE = 4.0  # the spike window factor whose real cost the fit measures


def guess_light_ms(db: Database, n: int = 300) -> float:
    """A first guess of a light request's service time (ms): ``n`` queries in this process."""
    conn = db.connect()
    try:
        t = time.perf_counter()
        for k in range(n):
            db.query(conn, 10_000 + k, heavy=False)
        return (time.perf_counter() - t) / n * 1e3
    finally:
        conn.close()


def probe(name: str, rate_rps: float, duration_s: float, heavy: float = 0.0, window: float = 1.0) -> Scenario:
    """A calibration run on the backend: ``rate_rps`` of which ``heavy`` are heavy, no
    fault, no retry, a client that waits up to 5 s; with ``window`` > 1, the whole run is
    one spike window of that factor."""
    windows = ((0.0, duration_s + 10.0, window),) if window > 1.0 else ()
    return Scenario(name=name, description=f"backend calibration: {rate_rps:.0f} req/s", duration_s=duration_s,
                    warmup_s=min(1.0, duration_s / 4), service=Service(workers=1),
                    workload=Workload(rate_rps=rate_rps, spike_fraction=heavy, spike_windows=windows),
                    client=Client(timeout_ms=5000.0, max_retries=0))


def window_factor(factor: float, doc: dict[str, Any]) -> float:
    """What a spike window of ``factor`` does to a job's service time on this backend: the
    window lengthens the query ``factor`` times, but not the rest of the job's work. From
    the measured ratio at :data:`WINDOW_PROBE`, linear in the query's length; ``factor``
    itself where the fit measured none."""
    ratio = doc.get("window_ratio")
    if not ratio or factor <= 1.0:
        return factor
    return 1.0 + (float(ratio) - 1.0) * (factor - 1.0) / (WINDOW_PROBE - 1.0)


def _window(raw: RawRun) -> np.ndarray:
    """The jobs of ``raw`` that arrived after its warm-up, without errors."""
    j = raw.jobs
    assert j is not None
    t = (j["arrival_ns"] - raw.t0_ns) / 1e9
    keep: np.ndarray = (t >= raw.scenario.warmup_s) & (t < raw.scenario.duration_s) & (j["error"] == 0)
    return keep


def service_ms(raw: RawRun) -> tuple[np.ndarray, np.ndarray]:
    """Service times (ms) of the light and the heavy jobs of ``raw`` (after its warm-up)."""
    j = raw.jobs
    assert j is not None
    keep = _window(raw)
    s = (j["end_ns"] - j["start_ns"]) / 1e6
    return s[keep & (j["heavy"] == 0)], s[keep & (j["heavy"] == 1)]


def round_trips_us(raw: RawRun) -> np.ndarray:
    """Each first attempt's round trip outside the server (us): its latency from the send
    to the answer's kernel receive time, less its service time, for the jobs that found the
    worker free (no queueing): the network both ways, the server's wake-up and receive. The
    simulator draws each attempt's round trip from these on this backend."""
    j, a = raw.jobs, raw.arrays
    assert j is not None
    first = (j["req_id"] % 4 == 0) & (j["idle"] == 1) & _window(raw)
    idx = (j["req_id"][first] // 4).astype(np.int64)
    sent, answered = a["sent"][0::4][idx], a["live"][0::4][idx]
    ok = (sent > 0) & (answered > 0)
    rtt = ((answered - sent)[ok] - (j["end_ns"][first] - j["start_ns"][first])[ok]) / 1e3
    out: np.ndarray = np.maximum(rtt, 0.0)  # the answer can reach the client before the send returns
    return out


def load_data(raw: RawRun, load: float, capacity_rps: float, psi_scale: float) -> fit.LoadData:
    """The light jobs of one sweep run as :class:`fit.LoadData`."""
    j = raw.jobs
    assert j is not None
    omega, slope = fit.sensor_at(j["arrival_ns"], j["start_ns"], raw.t0_ns, capacity_rps)
    keep = _window(raw) & (j["heavy"] == 0)
    s = (j["end_ns"] - j["start_ns"]) / 1e6
    return fit.LoadData(np.full(int(keep.sum()), load), omega[keep], slope[keep],
                        j["queue"][keep] / psi_scale, s[keep])


def calibrate(settings: SettingsFile | None = None, quick: bool = False, seed: int = 1, db_rows: int = ROWS,
              db_workers: int = 1, loads: Sequence[float] | None = None, boot: int = 200,
              run_s: float | None = None, progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Measure and fit the backend (see the module docstring); returns the document."""
    sf = settings or SettingsFile()
    loads = tuple(loads or (QUICK_SWEEP if quick else SWEEP))
    # the code that measures is the code at the start (an edit meanwhile does not count)
    record = provenance(seed=seed, quick=quick, loads=list(loads), boot=boot, rows=db_rows, db_workers=db_workers)
    fit_loads, held = fit.split(loads)
    run_s = run_s or (3.0 if quick else 5.0)
    psi_scale = Service().load.psi_scale
    with Testbed(sf.settings, backend="sqlite", db_rows=db_rows, db_workers=db_workers) as tb:
        assert tb.db is not None
        conditions = testbed_conditions(tb)
        guess = guess_light_ms(tb.db)
        cap_guess = db_workers / (guess / 1e3)
        progress(f"classes: light and heavy service times at low load (first guess {guess:.3f} ms a light query)")
        low = tb.run(probe("classes", 0.1 * cap_guess, 2 * run_s, heavy=0.1), ARMS["none"], seed)
        light, heavy = service_ms(low)
        rtt = round_trips_us(low)
        if light.size < 100 or heavy.size < 20:
            raise ConfigError(f"the low-load run recorded too few jobs ({light.size} light, {heavy.size} heavy)")
        progress(f"a {WINDOW_PROBE:g}x spike window's real cost: light requests at low load, all inside one")
        win = tb.run(probe("window", 0.1 * cap_guess, run_s, window=WINDOW_PROBE), ARMS["none"], seed)
        window_ratio = float(service_ms(win)[0].mean() / light.mean())
        progress("workers: a saturated run")
        sat = tb.run(probe("saturation", 1.3 * cap_guess, run_s), ARMS["none"], seed + 1)
        assert sat.jobs is not None
        w = (sat.t0_ns + int(sat.scenario.warmup_s * 1e9), sat.t0_ns + int(sat.scenario.duration_s * 1e9))
        c_raw = fit.effective_workers(sat.jobs["end_ns"], w, float(light.mean()))
        workers = max(1, round(c_raw))
        capacity = workers / (float(light.mean()) / 1e3)
        parts, sweep = [], []
        for k, u in enumerate(loads):
            progress(f"load sweep: {u:.0%} of {capacity:.0f} req/s ({k + 1} of {len(loads)})")
            raw = tb.run(probe(f"sweep-{round(u * 100)}", u * capacity, run_s), ARMS["none"], seed + 2 + k)
            d = load_data(raw, u, capacity, psi_scale)
            parts.append(d)
            sweep.append({"load": u, "jobs": int(d.service_ms.size), "held_out": u in held,
                          "mean_ms": float(d.service_ms.mean()), P50_MS: float(np.median(d.service_ms)),
                          P99_MS: float(np.percentile(d.service_ms, 99)), "omega_mean": float(d.omega.mean())})
    progress("fitting the distributions and the load function")
    data = fit.LoadData.concat(parts)
    result = fit.fit_load(data, fit_loads, held, boot=boot, seed=seed)
    lf = fit.load_function(result)
    # the low-load run's service times carry the load factor of its own omega: take it out
    low_data = load_data(low, 0.1, capacity, psi_scale)
    factor = float(np.mean([lf.inflation(o, s, min(p, 1.0)) for o, s, p in
                            zip(low_data.omega, low_data.slope, low_data.psi)])) if low_data.omega.size else 1.0
    classes = {"light": fit.distribution(light, seed), "heavy": fit.distribution(heavy, seed)}
    base_light = fit.scaled(classes["light"]["service_time"], 1.0 / factor)
    base_heavy = fit.scaled(classes["heavy"]["service_time"], 1.0 / factor)
    service = Service(workers=workers, load=lf, heavy=from_dict(ServiceTime, base_heavy),
                      **{k: v for k, v in base_light.items() if k != "samples_ms"},
                      samples_ms=tuple(base_light.get("samples_ms", ())))
    return {
        "schema": SCHEMA,
        "backend": {"kind": "sqlite", "rows": db_rows, "workers": db_workers},
        "classes": classes,
        "low_load_factor": factor,
        "window_ratio": window_ratio,
        "rtt_us": {"n": int(rtt.size), "p50": float(np.median(rtt)), "mean": float(rtt.mean()),
                   "p99": float(np.percentile(rtt, 99)), "samples": thinned(rtt, 2000, 2)},
        "effective_workers": {"measured": c_raw, "used": workers,
                              "throughput_rps": c_raw / (float(light.mean()) / 1e3)},
        "capacity_rps": capacity,
        "sweep": sweep,
        "load_fit": result,
        "verdict": fit.verdict(result),
        "service": to_dict(service),
        "machine": machine.identity(),
        "testbed": conditions,
        "provenance": record,
    }


def load(path: Any = DEFAULT_PATH) -> dict[str, Any]:
    """A stored backend fit, checked."""
    doc = read(path, SCHEMA, "backend fit", "mbsim calibrate --backend sqlite")
    service(doc)
    return doc


def service(doc: dict[str, Any]) -> Service:
    """The fitted service of a backend fit."""
    try:
        return from_dict(Service, doc["service"])
    except (KeyError, TypeError) as e:
        raise ConfigError(f"the backend fit has no usable service ({e})") from None


def on_backend(sc: Scenario, doc: dict[str, Any]) -> Scenario:
    """``sc`` carried onto the real backend: the fitted service and round trip, and every
    rate scaled by the fitted capacity over ``sc``'s, so that the utilisation is the
    scenario's. The testbed runs this; the simulator runs :func:`for_model` of it."""
    svc = service(doc)
    k = svc.capacity_rps / sc.service.capacity_rps
    w = sc.workload
    wl = dataclasses.replace(w, rate_rps=w.rate_rps * k, steps=tuple((a, r * k) for a, r in w.steps),
                             ramps=tuple((s, e, r * k) for s, e, r in w.ramps))
    if sc.faults.delay_spikes or sc.faults.per_request:
        raise ConfigError(f"scenario {sc.name!r}: the sqlite backend does not play delay spikes or per-request "
                          "faults")
    rtt = doc.get("rtt_us") or {}
    net = sc.network
    if rtt.get("samples"):
        net = dataclasses.replace(net, rtt_ms=float(np.mean(rtt["samples"])) / 1e3,
                                  rtt_samples_us=tuple(float(v) for v in rtt["samples"]))
    return dataclasses.replace(sc, service=svc, workload=wl, network=net,
                               description=f"{sc.description} [on the sqlite backend: {k:.3g} of its rates]")


def for_model(sc: Scenario, doc: dict[str, Any]) -> Scenario:
    """The simulator's view of a scenario on the backend: each spike window's factor (by
    which the testbed's server lengthens the queries) replaced by what such a window
    really costs a job here (:func:`window_factor`)."""
    w = sc.workload
    windows = tuple((s, e, window_factor(f, doc)) for s, e, f in w.spike_windows)
    return dataclasses.replace(sc, workload=dataclasses.replace(w, spike_windows=windows))


def held_out_loads(doc: dict[str, Any]) -> list[float]:
    """The sweep's loads that the fit never saw."""
    return [float(u) for u in doc["load_fit"]["held_out_loads"]]


def markdown(doc: dict[str, Any]) -> str:
    """The fit for a person: the classes' comparison, the workers, the sweep, the verdict."""
    lines = ["### Service-time distributions (two-fold cross-validated log-likelihood per sample; higher is better)",
             "", "| class | n | mean ms | p99 ms | lognormal | gamma | empirical | kept |",
             "|---|---|---|---|---|---|---|---|"]
    for name, c in doc["classes"].items():
        ll = {k: f"{v['per_sample']:.3f}" for k, v in c["candidates"].items()}
        lines.append(f"| {name} | {c['n']} | {c['mean_ms']:.3f} | {c[P99_MS]:.3f} | {ll['lognormal']} | "
                     f"{ll['gamma']} | {ll['empirical']} | **{c['best']}** |")
    e = doc["effective_workers"]
    r = doc.get("rtt_us")
    if r:
        lines += ["", f"Round trip outside the server (first attempts that found the worker free, latency less "
                  f"service time): p50 {r['p50']:.1f} us, mean {r['mean']:.1f} us, p99 {r['p99']:.1f} us (n {r['n']})."]
    if doc.get("window_ratio"):
        lines += ["", f"A {WINDOW_PROBE:g}x spike window (the query {WINDOW_PROBE:g} times longer) makes a light job "
                  f"{doc['window_ratio']:.2f} times longer: the model's windows use that."]
    lines += ["", f"Effective workers: {e['measured']:.2f} measured at saturation ({e['throughput_rps']:.0f} req/s), "
              f"{e['used']} in the model; capacity {doc['capacity_rps']:.0f} req/s.", "",
              "### Load sweep (light requests)", "",
              "| load | jobs | mean ms | p50 ms | p99 ms | used for |", "|---|---|---|---|---|---|"]
    for p in doc["sweep"]:
        lines.append(f"| {p['load']:.0%} | {p['jobs']} | {p['mean_ms']:.3f} | {p[P50_MS]:.3f} | {p[P99_MS]:.3f} | "
                     f"{'judging (held out)' if p['held_out'] else 'the fit'} |")
    f = doc["load_fit"]["forms"]
    lines += ["", "| form | AIC | held-out RMS error | coefficients (95 % interval) |", "|---|---|---|---|"]
    for name, r in f.items():
        coef = ", ".join(f"{k} {v:.3g}" + (f" ({r['ci95'][k][0]:.3g}..{r['ci95'][k][1]:.3g})" if k in r["ci95"]
                                             else "") for k, v in r["coefficients"].items() if k != "log_s0")
        rms = r["held_out_rms_error"]
        lines.append(f"| {name} | {r['aic']:.0f} | {'n/a' if rms is None else f'{100 * rms:.1f} %'} | "
                     f"s0 {r['s0_ms']:.3f} ms{', ' + coef if coef else ''} |")
    lines += ["", doc["verdict"], ""]
    return "\n".join(lines)
