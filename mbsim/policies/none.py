"""``none``: no protection at all - the floor every policy is compared with."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Params
from ..protection import Protection
from . import PolicySpec, register


@dataclass(frozen=True)
class NoParams(Params):
    """No parameters."""


register(PolicySpec("none", "no protection: the client's own timeout and retries only",
                    NoParams, lambda p, sc, rng: Protection()))
