"""``mbb``, ``mbb-literal`` and ``mbb-concurrency``: the mountain-bike buffer, the breaker
and the horn, under three readings of the buffer (:mod:`mbsim.mbb.buffer`).

``mbb`` (the default reading, ``deadline``) admits only what can be answered before the
client's deadline and sheds the rest without tripping the breaker. ``mbb-literal`` reads
the article's window as the admitted queueing delay and counts sheds as failures, as mbb
did before the overload study: it is kept so that the study shows both."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mbsim.dimension import Dimension
from mbsim.mbb.breaker import BreakerSettings
from mbsim.mbb.buffer import BufferSettings, MountainBikeBuffer
from mbsim.mbb.settings import MbbSettings
from mbsim.policies import PolicySpec, register
from mbsim.policies.protection import Protection
from mbsim.world.scenario import Scenario


def build(p: MbbSettings, sc: Scenario, rng: Any=None) -> Protection:
    buffer = MountainBikeBuffer(p.buffer, sc.service.workers, sc.service.mean_ms / 1e3, sc.network.rtt_ms / 1e3)
    fb = p.fallback
    return Protection(strategy=p.breaker.build(), admission=buffer,
                      deadline_ms=fb.deadline_ms if fb.enabled else None, fallback=fb.enabled)


@dataclass(frozen=True)
class MbbConcurrencySettings(MbbSettings):
    """As ``mbb``, with the article's 2.5 admission rule (max concurrency) by default."""

    buffer: BufferSettings = field(default_factory=lambda: BufferSettings(mode="concurrency"))


@dataclass(frozen=True)
class MbbLiteralSettings(MbbSettings):
    """As ``mbb``, with the article's window read literally (admitted queueing delay up to
    the window) and 429s counted as breaker failures."""

    buffer: BufferSettings = field(default_factory=lambda: BufferSettings(mode="window"))
    breaker: BreakerSettings = field(default_factory=lambda: BreakerSettings(count_rejections=True))


# What ``mbsim tune`` searches. The ranges bracket the article's values (digest 1, 2.5, 4.1;
# in brackets) and stretch them where a scenario can use it:
#   buffer.window_min_ms    5 - 200 ms (50): shortest window, when latency is steady
#   buffer.window_max_ms    50 - 400 ms (200): longest window, reached when stddev >= scale
#   buffer.capacity_min     2 - 64 (16) and capacity_max 16 - 1024 (256): ring slots
#   buffer.stddev_scale_ms  1 - 100 ms (10): the stddev gain; buffer.rps_scale 1 - 1000 (10)
#   buffer.adjust_s         0.2 - 10 s (2): re-tuning period
#   fallback.deadline_ms    1 - 50 ms (5): the horn's hard deadline
#   breaker.failure_ratio   0.1 - 0.9 (0.5); breaker.min_calls 5 - 200 (20); open_ms 100 - 10 000 ms (1000)
# Every range but the failure ratio spans decades and is searched in the logarithm.
TUNING = (
    Dimension("buffer.window_min_ms", 5, 200, log=True),
    Dimension("buffer.window_max_ms", 50, 400, log=True),
    Dimension("buffer.capacity_min", 2, 64, integer=True, log=True),
    Dimension("buffer.capacity_max", 16, 1024, integer=True, log=True),
    Dimension("buffer.stddev_scale_ms", 1, 100, log=True),
    Dimension("buffer.rps_scale", 1, 1000, log=True),
    Dimension("buffer.adjust_s", 0.2, 10, log=True),
    Dimension("fallback.deadline_ms", 1, 50, log=True),
    Dimension("breaker.failure_ratio", 0.1, 0.9),
    Dimension("breaker.min_calls", 5, 200, integer=True, log=True),
    Dimension("breaker.open_ms", 100, 10000, log=True),
)
PAIRS = (("buffer.window_min_ms", "buffer.window_max_ms"), ("buffer.capacity_min", "buffer.capacity_max"))

register(PolicySpec("mbb", "mountain-bike buffer (deadline mode: sheds what cannot make it) + breaker + ox-horn",
                    MbbSettings, build, tuning=TUNING, tuning_pairs=PAIRS))
register(PolicySpec("mbb-literal", "mountain-bike buffer (window read literally; 429s trip the breaker) + breaker "
                    "+ ox-horn", MbbLiteralSettings, build, tuning=TUNING, tuning_pairs=PAIRS))
register(PolicySpec("mbb-concurrency", "mountain-bike buffer (max-concurrency mode) + breaker + ox-horn",
                    MbbConcurrencySettings, build, tuning=TUNING, tuning_pairs=PAIRS))
