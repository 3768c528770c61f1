"""Seeds: same seed, same result; other seed, other result; common random numbers."""
import pytest

from mbsim import simulate, streams
from mbsim.engine import model as model_mod


def strip(r):
    d = r.to_dict(timeseries=True)
    d.pop("wall_s")
    return d


@pytest.mark.parametrize("policy", ["none", "mbb"])
def test_same_seed_same_result(policy):
    a = simulate("tail-spike", policy=policy, seed=11, duration_s=4)
    b = simulate("tail-spike", policy=policy, seed=11, duration_s=4)
    assert strip(a) == strip(b)


def test_other_seed_other_result():
    a = simulate("loss12", policy="mbb", seed=1, duration_s=3)
    b = simulate("loss12", policy="mbb", seed=2, duration_s=3)
    assert strip(a) != strip(b)
    assert a["requests"] != b["requests"] or a["p50_ms"] != b["p50_ms"]


def test_streams_are_independent_and_named():
    rng = streams.spawn(5)
    assert list(rng) == list(streams.STREAMS)
    firsts = {name: g.random() for name, g in rng.items()}
    assert len(set(firsts.values())) == len(firsts)  # no two streams share a state
    again = {name: g.random() for name, g in streams.spawn(5).items()}
    assert again == firsts


def _arrivals(monkeypatch, policy, scenario="tail-spike", seed=3):
    """(arrival time, draws) of every request, as the model takes them."""
    seen = []
    original = model_mod.Model.__init__

    def spy(self, env, sc, protection, recorder, draws, *rest, **kw):
        def watched(first):
            for d in first:
                seen.append((env.now, d))
                yield d
        draws.first = watched(draws.first)
        original(self, env, sc, protection, recorder, draws, *rest, **kw)

    monkeypatch.setattr(model_mod.Model, "__init__", spy)
    r = simulate(scenario, policy=policy, seed=seed, duration_s=4)
    monkeypatch.setattr(model_mod.Model, "__init__", original)
    return seen, r


def test_common_random_numbers_across_policies(monkeypatch):
    """Request i gets the same arrival time and the same draws whatever the policy does."""
    none, r_none = _arrivals(monkeypatch, "none")
    mbb, r_mbb = _arrivals(monkeypatch, "mbb")
    brk, r_brk = _arrivals(monkeypatch, "breaker")
    hys, r_hys = _arrivals(monkeypatch, "hystrix")
    sre, r_sre = _arrivals(monkeypatch, "sre")
    veg, r_veg = _arrivals(monkeypatch, "vegas")
    # the policies really behave differently ...
    assert r_mbb["fallback_ratio"] > 0.01 and r_none["fallback_ratio"] == 0
    assert r_brk["rejected_ratio"] > 0 and r_veg["rejected_ratio"] > 0.05
    assert len({r["p99_ms"] for r in (r_none, r_mbb, r_brk, r_hys, r_sre, r_veg)}) >= 5
    # ... and still every request saw the same inputs
    assert none == mbb == brk == hys == sre == veg
    assert len(none) > 30000
