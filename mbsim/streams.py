"""Seeded random streams: one per random input, all spawned from one SeedSequence.

Common random numbers: request *i* always gets the *i*-th draw of every per-request
stream, whatever the policy does with it. Draws are taken in blocks with numpy (fast)
and handed out one request at a time, so "drawn in blocks" and "drawn when the request
arrives" give identical numbers. A policy that rejects a request therefore cannot shift
anybody else's draws.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from mbsim.errors import ConfigError

#: Stream names in spawn order. Appending is safe; reordering changes every result.
STREAMS: tuple[str, ...] = (
    "arrival",          # exponential gaps of the candidate arrival process (s)
    "thinning",         # uniforms that thin candidates to the time-varying rate
    "service",          # base service time of each request's first attempt (s)
    "loss_request",     # uniform per request: request-leg packet loss
    "loss_response",    # uniform per request: response-leg packet loss
    "snapshot_hit",     # uniform per request: is the key in the fallback snapshot?
    "fallback_latency", # latency of a fallback answer (s)
    "spike",            # uniform per request: is it a tail spike?
    "retry",            # draws for retried attempts (service, losses, spike)
    "backoff",          # jitter of client back-off
    "policy",           # a policy's own randomness (SRE throttling, Vegas probe jitter, Envoy jitter)
)

BLOCK = 4096
#: :func:`child` indices of the round-trip streams (first attempts, retries), far beyond
#: the per-request faults' ``len(STREAMS) + 2k``
RTT_FIRST, RTT_RETRY = 1_000_000, 1_000_001
#: and those of a heavy request class's service times (``service.heavy``)
HEAVY_FIRST, HEAVY_RETRY = 1_000_002, 1_000_003


MAX_SEED = 2 ** 63  # seeds are integers in [0, MAX_SEED)


def check_seed(seed: object) -> int:
    """``seed`` as an int, or a one-line :class:`ConfigError`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < MAX_SEED:
        raise ConfigError(f"a seed is an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def spawn(seed: int) -> dict[str, np.random.Generator]:
    """One independent ``numpy.random.Generator`` per name in :data:`STREAMS`."""
    children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def child(seed: int, index: int) -> np.random.Generator:
    """The ``index``-th stream spawned from ``seed``, for inputs beyond :data:`STREAMS`
    (a scenario's own per-request faults use ``len(STREAMS) + k``): independent of every
    named stream, and the same for the same seed and index."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))


def endless(draw: Callable[[int], np.ndarray], block: int = BLOCK) -> Iterator[float]:
    """Iterate over floats produced ``block`` at a time by ``draw(block)``."""
    def blocks() -> Iterator[list[float]]:
        while True:
            yield draw(block).tolist()
    return chain.from_iterable(blocks())


def endless_rows(draws: list[Callable[[int], np.ndarray]], block: int = BLOCK) -> Iterator[tuple[Any, ...]]:
    """Iterate over tuples whose k-th item comes from ``draws[k]``, one tuple per request."""
    def blocks() -> Iterator[list[tuple[Any, ...]]]:
        while True:
            yield list(zip(*(d(block).tolist() for d in draws)))
    return chain.from_iterable(blocks())
