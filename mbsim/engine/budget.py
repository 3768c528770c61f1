"""The work a run will do, estimated before it starts, and the limit it must stay under.

A simulated request costs about 2-3 us of CPU, and about 420 bytes while it is in the
system (measured: a service that never keeps up holds every request). So the work of a
run is its expected number of arrivals, the integral of the workload's rate over the run
(:meth:`mbsim.world.workload.RateProfile.expected`), and its worst-case memory is that
times 420 bytes. A run expecting more than ``max_requests`` (default 10 million: about
30 s of CPU, and at worst 4.2 GB; the environment variable ``MBSIM_MAX_REQUESTS`` or the
CLI's ``--max-requests`` moves it) is refused up front with its estimate, and so is one that
expects fewer than one request in its measured window (every metric would be NaN).
"""
from __future__ import annotations

import os

from mbsim.errors import ConfigError
from mbsim.world.scenario import Scenario

DEFAULT_MAX_REQUESTS = 10_000_000
BYTES_PER_REQUEST = 420  # in the system, measured with tracemalloc on a run whose queue never drains
ENV = "MBSIM_MAX_REQUESTS"


def max_requests(given: float | None = None) -> float:
    """The limit: ``given``, else ``$MBSIM_MAX_REQUESTS``, else the default."""
    if given is not None:
        return given
    raw = os.environ.get(ENV)
    if raw is None:
        return DEFAULT_MAX_REQUESTS
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{ENV} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{ENV} must be positive, got {raw!r}")
    return value


def expected_requests(sc: Scenario) -> tuple[float, float]:
    """(arrivals over the whole run, arrivals in the measured window [warm-up, duration))."""
    profile = sc.workload.profile()
    return profile.expected(0.0, sc.duration_s), profile.expected(sc.warmup_s, sc.duration_s)


def check(sc: Scenario, limit: float | None = None) -> float:
    """Refuse ``sc`` if its expected work is beyond the limit, or if it measures nothing;
    return the expected number of requests."""
    total, measured = expected_requests(sc)
    cap = max_requests(limit)
    if total > cap:
        raise ConfigError(f"the run would simulate about {total:,.0f} requests ({sc.duration_s:g} s at up to "
                          f"{sc.workload.profile().peak:,.0f} req/s; up to {total * BYTES_PER_REQUEST / 1e9:,.1f} GB "
                          f"if they queue), above the limit of {cap:,.0f}: shorten it, or raise the limit with "
                          f"--max-requests or {ENV}")
    if measured < 1:
        raise ConfigError(f"the run expects {measured:.3g} requests after its warm-up ({sc.duration_s:g} s, warm-up "
                          f"{sc.warmup_s:g} s, {sc.workload.rate_rps:g} req/s): nothing to measure")
    return total
