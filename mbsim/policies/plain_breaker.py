"""``breaker``: the article's plain breaker (4.1) with no buffer and no fallback.

It is the "plain breaker" column of the article's headline table: calls refused while
OPEN fail fast, and timeouts are the client's own.
"""
from __future__ import annotations

from mbsim.mbb.breaker import BreakerSettings
from mbsim.policies import PolicySpec, register
from mbsim.policies.protection import Protection

register(PolicySpec("breaker", "the article's breaker alone (ratio mode), no buffer, no fallback",
                    BreakerSettings, lambda p, sc, rng: Protection(strategy=p.build())))
