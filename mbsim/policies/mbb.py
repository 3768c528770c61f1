"""``mbb``, ``mbb-literal`` and ``mbb-concurrency``: the mountain-bike buffer, the breaker
and the horn, under three readings of the buffer (:mod:`mbsim.mbb.buffer`).

``mbb`` (the default reading, ``deadline``) admits only what can be answered before the
client's deadline and sheds the rest without tripping the breaker. ``mbb-literal`` reads
the article's window as the admitted queueing delay and counts sheds as failures, as mbb
did before the overload study: it is kept so that the study shows both."""
from __future__ import annotations

from dataclasses import dataclass, field

from mbsim.mbb.breaker import BreakerSettings
from mbsim.mbb.buffer import BufferSettings, MountainBikeBuffer
from mbsim.mbb.settings import MbbSettings
from mbsim.policies import PolicySpec, register
from mbsim.policies.protection import Protection
from mbsim.world.scenario import Scenario


def build(p: MbbSettings, sc: Scenario, rng=None) -> Protection:
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


register(PolicySpec("mbb", "mountain-bike buffer (deadline mode: sheds what cannot make it) + breaker + ox-horn",
                    MbbSettings, build))
register(PolicySpec("mbb-literal", "mountain-bike buffer (window read literally; 429s trip the breaker) + breaker "
                    "+ ox-horn", MbbLiteralSettings, build))
register(PolicySpec("mbb-concurrency", "mountain-bike buffer (max-concurrency mode) + breaker + ox-horn",
                    MbbConcurrencySettings, build))
