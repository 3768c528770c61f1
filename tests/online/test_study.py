"""The space a running horn can take, and where a study starts."""
import pytest

from mbsim.deploy.export import constants_of
from mbsim.errors import ConfigError
from mbsim.mbb.settings import MbbSettings
from mbsim.online.study import COMPILED, _with, online_dims
from mbsim.tuning import space


def test_the_online_space_is_offline_s_less_what_is_compiled():
    s = MbbSettings()
    dims = {d.name: d for d in online_dims(s)}
    assert set(dims) == {d.name for d in space.build(None)} - set(COMPILED)
    assert dims["buffer.capacity_max"].low == 2  # offline: 16
    # every window_max_ms the space allows compiles to the same slot count as the running horn
    count = constants_of(s)["MBB_SLOT_COUNT"]
    wm = dims["buffer.window_max_ms"]
    for v in (wm.low, wm.high):
        assert constants_of(_with(s, window_max_ms=v))["MBB_SLOT_COUNT"] == count
    assert constants_of(_with(s, window_max_ms=wm.high + 1))["MBB_SLOT_COUNT"] != count


@pytest.mark.parametrize("name", COMPILED)
def test_a_compiled_dimension_is_refused_in_one_line(name):
    with pytest.raises(ConfigError, match="compiled into the running horn: tune it offline"):
        online_dims(MbbSettings(), [name])
