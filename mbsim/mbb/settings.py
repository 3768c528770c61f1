"""The mountain-bike settings: what tuning searches, export compiles and apply loads.

``MbbSettings`` groups the buffer (:mod:`mbsim.mbb.buffer`), the breaker
(:mod:`mbsim.mbb.breaker`) and the horn (:mod:`mbsim.mbb.fallback`). It is the ``settings``
block of a ``settings.json`` file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mbsim.mbb.breaker import BreakerSettings
from mbsim.mbb.buffer import BufferSettings
from mbsim.mbb.fallback import Fallback
from mbsim.params import Params


@dataclass(frozen=True)
class MbbSettings(Params):
    buffer: BufferSettings = field(default_factory=BufferSettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    fallback: Fallback = field(default_factory=Fallback)
