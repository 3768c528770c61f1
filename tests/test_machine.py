"""A calibration belongs to the machine and boot that measured it."""
import json

import pytest

from mbsim import machine
from mbsim.errors import ConfigError
from mbsim.verify import calibrate


def doc(ident):
    return {"schema": calibrate.SCHEMA, "base_rtt_us": {"mean": 60.0, "samples": [55.0, 65.0]},
            "kernel_answer_us": {"samples": [5.0]}, "user_answer_us": {"samples": [50.0]}, "machine": ident,
            "testbed": {"pm_qos_us": 0}}


def test_this_machine_is_itself_and_another_boot_is_not():
    here = machine.identity()
    assert here["cores"] >= 1 and here["kernel"] and here["boot_id"]
    assert machine.differs(here) is None
    other = {**here, "boot_id": "another-boot"}
    assert machine.differs(other) == f"its boot id is 'another-boot', this machine's {here['boot_id']!r}"
    assert machine.differs(None) == "it records no machine"
    assert "cores" in machine.label(here)


@pytest.fixture
def stored(tmp_path, monkeypatch):
    monkeypatch.setattr(calibrate, "DEFAULT_PATH", tmp_path / "this-machine.json")
    return tmp_path


def test_a_calibration_from_this_machine_is_used_as_it_is(stored):
    path = calibrate.save(doc(machine.identity()), stored / "mine.json")
    said: list[str] = []
    got = calibrate.for_this_machine(path, lambda: pytest.fail("measured again"), said.append)
    assert got["base_rtt_us"]["mean"] == 60.0 and said == [f"calibration from {path} (measured on this machine)"]


@pytest.mark.parametrize("ident", [{**machine.identity(), "boot_id": "x"}, {**machine.identity(), "cores": 64}, None])
def test_a_calibration_from_another_machine_or_boot_is_measured_again_and_said_in_one_line(stored, ident):
    path = calibrate.save(doc(ident), stored / "theirs.json")
    fresh = doc(machine.identity())
    said: list[str] = []
    got = calibrate.for_this_machine(path, lambda: fresh, said.append)
    assert got is fresh and len(said) == 1
    assert said[0].startswith(f"{path} was measured on another machine or boot, or under other conditions (")
    assert "calibrating this one" in said[0]
    # what was measured is kept for this machine, and used next time without measuring
    assert json.loads(calibrate.DEFAULT_PATH.read_text())["machine"] == machine.identity()
    again = calibrate.for_this_machine(None, lambda: pytest.fail("measured again"), said.append)
    assert again["machine"] == machine.identity()


def test_a_calibration_measured_without_the_testbeds_pm_qos_request_is_measured_again(stored):
    old = {**doc(machine.identity()), "testbed": {}}
    path = calibrate.save(old, stored / "old.json")
    said: list[str] = []
    fresh = doc(machine.identity())
    assert calibrate.for_this_machine(path, lambda: fresh, said.append) is fresh
    assert "(it was measured without the testbed's PM QoS request of 0 us)" in said[0]


def test_the_committed_calibration_is_an_example_labelled_with_its_machine():
    from pathlib import Path

    examples = sorted((Path(__file__).parents[1] / "data" / "calibration").glob("example-*.json"))
    assert examples
    for path in examples:
        d = calibrate.load(path)
        assert "example" in d["machine"] and machine.differs(d["machine"]) is not None


def test_no_stored_calibration_measures_first_and_a_missing_named_file_is_one_line(stored):
    said: list[str] = []
    got = calibrate.for_this_machine(None, lambda: doc(machine.identity()), said.append)
    assert got["machine"] == machine.identity() and said[0].startswith("no calibration for this machine yet")
    with pytest.raises(ConfigError, match=r"nope\.json: no such calibration file"):
        calibrate.for_this_machine(stored / "nope.json", lambda: doc(None))
