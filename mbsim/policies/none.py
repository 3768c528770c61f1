"""``none``: no protection at all - the floor every policy is compared with."""
from __future__ import annotations

from dataclasses import dataclass

from mbsim.params import Params
from mbsim.policies import PolicySpec, register
from mbsim.policies.protection import Protection


@dataclass(frozen=True)
class NoParams(Params):
    """No parameters."""


register(PolicySpec("none", "no protection: the client's own timeout and retries only",
                    NoParams, lambda p, sc, rng: Protection()))
