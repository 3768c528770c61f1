"""Property tests of the re-tuning formulas, the ring and the buffer's admission."""
import math
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from mbsim.mbb import formulas
from mbsim.mbb.buffer import BufferSettings, MountainBikeBuffer
from mbsim.mbb.ring import Ring

finite = {"allow_nan": False, "allow_infinity": False}


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
    q: deque = deque()
    buf.attach(q, in_service=lambda: 4, offered=lambda: 0)
    for add in script:
        if add:
            if buf.admit(0.0, 1e9):
                q.append(1)
            assert len(q) <= buf.ring.capacity - 1
        elif q:
            q.popleft()
    assert buf.ring.capacity == hi
