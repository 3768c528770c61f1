"""The golden digests: every built-in scenario under every policy, at seed 1 and 10 s.

Each case is pinned by a SHA-256 of its complete result: every metric, the per-second
series, the server statistics, the buffer's state, the breaker transitions, the latency
histogram and the parameters the policy ran with. Floats enter the digest with 12
significant digits, so that the last bits of a BLAS kernel on another CPU do not count,
while any change to what the model does does.

    python tests/golden.py            # print the digests that differ from tests/golden.json
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


def digest(case: tuple[str, str]) -> tuple[str, str]:
    scenario, policy = case
    blob = json.dumps(canonical(complete_result(scenario, policy)), sort_keys=True, separators=(",", ":"))
    return f"{scenario}/{policy}", hashlib.sha256(blob.encode()).hexdigest()


def cases() -> list[tuple[str, str]]:
    from mbsim import policies
    from mbsim.world import catalog

    return [(s, p) for s in catalog.names() for p in policies.names()]


def compute(workers: int = 2) -> dict[str, str]:
    from mbsim import processes

    with processes.pool(workers) as pool:
        return dict(pool.map(digest, cases()))


def main(argv: list[str]) -> int:
    now = compute()
    if "--update" in argv:
        PATH.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(now)} digests to {PATH}")
        return 0
    pinned = json.loads(PATH.read_text())
    changed = sorted(k for k in set(now) | set(pinned) if now.get(k) != pinned.get(k))
    for k in changed:
        print(f"changed: {k}")
    print(f"{len(changed)} of {len(pinned)} cases differ")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main(sys.argv[1:]))
