"""``breaker``: the article's plain breaker (4.1) with no buffer and no fallback.

It is the "plain breaker" column of the article's headline table: calls refused while
OPEN fail fast, and timeouts are the client's own. ``breaker-snapshot`` puts a user-space
snapshot behind the same breaker, as the testbed's plain-breaker arm does.
"""
from __future__ import annotations

from mbsim.mbb.breaker import BreakerSettings
from mbsim.policies import PolicySpec, register
from mbsim.policies.protection import Protection

register(PolicySpec("breaker", "the article's breaker alone (ratio mode), no buffer, no fallback",
                    BreakerSettings, lambda p, sc, rng: Protection(strategy=p.build())))

# The testbed's plain-breaker arm (mbsim.verify.arms): the same breaker, and what it refuses or
# what fails after the client's retries is answered from a user-space snapshot (no deadline).
register(PolicySpec("breaker-snapshot", "the article's breaker with a user-space snapshot behind it, no deadline",
                    BreakerSettings, lambda p, sc, rng: Protection(strategy=p.build(), fallback=True)))
