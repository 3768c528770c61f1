"""One rule for how a study names and stores its scenario (the CLI and the report share it)."""
import dataclasses

from mbsim.params import from_dict
from mbsim.tuning.study import scenario_ref
from mbsim.world import catalog
from mbsim.world.scenario import Scenario


def test_a_built_in_scenario_goes_by_name_and_a_changed_or_file_one_by_its_spec():
    sc = catalog.get("tail-spike")
    assert scenario_ref("tail-spike", sc) == ("tail-spike", None)
    changed = dataclasses.replace(sc, duration_s=7.0)
    name, spec = scenario_ref("tail-spike", changed, changed=True)
    assert name == "tail-spike-set" and spec is not None and from_dict(Scenario, spec) == changed
    name, spec = scenario_ref("/tmp/x/my-scenario.json", sc)
    assert name == "my-scenario" and spec is not None and from_dict(Scenario, spec) == sc
