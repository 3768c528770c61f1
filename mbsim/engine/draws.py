"""What each request draws at random, declared once.

A request's draws are a tuple, one field per random input, indexed by the constants
below. Every field comes from its own seeded stream (:mod:`mbsim.streams`), drawn in
blocks and handed out one request at a time, so request *i* gets the same draws under
every policy (common random numbers). A retried attempt draws afresh the fields that
change between attempts (service time, losses, spike) from the ``retry`` stream; the
snapshot fields stay those of the first attempt.

To add a per-request random fault, declare it in a scenario
(:class:`mbsim.world.faults.RequestFault`): it gets a uniform field here, from a stream
of its own, at index ``EXTRA + k``, and the model applies it where it acts.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np

from mbsim import streams
from mbsim.world.scenario import Scenario
from mbsim.world.workload import arrival_gaps

#: field indices of a draws tuple
SERVICE = 0  # base service time (s)
SPIKE = 1  # uniform: a tail spike when below workload.spike_fraction
HIT = 2  # uniform: the key is in the snapshot when below snapshot.hit_ratio (first attempt)
FALLBACK_LATENCY = 3  # latency of a snapshot answer (s) (first attempt)
LOSS_REQUEST = 4  # uniform: lost on the request leg when below network.loss_request
LOSS_RESPONSE = 5  # uniform: lost on the response leg when below network.loss_response
EXTRA = 6  # the scenario's own per-request faults, one uniform each, in declaration order

#: the value of each field for which nothing happens (exact-path tests replace the draws)
NEUTRAL = (0.0, 1.0, 0.0, 0.0, 1.0, 1.0)
#: the fields a retried attempt draws afresh, in the order they come off the retry stream
RETRIED = (SERVICE, LOSS_REQUEST, LOSS_RESPONSE, SPIKE)


def lossy(sc: Scenario) -> bool:
    """Can a packet of ``sc`` be lost or delayed (loss, partitions, delay spikes, or a
    per-request fault on either leg)?"""
    net, f = sc.network, sc.faults
    return bool(net.loss_request or net.loss_response or f.partitions or f.delay_spikes
                or f.requested("request") or f.requested("response"))


def _base_width(sc: Scenario) -> int:
    if sc.faults.per_request:
        return EXTRA + len(sc.faults.per_request)
    return EXTRA if lossy(sc) else LOSS_REQUEST


def rtt_field(sc: Scenario) -> int | None:
    """Index of the attempt's own round trip (s), when the network gives measured samples
    (``network.rtt_samples_us``): the last field. None: every attempt takes ``rtt_ms``."""
    return max(_base_width(sc), EXTRA) if sc.network.rtt_samples_us else None


def heavy_field(sc: Scenario) -> int | None:
    """Index of the heavy class's service time (s), where the service has one
    (``service.heavy``): after the round trip. None: a spike is ``spike_factor`` times the draw."""
    if sc.service.heavy is None:
        return None
    k = rtt_field(sc)
    return max(_base_width(sc), EXTRA) if k is None else k + 1


def width(sc: Scenario) -> int:
    """Fields per draws tuple: the loss fields only where a packet can be lost (or where
    per-request faults follow them), then a round trip where it is drawn, then a heavy
    class's service time where the service has one."""
    k = heavy_field(sc)
    if k is None:
        k = rtt_field(sc)
    return _base_width(sc) if k is None else k + 1


@dataclass
class Draws:
    """Everything random in one run, as endless iterators."""

    gaps: Iterator[float]  # arrival gaps (s)
    first: Iterator[tuple[Any, ...]]  # a new request's draws
    retry: Iterator[tuple[Any, ...]]  # a retried attempt's draws (same layout)
    backoff: Iterator[float]  # uniforms for the client's back-off jitter


def _columns(order: list[tuple[int, Callable[[int], np.ndarray]]], n: int, block: int) -> Iterator[tuple[Any, ...]]:
    """Rows of ``n`` fields; ``order`` lists (field, draw) in the order the draws must be
    taken (several may share one generator); fields not listed are 0.0."""
    def blocks() -> Iterator[list[tuple[Any, ...]]]:
        zeros = [0.0] * block
        while True:
            cols: list[Any] = [zeros] * n
            for field, draw in order:
                cols[field] = draw(block).tolist()
            yield list(zip(*cols))
    return chain.from_iterable(blocks())


def _choice(g: np.random.Generator, pool: np.ndarray) -> Callable[[int], np.ndarray]:
    """``draw(n)``: n values drawn from ``pool`` with replacement."""
    return lambda n: g.choice(pool, n)


def draws(sc: Scenario, seed: int, block: int = streams.BLOCK) -> Draws:
    """The draws of ``sc`` at ``seed``."""
    rng = streams.spawn(seed)
    n = width(sc)

    def uniform(g: np.random.Generator) -> Callable[[int], np.ndarray]:
        return g.random

    first: list[tuple[int, Callable[[int], np.ndarray]]] = [
        (SERVICE, sc.service.sampler(rng["service"])),
        (SPIKE, uniform(rng["spike"])),
        (HIT, uniform(rng["snapshot_hit"])),
        (FALLBACK_LATENCY, sc.snapshot.latency_sampler(rng["fallback_latency"])),
    ]
    if n > LOSS_REQUEST:
        first += [(LOSS_REQUEST, uniform(rng["loss_request"])), (LOSS_RESPONSE, uniform(rng["loss_response"]))]
    r = rng["retry"]
    retry = [(f, sc.service.sampler(r) if f == SERVICE else uniform(r)) for f in RETRIED]
    for k in range(len(sc.faults.per_request)):
        base = len(streams.STREAMS) + 2 * k
        first.append((EXTRA + k, uniform(streams.child(seed, base))))
        retry.append((EXTRA + k, uniform(streams.child(seed, base + 1))))
    at = rtt_field(sc)
    if at is not None:  # streams of their own, beyond any per-request fault's
        pool = np.asarray(sc.network.rtt_samples_us) / 1e6
        for rows, index in ((first, streams.RTT_FIRST), (retry, streams.RTT_RETRY)):
            rows.append((at, _choice(streams.child(seed, index), pool)))
    hv = heavy_field(sc)
    if hv is not None and sc.service.heavy is not None:  # streams of their own, beyond the round trip's
        for rows, index in ((first, streams.HEAVY_FIRST), (retry, streams.HEAVY_RETRY)):
            rows.append((hv, sc.service.heavy.sampler(streams.child(seed, index))))
    return Draws(
        gaps=arrival_gaps(sc.workload, rng["arrival"], rng["thinning"]),
        first=_columns(first, n, block),
        retry=_columns(retry, max(n, EXTRA), block),
        backoff=streams.endless(rng["backoff"].random, block),
    )


def exact(sc: Scenario, gaps: Iterable[float] | None, services: Iterable[float] | None, seed: int) -> Draws:
    """The draws of ``sc``, with the arrival gaps and/or the service times replaced by
    given sequences (exact-path tests): with ``services``, nothing else happens to a
    request (no spike, no loss, every key in the snapshot)."""
    d = draws(sc, seed)
    if gaps is not None:
        d.gaps = chain(iter(gaps), repeat(float("inf")))
    if services is not None:
        tail = NEUTRAL[1:] + (1.0,) * len(sc.faults.per_request)
        if rtt_field(sc) is not None:
            tail += (sc.network.rtt_ms / 1e3,)
        if heavy_field(sc) is not None:
            tail += (0.0,)
        d.first = ((s, *tail) for s in services)
    return d
