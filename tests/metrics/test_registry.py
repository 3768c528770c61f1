"""The metric registry: every metric declared once, and no metric name typed anywhere else."""
from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from pathlib import Path

import pytest

from mbsim.errors import ConfigError
from mbsim.metrics import registry
from mbsim.metrics.registry import (
    CPU_US_PER_DECISION,
    FALLBACK_RATIO,
    GOODPUT_RPS,
    P99_MS,
    P9999_MS,
    REQUESTS,
    SLO_MET,
    SUCCESS_RATIO,
    metric,
)

PACKAGE = Path(__file__).resolve().parents[2] / "mbsim"


def typed_names(source: str) -> list[tuple[int, str]]:
    """(line, name) of every plain string literal in ``source`` that equals a declared metric's
    name (f-strings and docstrings' prose do not count: only a whole literal does)."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING or re.match(r"^[rbuRBU]*[fF]", tok.string):
            continue
        value = ast.literal_eval(tok.string)
        if isinstance(value, str) and value in registry.REGISTRY:
            found.append((tok.start[0], value))
    return found


def test_no_metric_name_is_typed_outside_the_registry():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "metrics" / "registry.py":
            continue
        offenders += [f"{path.relative_to(PACKAGE.parent)}:{line}: {name!r}"
                      for line, name in typed_names(path.read_text())]
    assert not offenders, "metric names typed outside mbsim/metrics/registry.py:\n" + "\n".join(offenders)


def test_the_scan_finds_a_typed_name_and_ignores_constants_and_f_strings():
    src = 'x = m["p99_ms"]\ny = m[P99_MS]\nz = f"{k}_ratio"\nw = "p99"\nv = "success_ratio"\n'
    assert typed_names(src) == [(1, "p99_ms"), (5, "success_ratio")]


def test_every_result_key_is_declared():
    from mbsim import simulate

    r = simulate("db-down", policy="mbb", seed=1, duration_s=3)
    assert set(r.metrics) <= set(registry.REGISTRY)
    assert list(registry.latency_percentiles()) == ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "p9999_ms"]


@pytest.mark.parametrize("name, value, text", [
    (P99_MS, 2.5531, "2.553 ms"),
    (SUCCESS_RATIO, 0.99971, "99.971 %"),
    (FALLBACK_RATIO, 0.0, "0 %"),
    (GOODPUT_RPS, 1379.75, "1379.8 req/s"),  # one decimal: half-even rounding of .75 at one digit
    (REQUESTS, 40184, "40184"),
    (SLO_MET, True, "yes"),
    (P9999_MS, math.nan, "-"),
    (P9999_MS, None, "-"),
    (CPU_US_PER_DECISION, 1.234, "1.23 us"),
])
def test_a_value_is_formatted_with_its_unit(name, value, text):
    assert metric(name).format(value) == text


def test_direction_alias_and_label():
    assert metric(P99_MS).lower_is_better is True and metric(SUCCESS_RATIO).lower_is_better is False
    assert metric(REQUESTS).lower_is_better is None
    assert metric("p99") is metric(P99_MS) and metric("p99").label == "P99 latency"
    assert registry.aliases((P99_MS, FALLBACK_RATIO)) == {"p99": P99_MS, "fallback": FALLBACK_RATIO}
    with pytest.raises(ConfigError, match=r"unknown metric 'p42_ms' \(known: .*p99_ms"):
        metric("p42_ms")


@pytest.mark.parametrize("kwargs, message", [
    ({"name": P99_MS, "unit": "ms", "label": "again"}, "declared twice"),
    ({"name": "x_furlongs", "unit": "furlong", "label": "x"}, "unknown unit 'furlong'"),
    ({"name": "x_ms", "unit": "ms", "label": "x", "better": "up"}, "better is lower, higher or neither"),
    ({"name": "x_ms", "unit": "ms", "label": "x", "quantile": 1.5}, "quantile in \\(0, 1\\) and unit ms"),
    ({"name": "x_share", "unit": "share", "label": "x", "quantile": 0.5}, "quantile in \\(0, 1\\) and unit ms"),
])
def test_a_bad_declaration_is_one_line(kwargs, message):
    before = dict(registry.REGISTRY)
    with pytest.raises(ConfigError, match=message):
        registry.declare(**kwargs)
    assert before == registry.REGISTRY


def test_a_declared_percentile_and_a_derived_metric_appear_in_every_run(monkeypatch):
    from mbsim import simulate

    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))  # undone after the test
    p75 = registry.declare("p75_ms", "ms", "P75 latency", registry.LOWER, quantile=0.75)
    half = registry.declare("half_success", "share", "half", derive=lambda m: m[SUCCESS_RATIO] / 2)
    r = simulate("tail-spike", policy="mbb", seed=3, duration_s=4)
    assert r.metrics["p50_ms"] <= r[p75] <= r[P99_MS]
    assert r[half] == r[SUCCESS_RATIO] / 2
    plain = r.histogram
    assert plain is not None and r[p75] == pytest.approx(plain.quantile(0.75) * 1e3)
