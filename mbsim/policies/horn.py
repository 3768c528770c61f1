"""``horn``: the ox-horn as the kernel runs it - the article's breaker, the hard deadline and
the snapshot, and an in-flight cap - with no server-side buffer.

It is the simulated counterpart of the testbed's ox-horn arm (:mod:`mbsim.verify.arms`):
the kernel program answers a request from the snapshot when the breaker is OPEN, when the
client re-asks at its deadline, or when ``buffer.capacity_max`` requests are already in
flight; the cap is a caller-side pool with no queue whose refusals go to the snapshot.
``mbb`` adds the server-side buffer, which the testbed's plain server does not have.
"""
from __future__ import annotations

from typing import Any

from mbsim.mbb.settings import MbbSettings
from mbsim.policies import PolicySpec, register
from mbsim.policies.protection import Pool, Protection


def build(p: MbbSettings, sc: Any, rng: Any=None) -> Protection:
    fb = p.fallback
    return Protection(strategy=p.breaker.build(), deadline_ms=fb.deadline_ms if fb.enabled else None,
                      fallback=fb.enabled, pool=Pool(p.buffer.capacity_max, 0))


register(PolicySpec("horn", "the ox-horn as the kernel runs it: breaker, deadline, snapshot, in-flight cap",
                    MbbSettings, build))
