"""Figures of a verification: predicted and measured latency tails on one plot per scenario,
the prediction error against load, and the real backend's load-function fit (matplotlib, PNG)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

COLORS = {"none": "tab:red", "breaker": "tab:orange", "horn": "tab:blue"}


def _save(fig: Any, ax: Any, path: Path, which: str = "major") -> Path:
    """Grid, legend, layout; the figure written to ``path`` (PNG) and closed."""
    ax.grid(True, which=which, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ccdfs(scenario: str, curves: dict[str, dict[str, Any]], path: Path) -> Path:
    """P(latency > x) per arm: measured (solid, from every request) and predicted (dashed,
    the simulator's histogram), log-log."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for arm, c in curves.items():
        color = COLORS.get(arm, "black")
        x = np.sort(np.asarray(c["measured_ms"]))
        if x.size:
            y = 1.0 - np.arange(1, x.size + 1) / x.size
            ax.step(x, np.maximum(y, 0.5 / x.size), where="post", color=color, lw=1.4, label=f"{arm}: measured")
        px, py = c["predicted_cdf"]
        if len(px):
            ax.step(np.asarray(px), np.maximum(1.0 - np.asarray(py), 0.5 / max(1, x.size)), where="post",
                    color=color, lw=1.2, ls="--", label=f"{arm}: predicted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency from the planned send (ms)")
    ax.set_ylabel("P(latency > x)")
    ax.set_title(f"{scenario}: measured on the testbed against the simulator's prediction")
    return _save(fig, ax, path, which="both")


def sweep(points: list[dict[str, Any]], path: Path) -> Path:
    """Relative prediction error of P50 and P99 against utilisation, with the 10 % goal."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    u = [p["utilisation"] for p in points]
    for name, color in (("p50", "tab:blue"), ("p99", "tab:red")):
        ax.plot(u, [100 * p[name]["error"] for p in points], marker="o", color=color, label=f"{name.upper()} error")
    ax.axhspan(-10, 10, color="green", alpha=0.08, label="goal: within 10 %")
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0.8, color="grey", ls=":", label="80 % utilisation")
    ax.set_xlabel("utilisation (offered load / capacity)")
    ax.set_ylabel("measured / predicted - 1 (%)")
    ax.set_title("Where the model's error grows: prediction error against load")
    return _save(fig, ax, path)


FORM_STYLE = {"none": ("tab:grey", ":"), "linear": ("tab:green", "--"), "article": ("tab:purple", "-")}


def backend_fit(result: dict[str, Any], path: Path) -> Path:
    """The sweep's mean service time against load, measured (filled: fitted on, hollow: held
    out) and as each form of the load function predicts it."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    forms = result["forms"]
    pts = forms["none"].get("by_load", [])
    for held, marker in ((False, "o"), (True, "o")):
        sel = [p for p in pts if p["held_out"] == held]
        ax.plot([p["load"] for p in sel], [p["measured_mean_ms"] for p in sel], marker, ms=8, color="black",
                mfc="none" if held else "black", ls="none",
                label="measured, held out of the fit" if held else "measured, fitted on")
    for name, f in forms.items():
        color, ls = FORM_STYLE.get(name, ("black", "-"))
        aic = f["aic"] - min(x["aic"] for x in forms.values())
        by = f.get("by_load", [])
        ax.plot([p["load"] for p in by], [p["predicted_mean_ms"] for p in by], color=color, ls=ls,
                label=f"{name} (AIC +{aic:.0f})")
    ax.set_xlabel("offered load (share of the fitted capacity)")
    ax.set_ylabel("mean service time (ms)")
    ax.set_title("The real backend's service time against load, and the load function's forms")
    return _save(fig, ax, path)
