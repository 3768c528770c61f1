"""The golden test: every simulated result is pinned (see tests/golden.py).

A change that alters any result of any built-in scenario under any policy fails here. A
deliberate model change regenerates tests/golden.json (python tests/golden.py --update)
in the same commit, and its message says why.
"""
import json

import golden


def test_every_scenario_under_every_policy_is_unchanged():
    pinned = json.loads(golden.PATH.read_text())
    assert set(pinned) == {f"{s}/{p}" for s, p in golden.cases()}, \
        "the set of scenarios or policies changed: update tests/golden.json on purpose"
    now = golden.compute()
    changed = sorted(k for k in pinned if now[k] != pinned[k])
    assert not changed, f"{len(changed)} results changed: {', '.join(changed[:12])}"
