"""A comparison for people: its markdown table and verdicts, and the files a study is saved as."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mbsim.metrics.registry import (
    BREAKER_OPENS,
    CPU_US_PER_DECISION,
    DECISION_ACCURACY,
    FALLBACK_RATIO,
    FALSE_OPEN_SHARE,
    FRESH_SHARE,
    GOODPUT_RATIO,
    OVERLOAD_GOODPUT_RATIO,
    P99_JITTER_MS,
    P99_MS,
    P9999_MS,
    RECOVERY_S,
    SLO_VIOLATION_RATIO,
    SUCCESS_RATIO,
)
from mbsim.provenance import dirty_banner
from mbsim.tables import fmt

HEAD = ["policy", "P99 ms", "P99.99 ms", "P99 jitter ms", "SLO windows missed", "success", "fallback", "fresh",
        "goodput ratio", "false open", "decision acc.", "CPU us/decision"]
COLS = [P99_MS, P9999_MS, P99_JITTER_MS, SLO_VIOLATION_RATIO, SUCCESS_RATIO, FALLBACK_RATIO, FRESH_SHARE,
        GOODPUT_RATIO, FALSE_OPEN_SHARE, DECISION_ACCURACY, CPU_US_PER_DECISION]
OVERLOAD_HEAD = ["overload goodput ratio", "recovery s", "breaker opens"]
OVERLOAD_COLS = [OVERLOAD_GOODPUT_RATIO, RECOVERY_S, BREAKER_OPENS]


def _cell(row: dict[str, Any], col: str) -> str:
    lo, hi = row.get(f"{col}_ci", [None, None])
    star = "" if row.get(f"{col}_meaningful", True) else "*"
    if lo is None or hi is None:
        return fmt(row.get(col)) + star
    return f"{fmt(row[col])}{star} ({fmt(lo)}..{fmt(hi)})"


def markdown(study: Any, command_line: str) -> str:
    from mbsim.comparison.compare import CPU_REPS

    lines = [f"Scenario `{study.scenario.name}`: {study.scenario.description}", "",
             f"{len(study.seeds)} replications (common random numbers, seeds {study.seeds}), "
             f"{study.scenario.duration_s:g} s each; mean (95 % CI over replications; a latency percentile's "
             f"interval is at least its histogram bucket, 0.1 %). * = fewer than 100 samples beyond the "
             f"percentile in a replication: not meaningful. CPU us/decision: wall time in the policy's code, "
             f"{CPU_REPS} timed runs (it grows when the machine is busy). Command: `{command_line}`", "",
             ]
    rows = study.table_rows()
    overloaded = any(not math.isnan(row.get(OVERLOAD_GOODPUT_RATIO, math.nan)) for row in rows)
    head, cols = (HEAD + OVERLOAD_HEAD, COLS + OVERLOAD_COLS) if overloaded else (HEAD, COLS)
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["policy"]] + [_cell(row, c) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Paired differences ({study.reference} minus each other arm, 95 % CI over replications):", ""]
    lines += [f"- {v}" for v in study.verdicts()]
    return "\n".join(lines) + "\n"


def save(study: Any, out: Path, command_line: str, provenance: dict[str, Any]) -> dict[str, Path]:
    """``results.json`` (everything, with provenance) and ``results.md`` (the table) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    record = {**study.to_dict(), "provenance": provenance}
    files = {"json": out / "results.json", "markdown": out / "results.md"}
    files["json"].write_text(json.dumps(record, indent=2, default=str) + "\n")
    files["markdown"].write_text(dirty_banner(provenance) + markdown(study, command_line))
    return files
