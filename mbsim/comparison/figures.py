"""Figures of a comparison study (matplotlib, written as PNG)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mbsim.metrics.registry import DECISION_ACCURACY, FALSE_OPEN_SHARE, FRESH_SHARE, GOODPUT_RATIO

if TYPE_CHECKING:  # pragma: no cover
    from mbsim.comparison.compare import Comparison

STATE_NAMES = {0: "closed", 1: "open", 2: "half-open"}


def latency_cdfs(study: Comparison, path: Path) -> Path:
    """Complementary CDF of latency per policy (first replication), log-log."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, s in study.summaries.items():
        cdf = s.runs[0].get("cdf")
        if not cdf or not cdf[0]:
            continue
        x, y = cdf
        ax.step([v * 1e3 for v in x], [max(1e-6, 1 - v) for v in y], where="post", label=name, lw=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("P(latency > x)")
    ax.set_title(f"{study.scenario.name}: latency tail (seed {study.seeds[0]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def p99_over_time(study: Comparison, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, s in study.summaries.items():
        rows = s.runs[0]["seconds"]
        ax.plot([r[0] for r in rows], [r[5] for r in rows], marker=".", lw=1, label=name)
    _shade_truth(ax, study)
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("P99 of the second (ms)")
    ax.set_title(f"{study.scenario.name}: per-second P99 (seed {study.seeds[0]}); grey = outage")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _shade_truth(ax: Any, study: Comparison) -> None:
    f = study.scenario.faults
    for start, end in (*f.down, *f.partitions):
        ax.axvspan(start, min(end, study.scenario.duration_s), color="grey", alpha=0.2)


def state_timelines(study: Comparison, path: Path) -> Path:
    """Each policy's state over time (first replication) against the ground truth."""
    names = list(study.summaries)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(names) + 1.5))
    end = study.scenario.duration_s
    colors = {0: "#4caf50", 1: "#e53935", 2: "#ffb300"}
    for row, name in enumerate(names):
        tr = study.summaries[name].runs[0]["transitions"] or [(0.0, 0)]
        for (t0, st), nxt in zip(tr, [*tr[1:], (end, None)]):
            ax.broken_barh([(t0, nxt[0] - t0)], (row - 0.4, 0.8), color=colors.get(st, "black"))
    _shade_truth(ax, study)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlim(0, end)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{study.scenario.name}: state (green closed, red open, amber half-open); grey = ground truth outage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def goodput_over_time(study: Comparison, path: Path) -> Path:
    """Real answers within the SLO target per second (first replication) against what the
    service could have answered, min(arrivals, capacity): the goodput ratio's two sides."""
    fig, ax = plt.subplots(figsize=(8, 5))
    cap = study.scenario.service.capacity_rps
    first = next(iter(study.summaries.values())).runs[0]["seconds"]
    ax.plot([r[0] for r in first], [min(r[8], cap) for r in first], color="black", lw=2.5, alpha=0.35,
            label="could: min(arrivals, capacity)")
    for name, s in study.summaries.items():
        rows = s.runs[0]["seconds"]
        ax.plot([r[0] for r in rows], [r[9] for r in rows], marker=".", lw=1, label=name)
    _shade_truth(ax, study)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("real answers within the SLO target per s")
    ax.set_title(f"{study.scenario.name}: goodput (seed {study.seeds[0]}); grey = outage")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def health_bars(study: Comparison, path: Path) -> Path:
    """Per policy: goodput ratio, fresh share, decision accuracy and false-open share,
    means over replications with their 95 % intervals."""
    names = list(study.summaries)
    metrics = [(GOODPUT_RATIO, "goodput ratio"), (FRESH_SHARE, "fresh share"),
               (DECISION_ACCURACY, "decision accuracy"), (FALSE_OPEN_SHARE, "false-open share")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(13, 0.32 * len(names) + 1.6), sharey=True)
    for ax, (key, label) in zip(axes, metrics):
        means = [study.summaries[n].intervals[key].mean for n in names]
        err = [[max(0.0, m - study.summaries[n].intervals[key].low) for n, m in zip(names, means)],
               [max(0.0, study.summaries[n].intervals[key].high - m) for n, m in zip(names, means)]]
        ax.barh(range(len(names)), means, xerr=err, color="#5c6bc0", alpha=0.8)
        ax.set_xlim(0, 1.05)
        ax.set_title(label, fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(names)), names, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(f"{study.scenario.name}: what the answers were worth ({len(study.seeds)} replications, 95 % CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def all_figures(study: Comparison, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    return {
        "latency_cdf": latency_cdfs(study, out / "latency-cdf.png"),
        "p99_over_time": p99_over_time(study, out / "p99-over-time.png"),
        "state_timeline": state_timelines(study, out / "state-timeline.png"),
        "goodput_over_time": goodput_over_time(study, out / "goodput-over-time.png"),
        "health": health_bars(study, out / "health.png"),
    }
