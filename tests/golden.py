"""The golden values: every built-in scenario under every policy, at seed 1 and 10 s.

Each case is pinned by its complete result, stored as values: every metric, the
per-second series, the server statistics, the buffer's state, the breaker transitions
and the parameters the policy ran with; the latency histogram by its bucket count, total
and SHA-256 (its percentiles are metrics). Floats are stored with 12
significant digits, so that the last bits of a BLAS kernel on another CPU do not count,
while any change to what the model does does. A difference is named by its case, its
path in the result and the old and new values.

    python tests/golden.py            # print the values that differ from tests/golden.json
    python tests/golden.py --update   # rewrite tests/golden.json (a deliberate model change)

A deliberate model change updates ``tests/golden.json`` in the same commit and says why
in the commit message.
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

PATH = Path(__file__).with_name("golden.json")
SEED = 1
DURATION_S = 10.0  # covers every built-in fault window that starts before 10 s


def canonical(v: Any) -> Any:
    """A JSON-ready form with floats as 12-significant-digit strings."""
    if isinstance(v, dict):
        return {str(k): canonical(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple)):
        return [canonical(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return "nan" if math.isnan(f) else format(f, ".12g")
    return v


def complete_result(scenario: str, policy: str) -> dict[str, Any]:
    from mbsim import simulate

    r = simulate(scenario, policy=policy, seed=SEED, duration_s=DURATION_S)
    hist = r.histogram
    nz = np.nonzero(hist.counts)[0] if hist is not None else np.array([], dtype=int)
    return {
        "metrics": r.metrics,
        "seconds": r.seconds,
        "server": r.server,
        "buffer": r.buffer,
        "transitions": r.transitions,
        "histogram": [[int(k), int(hist.counts[k])] for k in nz] if hist is not None else None,
        "params": r.params,
    }


def pinned_form(case: tuple[str, str]) -> tuple[str, Any]:
    """``("scenario/policy", the canonical complete result)``: what golden.json stores."""
    scenario, policy = case
    value = canonical(complete_result(scenario, policy))
    hist = value.pop("histogram")
    # the latency histogram (about 40 kB a case) is pinned by its size and digest; the
    # percentiles read from it are among the metrics, as values
    value["histogram"] = None if hist is None else {"buckets": len(hist), "count": sum(c for _, c in hist),
                                                    "sha256": digest(hist)}
    return f"{scenario}/{policy}", value


def digest(value: Any) -> str:
    """SHA-256 of a canonical result (how the golden file pinned results before it stored values)."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every (path, old, new) where two canonical results differ, in path order."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += differences(old.get(k, "(absent)"), new.get(k, "(absent)"), f"{path}.{k}" if path else k)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [(path, old, new)]


def report(pinned: dict[str, Any], now: dict[str, Any], limit: int = 20) -> list[str]:
    """One line per difference, ``case: path old -> new``, at most ``limit`` of them."""
    lines = []
    for case in sorted(set(pinned) | set(now)):
        if case not in now or case not in pinned:
            lines.append(f"{case}: {'no longer computed' if case not in now else 'new, not pinned'}")
            continue
        for path, a, b in differences(pinned[case], now[case]):
            lines.append(f"{case}: {path} {a} -> {b}")
    return lines[:limit] + ([f"... and {len(lines) - limit} more"] if len(lines) > limit else [])


def cases() -> list[tuple[str, str]]:
    from mbsim import policies
    from mbsim.world import catalog

    return [(s, p) for s in catalog.names() for p in policies.names()]


def compute(workers: int = 2) -> dict[str, str]:
    from mbsim import processes

    with processes.pool(workers) as pool:
        return dict(pool.map(pinned_form, cases()))


def main(argv: list[str]) -> int:
    now = compute()
    if "--update" in argv:
        PATH.write_text(json.dumps(now, sort_keys=True, separators=(",", ":")).replace('},"', '},\n"') + "\n")
        print(f"wrote {len(now)} cases to {PATH}")
        return 0
    pinned = json.loads(PATH.read_text())
    lines = report(pinned, now, limit=10 ** 9)
    for line in lines:
        print(line)
    print(f"{sum(now.get(k) != pinned.get(k) for k in set(now) | set(pinned))} of {len(pinned)} cases differ")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main(sys.argv[1:]))
