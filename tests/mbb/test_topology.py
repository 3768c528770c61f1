"""The dynamic window topology rule by rule, with a scripted load sensor and a retuner
that records what it is asked: when each window opens and closes, and what it changes."""
from __future__ import annotations

import pytest
from helpers import Reading

from mbsim.errors import ConfigError
from mbsim.mbb.topology import Topology, TopologySettings


class FakeRetuner:
    """Answers stats and mean latency with fixed values and records every call."""

    def __init__(self, std_ms: float = 0.0, mean_ms: float = 0.0) -> None:
        self.std_ms, self.mean_ms = std_ms, mean_ms
        self.damping = 0.25
        self.retunes: list[tuple[float, float, str]] = []
        self.spans: list[float] = []

    def retune(self, now: float, span_s: float, cause: str) -> None:
        self.retunes.append((now, span_s, cause))

    def stats(self, span_s: float):
        self.spans.append(span_s)
        return 100.0, self.std_ms, float("nan")

    def mean_latency_ms(self, span_s: float) -> float:
        self.spans.append(span_s)
        return self.mean_ms


def test_bad_topologies_are_refused_with_their_rule():
    TopologySettings(short_ms=50.0, decline_ms=50.0)  # a window as long as a sample is allowed
    TopologySettings(accel_threshold=0.5, slope_rate_threshold=0.5)  # any positive threshold
    with pytest.raises(ConfigError, match=r"^topology.short_ms must be >= sample_ms$"):
        TopologySettings(short_ms=49.9)
    for field in ("accel_threshold", "slope_rate_threshold"):
        with pytest.raises(ConfigError, match=r"^topology thresholds must be positive$"):
            TopologySettings(**{field: 0.0})  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    with pytest.raises(ConfigError, match=r"buffer.topology.sample_ms must be in \[1, 60,000\], got 0"):
        TopologySettings(sample_ms=0.0)


def test_the_short_window_opens_above_its_threshold_and_re_tunes_200_ms_later():
    r = FakeRetuner()
    top = Topology(TopologySettings(), r)  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    top.tick(0.5, Reading(accel=1.8))  # at the threshold: not above it
    assert top.opened["short"] == 0
    top.tick(1.0, Reading(accel=-1.9))  # |accel| above it, either sign
    top.tick(1.1, Reading(accel=5.0))  # already open: not opened again
    assert top.opened["short"] == 1
    top.tick(1.1999, Reading())
    assert r.retunes == []
    top.tick(1.2, Reading())
    assert r.retunes == [(1.2, 0.2, "short")] and r.damping == 0.25
    top.tick(1.25, Reading(accel=2.0))  # closed: a new trigger opens it again
    assert top.opened["short"] == 2


def _slopes(top: Topology, after: float, base: float = 0.5) -> None:
    """Ticks every 50 ms from 0 to 2 s; the trend angle is ``base`` until 2 s, then
    ``base + after``: measured over the medium window (1.2 s), from the 0.8 s sample."""
    for k in range(40):
        top.tick(k * 0.05, Reading(slope=base))
    top.tick(2.0, Reading(slope=base + after))


@pytest.mark.parametrize("after, opens", [(0.04, True), (0.0354, False), (-0.04, True), (0.0, False)])
def test_the_medium_window_opens_when_the_trend_angle_changes_faster_than_its_threshold(after, opens):
    """0.04 rad over 1.2 s is 0.033 rad/s, above 0.03; 0.0354 is 0.0295, below it (over
    1.15 s it would be above)."""
    top = Topology(TopologySettings(), FakeRetuner())  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    _slopes(top, after)
    assert top.opened["medium"] == int(opens)


def test_a_change_exactly_at_the_threshold_does_not_open_the_medium_window():
    """0.0625 rad over exactly 1 s (binary-exact values): not faster than 0.0625 rad/s."""
    for after, opened in ((0.0625, 0), (0.0625 + 2 ** -20, 1)):
        top = Topology(TopologySettings(medium_ms=1000.0, slope_rate_threshold=0.0625), FakeRetuner())  # type: ignore[arg-type]  # a fake or a deliberately wrong input
        _slopes(top, after, base=0.0)
        assert top.opened["medium"] == opened


@pytest.mark.parametrize("std_ms, mean_ms, damping", [(3.0, 4.0, 1 / 1.5625), (0.5, 0.5, 0.5), (3.0, 0.0, 1.0)])
def test_the_medium_window_sets_the_damping_from_the_latency_cv_when_it_closes(std_ms, mean_ms, damping):
    """damping = 1 / (1 + cv^2), cv = stddev / mean over the medium window (0 with no data)."""
    r = FakeRetuner(std_ms, mean_ms)
    top = Topology(TopologySettings(), r)  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    _slopes(top, 0.1)
    assert top.open_until["medium"] == pytest.approx(3.2)
    top.tick(3.2, Reading(slope=0.6))
    assert r.damping == pytest.approx(damping, rel=1e-12) and r.retunes == []
    assert r.spans == [1.2, 1.2]


def test_the_long_window_opens_after_a_second_of_decline_and_re_plans_8_s_later():
    r = FakeRetuner()
    top = Topology(TopologySettings(), r)  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    top.tick(0.5, Reading(trend=-1.0))
    top.tick(0.9, Reading(trend=0.0))  # the decline is broken: it starts again
    top.tick(1.0, Reading(trend=-1.0))
    top.tick(1.9995, Reading(trend=-1.0))
    assert top.opened["long"] == 0
    top.tick(2.0, Reading(trend=-0.1))
    assert top.opened["long"] == 1 and top.open_until["long"] == 10.0
    top.tick(9.9, Reading())
    assert r.retunes == []
    top.tick(10.0, Reading())
    assert r.retunes == [(10.0, 8.0, "long")] and r.damping == 1.0


def test_a_disabled_topology_does_nothing():
    r = FakeRetuner()
    top = Topology(TopologySettings(enabled=False), r)  # type: ignore[arg-type]  # a fake or a deliberately wrong input
    top.tick(1.0, Reading(accel=10.0, slope=1.0, trend=-1.0))
    assert top.opened == {"short": 0, "medium": 0, "long": 0}
