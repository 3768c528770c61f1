"""`mbsim bench hotload` measures what it says: each kind of change, in one run, beside its baseline."""
import pytest
from kernel_fixtures import needs_bpf

from mbsim.bench import hotload

pytestmark = [needs_bpf, pytest.mark.bpf]


def test_every_kind_of_change_is_measured_beside_the_baseline():
    out = hotload.measure(n=60, rps=1000.0)
    kinds = ("baseline", "flip", "hot_load", "served_update", "control_round_trip")
    assert all(out[k]["n"] >= 12 for k in kinds)
    assert out["baseline"]["p50_ratio"] == 1.0
    # a flip is two map updates, a hot load a flip and more, a round trip a served update and more
    assert out["flip"]["p50_us"] > out["baseline"]["p50_us"]
    assert out["hot_load"]["p50_us"] > out["baseline"]["p50_us"]
    assert out["control_round_trip"]["p50_us"] > out["served_update"]["p50_us"]
    assert out["decided_during"] > 0  # the horn decided packets meanwhile
    text = hotload.format(out)
    assert len([ln for ln in text.splitlines() if ln.startswith("| ")]) == 6  # the header and five rows
    assert "goal: an update's p99 <= 100 us" in text
