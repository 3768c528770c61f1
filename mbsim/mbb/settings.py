"""The mountain-bike settings: what tuning searches, export compiles and apply loads.

``MbbSettings`` groups the buffer (:mod:`mbsim.buffer`), the breaker
(:mod:`mbsim.breakers`) and the horn (:mod:`mbsim.fallback`). It is the ``settings``
block of a ``settings.json`` file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mbsim.mbb.breaker import BreakerSettings
from mbsim.mbb.buffer import BufferSettings
from mbsim.params import Params
from mbsim.mbb.fallback import Fallback


@dataclass(frozen=True)
class MbbSettings(Params):
    buffer: BufferSettings = field(default_factory=BufferSettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    fallback: Fallback = field(default_factory=Fallback)
