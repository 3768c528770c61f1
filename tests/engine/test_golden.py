"""The golden test: every simulated result is pinned, as values (see tests/golden.py).

A change that alters any result of any built-in scenario under any policy fails here,
naming the case, the value's path and its old and new values. A deliberate model change
regenerates tests/golden.json (python tests/golden.py --update) in the same commit, and
its message says why.
"""
import json

import golden


def test_every_scenario_under_every_policy_is_unchanged():
    pinned = json.loads(golden.PATH.read_text())
    assert set(pinned) == {f"{s}/{p}" for s, p in golden.cases()}, \
        "the set of scenarios or policies changed: update tests/golden.json on purpose"
    now = golden.compute()
    lines = golden.report(pinned, now)
    assert not lines, "results changed:\n" + "\n".join(lines)


def test_a_difference_is_named_by_case_path_and_both_values():
    old = {"a/x": {"metrics": {"p99_ms": "2.5", "counts": {"success": 10}}, "seconds": [[0, 1], [1, 2]]}}
    new = {"a/x": {"metrics": {"p99_ms": "2.6", "counts": {"success": 10}}, "seconds": [[0, 1], [1, 3]]},
           "b/y": {}}
    assert golden.report(old, new) == ["a/x: metrics.p99_ms 2.5 -> 2.6", "a/x: seconds[1][1] 2 -> 3",
                                       "b/y: new, not pinned"]
    assert golden.report(old, old) == []
    assert golden.report(old, new, limit=1) == ["a/x: metrics.p99_ms 2.5 -> 2.6", "... and 2 more"]
