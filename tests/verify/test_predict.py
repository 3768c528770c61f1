"""The prediction of a testbed run, from the planned arrivals and from the realized sends."""
import dataclasses

import numpy as np

from mbsim.formats.settings_file import SettingsFile
from mbsim.verify import calibrate, predict
from mbsim.verify.arms import ARMS
from mbsim.verify.testbed import requests_of
from mbsim.world import catalog

SC = dataclasses.replace(catalog.get("tail-spike"), duration_s=6.0, warmup_s=1.0)
CAL = {"base_rtt_us": {"mean": 100.0, "samples": [60.0, 80.0, 100.0, 160.0]},
       "kernel_answer_us": {"samples": [5.0, 6.0]}, "user_answer_us": {"samples": [50.0, 70.0]}}


def test_realized_sends_equal_to_the_plan_predict_exactly_what_the_plan_does():
    planned = requests_of(SC, 2)["times"]
    for arm in ARMS.values():
        a = predict.predict(SC, arm, SettingsFile().settings, 2, CAL)
        b = predict.predict(SC, arm, SettingsFile().settings, 2, CAL, arrivals_s=planned)
        assert a.metrics == b.metrics, arm.name


def test_a_stalled_generator_is_seen_by_the_realized_prediction():
    # the plain service at 31 % load; the generator stalls for 30 ms at 3 s, then sends what it
    # owed at once: the burst queues, and only the realized sends show it
    base = catalog.get("loss12")
    sc = dataclasses.replace(base, duration_s=6.0, warmup_s=1.0,
                             network=dataclasses.replace(base.network, loss_request=0.0, loss_response=0.0))
    t = requests_of(sc, 2)["times"]
    late = (t >= 3.0) & (t < 3.03)
    realized = np.where(late, 3.03, t)
    arm = ARMS["none"]
    plan = predict.predict(sc, arm, SettingsFile().settings, 2, CAL)
    real = predict.predict(sc, arm, SettingsFile().settings, 2, CAL, arrivals_s=realized)
    assert late.sum() > 50
    assert abs(real["requests"] - plan["requests"]) < 0.001 * plan["requests"]
    assert real["p999_ms"] > 1.2 * plan["p999_ms"] and real["latency_mean_ms"] > plan["latency_mean_ms"]


def test_the_calibration_feeds_each_attempts_round_trip_from_its_samples():
    sc = calibrate.apply(SC, CAL, "none")
    assert sc.network.rtt_samples_us == (60.0, 80.0, 100.0, 160.0) and sc.network.rtt_ms == 0.1
    assert calibrate.apply(SC, CAL, "horn").snapshot.latency_samples_us == (5.0, 6.0)
