"""A backend fit carries scenarios onto the real backend at the scenario's utilisation, and
is read back only when it is whole."""
from __future__ import annotations

import json
from typing import Any

import pytest

from mbsim.errors import ConfigError
from mbsim.params import to_dict
from mbsim.verify import backend_fit as bf
from mbsim.verify import run as vrun
from mbsim.world import catalog
from mbsim.world.load_function import LoadFunction
from mbsim.world.service import Service
from mbsim.world.service_time import ServiceTime


def fitted(workers: int = 1, mean_ms: float = 0.3) -> dict[str, Any]:
    svc = Service(workers=workers, dist="gamma", mean_ms=mean_ms, shape=6.0, load=LoadFunction(gain=0.0),
                  heavy=ServiceTime(dist="lognormal", mean_ms=1.6, sigma=0.2))
    return {"schema": bf.SCHEMA, "service": to_dict(svc), "capacity_rps": svc.capacity_rps,
            "load_fit": {"held_out_loads": [0.2, 0.4, 0.6, 0.8, 0.95]}}


@pytest.mark.parametrize("name", ["loss12", "db-down", "tail-spike", "partition", "sustained"])
def test_a_scenario_keeps_its_utilisation_and_faults_on_the_backend(name):
    sc = catalog.get(name)
    on = bf.on_backend(sc, fitted())
    assert vrun.utilisation(on) == pytest.approx(vrun.utilisation(sc))
    assert on.service.capacity_rps == pytest.approx(1 / 0.3e-3)
    assert on.faults == sc.faults and on.network == sc.network and on.client == sc.client
    k = on.workload.rate_rps / sc.workload.rate_rps
    assert [r for *_, r in on.workload.ramps] == pytest.approx([r * k for *_, r in sc.workload.ramps])
    assert on.workload.spike_fraction == sc.workload.spike_fraction
    assert on.service.heavy is not None and on.service.heavy.mean_ms == 1.6


def test_faults_the_backend_cannot_play_are_refused_in_one_line():
    from mbsim.world.faults import Faults

    sc = catalog.get("loss12")
    import dataclasses

    bad = dataclasses.replace(sc, faults=Faults(delay_spikes=((1.0, 2.0, 5.0),)))
    with pytest.raises(ConfigError, match="the sqlite backend does not play delay spikes"):
        bf.on_backend(bad, fitted())


def test_the_held_out_scenarios_are_the_fits_held_out_loads_up_to_80_percent():
    doc = fitted()
    held = [vrun.held_out_scenario(u, 5.0, bf.service(doc)) for u in bf.held_out_loads(doc) if u <= 0.8]
    assert [s.name for s in held] == ["held-out-20", "held-out-40", "held-out-60", "held-out-80"]
    assert [vrun.utilisation(s) for s in held] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert all(s.workload.spike_fraction == 0 for s in held)


def test_a_stored_fit_is_checked_when_read(tmp_path):
    good = tmp_path / "fit.json"
    good.write_text(json.dumps(fitted()))
    assert bf.service(bf.load(good)).heavy.mean_ms == 1.6
    with pytest.raises(ConfigError, match="no backend fit"):
        bf.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "mbsim.calibration/1"}))
    with pytest.raises(ConfigError, match="not a backend fit"):
        bf.load(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text(json.dumps({"schema": bf.SCHEMA, "service": {"workers": 0}}))
    with pytest.raises(ConfigError, match=r"service\.workers must be in \[1, 100,000\], got 0"):
        bf.load(tmp_path / "broken.json")


def test_verify_refuses_the_sqlite_backend_without_its_fit():
    from mbsim.formats.settings_file import SettingsFile
    from mbsim.verify.arms import get

    with pytest.raises(ConfigError, match="the sqlite backend needs its fit"):
        vrun.verify(["loss12"], get(None), SettingsFile(), backend="sqlite")
    with pytest.raises(ConfigError, match="backend must be one of timer, sqlite, got 'mysql'"):
        vrun.verify(["loss12"], get(None), SettingsFile(), backend="mysql")


def test_the_model_sees_a_spike_windows_measured_cost_and_the_testbed_its_query_factor():
    doc = {**fitted(), "window_ratio": 2.5}
    sc = catalog.get("tail-spike")  # windows of 4x
    on = bf.on_backend(sc, doc)
    assert on.workload.spike_windows == sc.workload.spike_windows  # the server lengthens the queries 4x
    model = bf.for_model(on, doc)
    assert [f for *_, f in model.workload.spike_windows] == [2.5] * len(sc.workload.spike_windows)
    assert bf.window_factor(1.0, doc) == 1.0 and bf.window_factor(2.5, doc) == pytest.approx(1.75)
    assert bf.window_factor(4.0, fitted()) == 4.0  # a fit that measured none leaves the factor alone
