"""``mbsim run``: the whole story, stage by stage, into one offline report.

1. **model**: every scenario of the table under ``none``, ``breaker`` and ``mbb`` (one
   seed each), then ``mbb`` against the peers on the focus scenario (common random
   numbers, replications, 95 % intervals);
2. **overload**: the overload scenario (goodput ratio, fresh share, false opens, recovery);
3. **tuning**: a short study of mbb's settings on the focus scenario, then the Pareto front
   of P99 against the snapshot share;
4. **export**: the tuned settings as config (JSON, YAML), C header, the horn's object (when
   clang is there), tc scripts, the MountainBikeQoS manifest and its CRD;
5. **verification**: with root and BPF, the exported settings' horn on the testbed against
   the model's prediction; otherwise one line says why it was skipped.

Each stage returns its tables, figures, goals and provenance; :func:`write_report` turns
them into ``index.html`` (:mod:`mbsim.report.html`) and ``results.json``.
"""
from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mbsim.errors import ConfigError
from mbsim.metrics.registry import (
    BREAKER_OPENS,
    DECISION_ACCURACY,
    FALLBACK_RATIO,
    FALSE_OPEN_SHARE,
    FRESH_SHARE,
    OVERLOAD_GOODPUT_RATIO,
    P50_MS,
    P99_JITTER_MS,
    P99_MS,
    P9999_MS,
    RECOVERY_S,
    SLO_MET,
    SUCCESS_RATIO,
)
from mbsim.params import loads_strict, read_text
from mbsim.provenance import provenance

TABLE_POLICIES = ("none", "breaker", "mbb")
PEER_COLS = ["policy", SUCCESS_RATIO, FALLBACK_RATIO, FRESH_SHARE, P99_MS, P9999_MS, P99_JITTER_MS,
             DECISION_ACCURACY]
PEER_HEAD = ["policy", "success", "snapshot share", "fresh share", "P99 ms", "P99.99 ms", "P99 jitter ms",
             "decision accuracy"]
OVERLOAD_COLS = ["policy", OVERLOAD_GOODPUT_RATIO, FRESH_SHARE, FALSE_OPEN_SHARE, RECOVERY_S,
                 BREAKER_OPENS, SUCCESS_RATIO, P99_MS]
OVERLOAD_HEAD = ["policy", "overload goodput ratio", "fresh share", "false-open share", "recovery s",
                 "breaker opens", "success", "P99 ms"]
OVERLOAD_POLICIES = ("mbb", "mbb-literal", "none", "breaker", "hystrix-tuned", "resilience4j-tuned",
                     "gradient2-tuned", "vegas-tuned", "envoy-tuned", "sre-tuned", "gobreaker-tuned")
QUICK_OVERLOAD_POLICIES = ("mbb", "mbb-literal", "none", "gradient2-tuned")
CONFIG_KEYS = ("scenarios", "focus", "overload", "policies", "reps", "budget", "pareto_budget", "verify",
               "verify_scenario", "verify_reps", "verify_duration_s", "verify_backends", "slo", "seed")
BACKENDS = ("sqlite", "timer")


@dataclass
class RunConfig:
    """What ``mbsim run`` does (the embedded default, or ``--config FILE``)."""

    scenarios: list[str] = field(default_factory=list)  # the table's; empty: every built-in one
    focus: str = "tail-spike"  # peers, tuning and the front run here
    overload: str = "overload"
    policies: list[str] = field(default_factory=list)  # empty: every policy
    reps: int = 3
    budget: int = 16
    pareto_budget: int = 20
    verify: bool = True
    verify_scenario: str = "loss12"
    verify_reps: int = 3  # testbed runs of each arm, on distinct seeds
    verify_duration_s: float = 10.0  # each testbed run's length (s)
    # the real database first (its model fitted here), then the emulated service
    verify_backends: list[str] = field(default_factory=lambda: list(BACKENDS))
    slo: dict[str, Any] | None = None  # changes to the focus scenario's SLO
    seed: int = 1
    quick: bool = False

    def quickened(self) -> RunConfig:
        return replace(self, quick=True, reps=min(self.reps, 2), budget=min(self.budget, 8),
                       pareto_budget=min(self.pareto_budget, 10))


