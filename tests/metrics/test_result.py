"""A run's result as a row, a frame, a time series and JSON, on hand-made values."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mbsim.metrics.histogram import LogHistogram
from mbsim.metrics.recorder import Recorder
from mbsim.metrics.result import PERCENTILES, Result


def result(histogram: bool = True) -> Result:
    h = None
    if histogram:
        h = LogHistogram()
        h.add(np.arange(1, 1001) * 1e-3)  # 1 .. 1000 ms
    row = (1, 10, 1, 2, 2.0, 9.5, 1, False, 12, 7)
    return Result("db-down", "mbb", 7, 10.0, 2.0,
                  metrics={"p99_ms": np.float64(9.5), "nan": math.nan, "inf": math.inf, "n": np.int64(3),
                           "ok": np.bool_(True), "counts": {"success": 8}, "pair": (1.0, math.nan)},
                  server={"workers": 4.0}, buffer={"window_ms": 50.0}, params={"a": 1}, wall_s=0.25,
                  seconds=[row], transitions=[(4.1, 1)], histogram=h)


def test_the_row_and_frame_hold_the_run_and_its_flat_metrics():
    r = result()
    row = r.row()
    assert {k: row[k] for k in ("scenario", "policy", "seed", "n")} == {"scenario": "db-down", "policy": "mbb",
                                                                          "seed": 7, "n": 3}
    assert "counts" not in row and r["p99_ms"] == 9.5
    assert r.frame().shape == (1, len(row)) and r.frame()["policy"][0] == "mbb"


def test_the_timeseries_has_the_recorder_columns():
    ts = result().timeseries
    assert list(ts.columns) == list(Recorder.COLUMNS) and ts["arrivals"].tolist() == [12]


def test_json_is_strict_and_holds_everything():
    r = result()
    d = json.loads(r.to_json(timeseries=True))
    assert (d["scenario"], d["policy"], d["seed"], d["duration_s"], d["warmup_s"], d["wall_s"]) == (
        "db-down", "mbb", 7, 10.0, 2.0, 0.25)
    m = d["metrics"]
    assert m["nan"] is None and m["inf"] is None and m["pair"] == [1.0, None]  # NaN and inf are not JSON
    assert (m["p99_ms"], m["n"], m["ok"], m["counts"]) == (9.5, 3, True, {"success": 8})
    assert type(m["n"]) is int and type(m["ok"]) is bool
    assert d["server"] == {"workers": 4.0} and d["buffer"] == {"window_ms": 50.0} and d["params"] == {"a": 1}
    assert d["breaker_transitions"] == [[4.1, 1]]
    assert d["timeseries"]["p99_ms"] == [9.5] and "timeseries" not in json.loads(r.to_json())
    assert set(d["percentiles"]) == set(PERCENTILES)
    p99 = d["percentiles"]["p99_ms"]
    assert p99["value"] == pytest.approx(990.0, rel=1e-3) and p99["beyond"] == 10 and p99["meaningful"] is False
    assert json.loads(r.to_json(indent=None)) == json.loads(r.to_json())
    assert "\n" not in r.to_json(indent=None)
    assert r.to_json().startswith('{\n  "scenario": "db-down"')  # indented by 2 unless told
    assert "timeseries" not in r.to_dict()


def test_percentiles_from_the_histogram_at_a_level():
    r = result()
    p = r.percentiles()
    assert p["p50_ms"].value == pytest.approx(500.0, rel=1e-3) and p["p50_ms"].n == 1000
    assert p["p50_ms"].level == 0.95 and r.percentiles(level=0.9)["p50_ms"].level == 0.9
    assert p["p9999_ms"].beyond == 0 and p["p90_ms"].beyond == 100 and p["p90_ms"].meaningful
    assert result(histogram=False).percentiles() == {}
