"""Property tests of the re-tuning formulas, the ring and the buffer's admission."""
import math
from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mbsim.mbb import formulas
from mbsim.mbb.buffer import BufferSettings, MountainBikeBuffer
from mbsim.mbb.ring import Ring

finite: dict[str, Any] = {"allow_nan": False, "allow_infinity": False}


@st.composite
def window_bounds(draw):
    lo = draw(st.floats(1, 500, **finite))
    hi = draw(st.floats(lo, 1000, **finite))
    return lo, hi, draw(st.floats(0.1, 100, **finite))


@st.composite
def capacity_bounds(draw):
    lo = draw(st.integers(2, 512))
    hi = draw(st.integers(lo, 4096))
    return lo, hi, draw(st.floats(0.1, 1000, **finite))


@given(window_bounds(), st.floats(-1e6, 1e9, **finite) | st.just(math.nan))
def test_window_stays_in_bounds(b, stddev):
    lo, hi, scale = b
    assert lo <= formulas.window_ms(stddev, lo, hi, scale) <= hi


@given(window_bounds(), st.floats(0, 1e6, **finite), st.floats(0, 1e6, **finite))
def test_window_rises_with_stddev(b, s1, s2):
    lo, hi, scale = b
    a, c = sorted((s1, s2))
    assert formulas.window_ms(a, lo, hi, scale) <= formulas.window_ms(c, lo, hi, scale)


@given(capacity_bounds(), st.floats(-1e6, 1e12, **finite) | st.just(math.nan))
def test_capacity_stays_in_bounds(b, rps):
    lo, hi, scale = b
    assert lo <= formulas.capacity(rps, lo, hi, scale) <= hi


@given(capacity_bounds(), st.floats(0, 1e9, **finite), st.floats(0, 1e9, **finite))
def test_capacity_rises_with_rps(b, r1, r2):
    lo, hi, scale = b
    a, c = sorted((r1, r2))
    assert formulas.capacity(a, lo, hi, scale) <= formulas.capacity(c, lo, hi, scale)


def test_article_constants():
    assert formulas.window_ms(0) == 50 and formulas.window_ms(5) == 125 and formulas.window_ms(50) == 200
    assert formulas.capacity(10) == 16 and formulas.capacity(20) == 32 and formulas.capacity(160) == 256
    assert formulas.capacity(1e6) == 256 and formulas.capacity(39.9) == 32
    assert formulas.max_concurrency(10.0) == 1e5 and formulas.max_concurrency(1e6) == 10


ops = st.lists(st.one_of(st.tuples(st.just("offer"), st.integers(0, 0)),
                         st.tuples(st.just("poll"), st.integers(0, 0)),
                         st.tuples(st.just("resize"), st.integers(2, 64))), max_size=300)


@given(st.integers(2, 64), ops)
def test_ring_never_holds_more_than_capacity_minus_one_after_an_offer(cap, script):
    ring = Ring(cap)
    for op, arg in script:
        if op == "offer":
            before = len(ring)
            taken = ring.offer(object())
            assert taken == (before < ring.capacity - 1)
            if taken:
                assert len(ring) <= ring.capacity - 1
        elif op == "poll" and not ring.empty():
            ring.poll()
        elif op == "resize":
            ring.resize(arg)
    assert Ring(2).usable == 1 and not Ring(2).full()


@settings(max_examples=200)
@given(st.integers(2, 64), st.integers(2, 64), st.lists(st.booleans(), max_size=400),
       st.sampled_from(["window", "concurrency"]))
def test_buffer_admits_at_most_capacity_minus_one_waiting(cap_lo, cap_hi, script, mode):
    """In both modes (a concurrency limit that has not been set yet is no limit: the ring
    still is)."""
    lo, hi = sorted((cap_lo, cap_hi))
    s = BufferSettings(mode=mode, capacity_min=lo, capacity_max=hi, window_min_ms=60_000, window_max_ms=60_000)
    buf = MountainBikeBuffer(s, workers=4, mean_service_s=1e-3)
    q: deque[Any] = deque()
    buf.attach(q, in_service=lambda: 4, offered=lambda: 0)
    for add in script:
        if add:
            if buf.admit(0.0, 1e9):
                q.append(1)
            assert len(q) <= buf.ring.capacity - 1
        elif q:
            q.popleft()
    assert buf.ring.capacity == hi


def test_the_formulas_at_their_edges():
    """By hand: the window grows from its floor as soon as latency varies at all; the
    capacity doubles only in whole steps that fit under its ceiling, and not at all before
    the RPS has doubled once; the concurrency limit is 1e6 / p95 for any positive p95."""
    assert formulas.window_ms(0.5) == 57.5 and formulas.window_ms(0.0) == 50
    assert formulas.capacity(15) == 16 and formulas.capacity(19.99) == 16 and formulas.capacity(20) == 32
    assert formulas.capacity(1e6, 16, 100) == 64  # 16 -> 32 -> 64; 128 would not fit
    assert formulas.capacity(1e6, 16, 24) == 16  # no doubling fits
    assert formulas.capacity(1e6, 16, 8) == 8  # a ceiling below the floor wins
    assert formulas.max_concurrency(0.5) == 2e6 and formulas.max_concurrency(0.0) == math.inf
    assert formulas.clamp(-1.0, 0.0, 1.0) == 0.0 and formulas.clamp(2.0, 0.0, 1.0) == 1.0
    assert formulas.clamp(0.25, 0.0, 1.0) == 0.25


def test_the_ring_keeps_order_and_one_slot_free():
    import pytest

    r = Ring(4)
    items = [object() for _ in range(4)]
    assert [r.offer(x) for x in items] == [True, True, True, False]
    assert r.full() and len(r) == 3 == r.usable
    assert [r.poll() for _ in range(3)] == items[:3]  # first in, first out, the same objects
    assert not r.full() and r.empty()
    r.offer(items[0])
    r.offer(items[1])
    r.resize(3)  # two held, two usable now: full, nothing dropped
    assert r.full() and len(r) == 2
    for bad in (Ring, r.resize):
        with pytest.raises(ValueError, match="a ring needs at least 2 slots, got 1"):
            bad(1)


def test_the_window_never_rounds_above_its_ceiling():
    """1.36 + (514 - 1.36) rounds to 514.0 when the ceiling is 513.99999999999990 (found by
    hypothesis): the sum is clamped too."""
    assert formulas.window_ms(1.0, 1.3602643858598071, 513.9999999999999, 1.0) == 513.9999999999999