def load_config(path: str | Path) -> RunConfig:
    """A run configuration file: a JSON object with any of :data:`CONFIG_KEYS`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {path}: no such file")
    data = loads_strict(read_text(p), str(p))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a run configuration is a JSON object")
    unknown = [k for k in data if k not in CONFIG_KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(CONFIG_KEYS)})")
    cfg = RunConfig()
    types: dict[str, Any] = {
        "scenarios": list, "focus": str, "overload": str, "policies": list, "reps": int, "budget": int,
        "pareto_budget": int, "verify": bool, "verify_scenario": str, "verify_reps": int,
        "verify_duration_s": (int, float), "verify_backends": list, "slo": dict, "seed": int}
    for k, v in data.items():
        want = types[k]
        if not isinstance(v, want) or (want in (int, (int, float)) and isinstance(v, bool)):
            name = "number" if isinstance(want, tuple) else want.__name__
            raise ConfigError(f"{path}: {k} must be {name}, got {json.dumps(v)[:40]}")
        setattr(cfg, k, v)
    check(cfg, str(path))
    return cfg


def _scenario(name: str) -> Any:
    from mbsim.world.catalog import load

    return load(name)


def check(cfg: RunConfig, source: str = "run") -> None:
    """Every name and number, before anything runs."""
    from mbsim import policies
    from mbsim.params import check_seed, override

    for name in [*cfg.scenarios, cfg.focus, cfg.overload]:
        if not isinstance(name, str):
            raise ConfigError(f"{source}: a scenario is a name or a .json file, got {json.dumps(name)[:40]}")
        _scenario(name)
    for name in cfg.policies:
        if not isinstance(name, str):
            raise ConfigError(f"{source}: a policy is a name, got {json.dumps(name)[:40]}")
        policies.get(name)
    if cfg.policies and "mbb" not in cfg.policies:
        raise ConfigError(f"{source}: policies must include mbb (the story compares it with the others)")
    for key, low, high in (("reps", 2, 100), ("budget", 2, 1000), ("pareto_budget", 2, 1000), ("verify_reps", 3, 100),
                           ("verify_duration_s", 2, 600)):
        v = getattr(cfg, key)
        if not low <= v <= high:
            raise ConfigError(f"{source}: {key} must be in [{low}, {high}], got {v}")
    try:
        check_seed(cfg.seed)
    except ConfigError as exc:
        raise ConfigError(f"{source}: seed: {exc}") from None
    if cfg.slo:
        try:
            override(_scenario(cfg.focus), {f"slo.{k}": v for k, v in cfg.slo.items()})
        except ConfigError as exc:
            raise ConfigError(f"{source}: slo: {exc}") from None
    from mbsim.verify.scope import VERIFIED

    if cfg.verify_scenario not in VERIFIED:
        raise ConfigError(f"{source}: verify_scenario must be one of {', '.join(VERIFIED)}, "
                          f"got {cfg.verify_scenario!r}")
    bad = [b for b in cfg.verify_backends if b not in BACKENDS]
    if bad or not cfg.verify_backends or len(set(cfg.verify_backends)) != len(cfg.verify_backends):
        raise ConfigError(f"{source}: verify_backends lists each of {', '.join(BACKENDS)} at most once, got "
                          f"{json.dumps(cfg.verify_backends)[:60]}")


@dataclass
class Stage:
    key: str
    title: str
    intro: str = ""
    tables: list[dict[str, Any]] = field(default_factory=list)  # {rows, columns, headers, caption}
    figures: list[tuple[Path, str]] = field(default_factory=list)
    goals: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


Say = Callable[[str], None]


def _focus(cfg: RunConfig) -> Any:
    from mbsim.params import override

    sc = _scenario(cfg.focus)
    return override(sc, {f"slo.{k}": v for k, v in (cfg.slo or {}).items()}) if cfg.slo else sc


def stage_model(cfg: RunConfig, out: Path, say: Say) -> Stage:
    from mbsim.comparison.compare import DEFAULT_POLICIES, compare
    from mbsim.comparison.figures import all_figures
    from mbsim.engine.simulate import simulate
    from mbsim.world import catalog

    st = Stage("model", "1. The model and the peers",
               "Every scenario under no protection, a plain breaker and mbb (one seed each), then mbb against the "
               "peers on the focus scenario with common random numbers: mean (95 % interval over replications).")
    names = cfg.scenarios or [n for n in catalog.names() if n != "overload"]
    rows = []
    for n in names:
        sc = _scenario(n)
        for pol in TABLE_POLICIES:
            say(f"model: {sc.name} / {pol}")
            rows.append(simulate(sc, policy=pol, seed=cfg.seed, duration_s=8.0 if cfg.quick else None).row())
    st.tables.append({"rows": rows, "columns": ["scenario", "policy", SUCCESS_RATIO, FALLBACK_RATIO,
                                                FRESH_SHARE, P50_MS, P99_MS, P9999_MS, DECISION_ACCURACY,
                                                SLO_MET],
                      "headers": ["scenario", "policy", "success", "snapshot share", "fresh share", "P50 ms", "P99 ms",
                                  "P99.99 ms", "decision accuracy", "SLO met"],
                      "caption": f"every scenario, seed {cfg.seed}" + (" (8 s runs)" if cfg.quick else "")})
    mbb_rows = [r for r in rows if r["policy"] == "mbb"]
    worst = min(mbb_rows, key=lambda r: r[SUCCESS_RATIO])
    st.goals.append({"goal": "mbb answers at least 99.9 % of requests in every scenario (article: 99.97 % under "
                             "12 % loss)", "value": f"lowest {worst['success_ratio']:.5f} ({worst['scenario']})",
                     "met": worst[SUCCESS_RATIO] >= 0.999})
    pols = cfg.policies or list(DEFAULT_POLICIES)
    say(f"model: mbb against {len(pols) - 1} policies on {cfg.focus} ({cfg.reps} replications)")
    study = compare(_focus(cfg), pols, reps=cfg.reps, seed=cfg.seed, quick=cfg.quick, cpu=False)
    peers = study.table_rows()
    st.tables.append({"rows": peers, "columns": PEER_COLS, "headers": PEER_HEAD,
                      "caption": f"{study.scenario.name}: {len(study.seeds)} replications of "
                                 f"{study.scenario.duration_s:g} s, seeds {study.seeds}"})
    figs = all_figures(study, out / "peers")
    for key, caption in (("latency_cdfs", "latency distributions (common random numbers)"),
                         ("p99_over_time", "P99 per second"), ("state_timelines", "breaker states over time")):
        if key in figs:
            st.figures.append((figs[key], f"{study.scenario.name}: {caption}"))
    st.notes += study.verdicts()
    st.data = {"table": rows, "peers": study.to_dict()}
    return st


def stage_overload(cfg: RunConfig, out: Path, say: Say) -> Stage:
    from mbsim.comparison.compare import compare
    from mbsim.comparison.figures import all_figures

    st = Stage("overload", "2. Healthy overload",
               "Offered load ramps to twice the capacity and back. Overload goodput ratio: answers within the SLO "
               "per second over min(arrivals, capacity) while overloaded; false opens: breaker time open while the "
               "backend was healthy.")
    pols = [p for p in (QUICK_OVERLOAD_POLICIES if cfg.quick else OVERLOAD_POLICIES)
            if not cfg.policies or p in cfg.policies]
    say(f"overload: {len(pols)} policies on {cfg.overload} ({cfg.reps} replications)")
    # never shortened: the ramp up and back down is the point (--quick runs fewer policies)
    study = compare(_scenario(cfg.overload), pols, reps=cfg.reps, seed=cfg.seed, quick=False, cpu=False)
    rows = study.table_rows()
    st.tables.append({"rows": rows, "columns": OVERLOAD_COLS, "headers": OVERLOAD_HEAD,
                      "caption": f"{study.scenario.name}: {len(study.seeds)} replications of "
                                 f"{study.scenario.duration_s:g} s"})
    figs = all_figures(study, out / "overload")
    for key, caption in (("goodput_over_time", "goodput per second"), ("health", "health per policy")):
        if key in figs:
            st.figures.append((figs[key], f"{study.scenario.name}: {caption}"))
    mbb = next(r for r in rows if r["policy"] == "mbb")
    g = mbb.get(OVERLOAD_GOODPUT_RATIO, math.nan)
    st.goals.append({"goal": "mbb keeps the overload goodput ratio at 0.9 or more", "value": f"{g:.3f}",
                     "met": bool(g >= 0.9)})
    st.goals.append({"goal": "mbb's breaker never opens on a healthy, overloaded backend",
                     "value": f"false-open share {mbb.get('false_open_share', math.nan):.3f}",
                     "met": bool(mbb.get(FALSE_OPEN_SHARE, 1) == 0)})
    st.notes += study.verdicts()
    st.data = study.to_dict()
    return st


def stage_tuning(cfg: RunConfig, out: Path, say: Say) -> Stage:
    from mbsim.tuning import pareto, space, study
    from mbsim.tuning.executors import LocalExecutor
    from mbsim.tuning.objective import Objective

    st = Stage("tuning", "3. A tuned setting and its trade-off",
               "A short Bayesian study of mbb's settings (skopt, constraints modelled: success >= 99.9 %, snapshot "
               "share <= 5 %, the SLO), confirmed against the article's defaults on fresh seeds; then the Pareto "
               "front of P99 against the snapshot share (Optuna, multi-objective).")
    sc = _focus(cfg)
    name, spec = study.scenario_ref(cfg.focus, sc, bool(cfg.slo))
    dims = space.build(["fallback.deadline_ms", "breaker.failure_ratio", "breaker.open_ms", "buffer.capacity_max"])
    root = out / "studies"
    ex = LocalExecutor()
    try:
        c = study.StudyConfig(name="tuned", scenario=name, objective=Objective(), dims=dims, budget=cfg.budget,
                              seed=cfg.seed, n_seeds=1, quick=True, batch=ex.workers, confirm=3 if cfg.quick else 5,
                              scenario_spec=spec)
        say(f"tuning: {cfg.budget} evaluations on {name}")
        s = study.run(c, fresh_study(root, "tuned", say), ex,
                      on_result=lambda rec, best: say(f"tuning: evaluation {rec['id'] + 1}/{cfg.budget}, best "
                                                      f"{best:.4g}"))
        p = study.StudyConfig(name="front", scenario=name, objective=Objective(), dims=dims,
                              budget=cfg.pareto_budget, backend="optuna", seed=cfg.seed, n_seeds=1, quick=True,
                              batch=ex.workers, confirm=2, scenario_spec=spec, pareto=["p99", "fallback"])
        say(f"tuning: the front, {cfg.pareto_budget} evaluations")
        f = study.run(p, fresh_study(root, "front", say), ex)
    finally:
        ex.close()
    ev = s["evaluation"]
    t, d = ev["tuned"], ev["default"]
    rows = [{"which": which, **{k: x[k]["mean"] for k in (P99_MS, P99_JITTER_MS, SUCCESS_RATIO,
                                                           FALLBACK_RATIO)},
             "feasible": ev[f"{key}_feasible_share"]} for which, key, x in (("tuned", "tuned", t),
                                                                          ("article's defaults", "default", d))]
    st.tables.append({"rows": rows, "columns": ["which", P99_MS, P99_JITTER_MS, SUCCESS_RATIO, FALLBACK_RATIO,
                                                "feasible"],
                      "headers": ["settings", "P99 ms", "P99 jitter ms", "success", "snapshot share",
                                  "feasible share"],
                      "caption": f"on {len(ev['fresh_seeds'])} fresh seeds (6 s runs)"})
    best = s["best"]["params"]
    st.tables.append({"rows": [{"dimension": k, "tuned": v, "article": space.defaults(dims)[k]}
                               for k, v in best.items()], "columns": ["dimension", "tuned", "article"],
                      "caption": "the tuned settings"})
    diff = ev["tuned_minus_default"][P99_MS]
    st.goals.append({"goal": "the tuned settings are feasible on fresh seeds (success, snapshot share, SLO)",
                     "value": f"feasible share {ev['tuned_feasible_share']:.2f}",
                     "met": ev["tuned_feasible_share"] >= 0.5})
    st.notes.append(f"tuned minus default P99: {diff['mean']:.3f} ms (95 % CI {diff['ci_low']:.3f}.."
                    f"{diff['ci_high']:.3f}); the defaults answer {d['fallback_ratio']['mean']:.1%} from the "
                    f"snapshot, the tuned settings {t['fallback_ratio']['mean']:.1%}.")
    front_doc = json.loads(Path(f["front"]["path"]).read_text())
    st.tables.append({"rows": [{"trial": x["trial"], P99_MS: x[P99_MS], FALLBACK_RATIO: x[FALLBACK_RATIO],
                                "deadline_ms": x["params"]["fallback.deadline_ms"]} for x in front_doc["front"]],
                      "columns": ["trial", P99_MS, FALLBACK_RATIO, "deadline_ms"],
                      "headers": ["trial", "P99 ms", "snapshot share", "deadline ms"],
                      "caption": "the Pareto front (export one: mbsim export STUDY --trial N)"})
    st.figures.append((Path(f["front"]["figure"]), "P99 against the snapshot share: P99 is bought with stale answers"))
    _convergence(root / "tuned", out / "convergence.png")
    st.figures.append((out / "convergence.png", "the study's best value so far"))
    st.files = {"settings": s["settings_path"], "front": f["front"]["path"]}
    st.data = {"summary": {k: v for k, v in s.items() if k != "best"}, "best": s["best"]["params"],
               "front": front_doc, "pareto_module": pareto.__name__}
    return st


def _convergence(study_dir: Path, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    recs = [json.loads(x) for x in (study_dir / "evaluations.jsonl").read_text().splitlines()]
    v = np.minimum.accumulate([r["value"] for r in recs])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(v) + 1), v, marker="o", ms=3)
    ax.scatter(range(1, len(recs) + 1), [r["value"] for r in recs], s=8, color="grey", label="each evaluation")
    ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("P99 ms + penalties")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def stage_export(settings_path: str, out: Path, say: Say) -> Stage:
    from mbsim.deploy.export import export

    st = Stage("export", "4. The exported configuration",
               "The tuned settings compiled for production: what mbsim apply and the Kubernetes operator read.")
    say("export: config, header, object, scripts, manifest, CRD")
    files = export(settings_path, out / "export", "mbsim-tuned")
    st.files = {k: str(v) for k, v in files.items()}
    st.goals.append({"goal": "the horn's object is built (clang and libbpf present)",
                     "value": files.get("object", "not built"), "met": "object" in files})
    cfg_doc = json.loads(Path(files["json"]).read_text()) if "json" in files else {}
    if cfg_doc:
        st.notes.append("mbb-config.json settings: " + json.dumps(cfg_doc.get("settings", {}).get("fallback", {})))
    return st


def stage_verify(cfg: RunConfig, settings_path: str, out: Path, say: Say) -> Stage:
    st = Stage("verify", "5. The real kernel fallback against the prediction")
    if not cfg.verify:
        st.skipped = "verification is off in the run configuration (verify: false)"
        return st
    from mbsim.errors import MbsimError
    from mbsim.verify.scope import needs_testbed

    try:
        needs_testbed("verification")
    except MbsimError as exc:
        st.skipped = str(exc)
        return st
    from mbsim.formats.settings_file import load as load_settings
    from mbsim.verify import arms as arms_mod
    from mbsim.verify import calibrate
    from mbsim.verify import run as vrun

    settings = load_settings(settings_path)
    notes: list[str] = []

    def note(m: str) -> None:
        notes.append(m)
        say(f"verify: {m}")

    cal = calibrate.for_this_machine(None, lambda: calibrate.calibrate(rounds=300, duration_s=2.0, progress=say), note)
    sc = vrun.scenario_for(cfg.verify_scenario, quick=True)
    if cfg.verify_duration_s < sc.duration_s:
        sc = replace(sc, duration_s=float(cfg.verify_duration_s), warmup_s=min(sc.warmup_s, cfg.verify_duration_s / 4))
    fitted = None
    if "sqlite" in cfg.verify_backends:
        from mbsim.verify import backend_fit

        fitted = calibrate.for_this_machine(
            None, lambda: backend_fit.calibrate(settings, quick=True, run_s=min(3.0, cfg.verify_duration_s),
                                                loads=(0.2, 0.4, 0.6) if cfg.quick else None,
                                                progress=lambda m: say(f"verify: backend fit: {m}")),
            note, default=backend_fit.DEFAULT_PATH, loader=backend_fit.load)
        st.notes.append("The real database backend's model, fitted on this machine: " + fitted["verdict"])
    st.notes.extend(notes)
    from mbsim.verify import verdict

    recs = {}
    for backend in cfg.verify_backends:
        say(f"verify: {cfg.verify_scenario} on the testbed with the {backend} backend (none, breaker, horn), "
            f"{cfg.verify_reps} runs each")
        doc = vrun.verify([sc], arms_mod.get(None), settings, seed=cfg.seed, cal=cal, reps=cfg.verify_reps,
                          pinning=False, backend=backend, backend_fit=fitted if backend == "sqlite" else None,
                          progress=lambda m: say(f"verify: {m}"))
        files = vrun.write(doc, out / "verification" / backend, f"mbsim run ({backend} backend)")
        rec = json.loads(Path(files["json"]).read_text())
        recs[backend] = rec
        rows = []
        for scenario, arms in rec["scenarios"].items():
            for arm, r in arms.items():
                for name in verdict.JUDGED:
                    row: dict[str, Any] = {"scenario": scenario, "arm": arm,
                                           "metric": name.upper() if name.startswith("p") else name.replace("_", " ")}
                    for basis in verdict.BASES:
                        row[basis] = verdict.error_cell(r["across"][basis][name], name)
                    rows.append(row)
        what = ("the real SQLite backend (the model fitted to it; the loads held out of the fit below the scenario)"
                if backend == "sqlite" else "the emulated service (timers play the model's own service times)")
        st.tables.append({"rows": rows, "columns": ["scenario", "arm", "metric", "planned", "realized"],
                          "caption": f"{sc.name} on {what}, {cfg.verify_reps} runs of {sc.duration_s:g} s per arm: the "
                                     f"prediction error's mean and 95 % interval, from the planned arrivals (runs "
                                     f"whose generator passed its gates) and from the realized sends (every run). "
                                     f"What is emulated and what is real: {rec['what_is_emulated']}."})
        for k, v in files.items():
            if str(v).endswith(".png"):
                st.figures.append((Path(v), f"{backend} backend, {k}: measured and predicted latency"))
        for g in rec["goals"]:
            st.goals.append({"goal": f"{backend} backend: {g['goal']}", "value": verdict.describe(g),
                             "met": g["met"], "status": g["status"]})
    st.data = recs
    return st


def stage_online(out: Path, say: Say, source: Path | None = None) -> Stage:
    """The online tuning demonstration on record (``mbsim tune --online --demo`` writes it; it
    takes about 6 minutes on the testbed, so the report shows the latest one, with its
    provenance, rather than running it)."""
    from mbsim.provenance import DATA

    st = Stage("online", "6. Online tuning on the running horn",
               "Safe online BO, plain online BO and the offline-tuned settings, on one load whose terrain "
               "changes midway, on the real SQLite backend, read from a real Prometheus.")
    path = source or DATA / "online" / "demo" / "result.json"
    if not path.is_file():
        st.skipped = f"no online demonstration on record ({path} is missing): run mbsim tune --online --demo"
        return st
    doc = json.loads(path.read_text())
    say(f"online: the demonstration on record ({path})")
    prov = doc.get("provenance", {})
    st.provenance = prov
    rows = []
    for arm, label in (("safe", "safe online BO"), ("plain", "plain online BO"), ("fixed", "offline settings, fixed")):
        s = doc["summary"][arm]
        reach = s["time_to_within_5pct_s"]
        rows.append({"arm": label, "windows over the SLO": f"{s['over']} of {s['windows']}",
                     "rollbacks": s["rollbacks"], "unserved, noisy": f"{s['unserved_noisy']:.3f}",
                     "unserved, spike": f"{s['unserved_spike']:.3f}",
                     "within 5 % of offline": "reference" if arm == "fixed" else ", ".join(
                         f"{k}: {'never' if v is None else f'{v:.1f} s'}" for k, v in reach.items())})
    st.tables.append({"rows": rows, "columns": list(rows[0]),
                      "caption": f"measured {prov.get('created', '?')} at {str(prov.get('git', '?'))[:12]} on "
                                 f"{prov.get('kernel', '?')}: {doc['mean_rps']:.0f} req/s mean, SLO P99 "
                                 f"{doc['config']['slo_ms']:g} ms per 1-s window"})
    fig = path.with_name("demo.png")
    if fig.is_file():
        dest = out / "online.png"
        shutil.copyfile(fig, dest)
        st.figures.append((dest, "window P99, the capacity in force and the unserved share, per arm"))
    else:
        st.notes.append(f"the demonstration's figure ({fig}) is missing: left out")
    safe = doc["summary"]["safe"]
    st.goals.append({"goal": "online, with the rails: at most 1 % of 1-s windows over the SLO",
                     "value": f"{safe['over']} of {safe['windows']} ({100 * safe['over_share']:.1f} %)",
                     "met": safe["over_share"] <= 0.01})
    rb = safe["rollback_after_window_s_max"]
    st.goals.append({"goal": "online: a rollback takes effect within 1 s of the window that broke the SLO",
                     "value": "no rollback" if rb is None else f"{rb:.2f} s at most", "met": rb is None or rb <= 1.0})
    return st


def fresh_study(root: Path, name: str, say: Say = lambda m: None) -> Any:
    """The report's own study ``name`` under ``root``, started afresh: a report is rewritten
    whole, and an earlier run's study there would refuse to start again. A directory of that
    name that is not a study is left alone (one-line error)."""
    from mbsim.tuning.storage import StudyStore

    store = StudyStore(name, root)
    if store.dir.exists():
        if not store.exists:
            raise ConfigError(f"{store.dir} is not a study an earlier report wrote: move it away or choose "
                              f"another --out")
        store.load_config()  # a study's own file (its schema checked), else a one-line error
        shutil.rmtree(store.dir)
        say(f"tuning: the earlier run's study {store.dir} replaced")
    return store


def run_story(cfg: RunConfig, out: Path, say: Say = lambda m: None) -> list[Stage]:
    out.mkdir(parents=True, exist_ok=True)
    stages = [stage_model(cfg, out, say), stage_overload(cfg, out, say)]
    tuning = stage_tuning(cfg, out, say)
    stages.append(tuning)
    stages.append(stage_export(tuning.files["settings"], out, say))
    stages.append(stage_verify(cfg, tuning.files["settings"], out, say))
    stages.append(stage_online(out, say))
    return stages


def write_report(stages: list[Stage], cfg: RunConfig, out: Path, command: str) -> dict[str, Path]:
    from mbsim.report.html import Page

    prov = provenance(command=command, seed=cfg.seed, quick=cfg.quick, config=cfg.__dict__)
    page = Page("mbsim: the mountain-bike buffer and the ox-horn, end to end")
    all_goals = [g for s in stages for g in s.goals]
    page.section("summary", "Goals",
                 "Every goal of every stage, met or missed, with its number. Skipped stages say why.")
    page.goals(all_goals + [{"goal": s.title, "value": s.skipped, "status": "skipped"} for s in stages if s.skipped])
    for s in stages:
        page.section(s.key, s.title, s.intro or None)
        if s.skipped:
            page.note(f"skipped: {s.skipped}")
            continue
        for t in s.tables:
            page.table(t["rows"], t["columns"], t.get("headers"), t.get("caption"))
        for path, caption in s.figures:
            page.figure(path, caption)
        for n in s.notes:
            page.text(n)
        if s.files:
            page.files(s.files)
        if s.goals:
            page.goals(s.goals)
    page.section("provenance", "Provenance", "How every number here was made.")
    page.provenance(prov, "git revision, packages, kernel, seeds, settings")
    html_path = page.write(out / "index.html", subtitle=f"{command} - {prov.get('created', '')}")
    doc = {"provenance": prov, "stages": [{"key": s.key, "title": s.title, "skipped": s.skipped, "goals": s.goals,
                                           "files": s.files, "notes": s.notes, "data": s.data} for s in stages]}
    json_path = out / "results.json"
    json_path.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return {"html": html_path, "json": json_path}
