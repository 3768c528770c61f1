"""``mbb`` and ``mbb-concurrency``: the mountain-bike buffer, the breaker and the horn."""
from __future__ import annotations

from dataclasses import dataclass, field

from mbsim.mbb.buffer import BufferSettings, MountainBikeBuffer
from mbsim.mbb.settings import MbbSettings
from mbsim.policies import PolicySpec, register
from mbsim.policies.protection import Protection
from mbsim.world.scenario import Scenario


def build(p: MbbSettings, sc: Scenario, rng=None) -> Protection:
    buffer = MountainBikeBuffer(p.buffer, sc.service.workers, sc.service.mean_ms / 1e3)
    fb = p.fallback
    return Protection(strategy=p.breaker.build(), admission=buffer,
                      deadline_ms=fb.deadline_ms if fb.enabled else None, fallback=fb.enabled)


@dataclass(frozen=True)
class MbbConcurrencySettings(MbbSettings):
    """As ``mbb``, with the article's 2.5 admission rule (max concurrency) by default."""

    buffer: BufferSettings = field(default_factory=lambda: BufferSettings(mode="concurrency"))


register(PolicySpec("mbb", "mountain-bike buffer (window mode) + breaker + ox-horn fallback",
                    MbbSettings, build))
register(PolicySpec("mbb-concurrency", "mountain-bike buffer (max-concurrency mode) + breaker + ox-horn",
                    MbbConcurrencySettings, build))
