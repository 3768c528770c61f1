"""settings.json -> export -> load, the manifest against its CRD, and bad settings."""
import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

from mbsim.deploy import kubernetes as qos
from mbsim.deploy.export import export, kernel_constants, load_config
from mbsim.errors import ConfigError
from mbsim.formats.settings_file import SettingsFile, load
from mbsim.mbb.settings import MbbSettings
from mbsim.world.slo import Slo


def tuned() -> SettingsFile:
    from mbsim.params import override
    s = override(MbbSettings(), {"buffer.window_min_ms": 20.0, "buffer.capacity_max": 64, "fallback.deadline_ms": 3.5,
                                 "breaker.kind": "count", "breaker.failure_threshold": 7})
    return SettingsFile(s, Slo(target_ms=30, percentile=99.9, budget=0.002), scenario="tail-spike")


@pytest.mark.parametrize("fmt", ["mbb-config.json", "mbb-config.yaml"])
def test_round_trip_is_identical(tmp_path, fmt):
    sf = tuned()
    sf.write(tmp_path / "settings.json")
    export(tmp_path / "settings.json", tmp_path / "out")
    back = load_config(tmp_path / "out" / fmt)
    assert back.settings == sf.settings and back.slo == sf.slo and back.scenario == "tail-spike"
    assert load(tmp_path / "settings.json").settings == sf.settings


def test_header_constants(tmp_path):
    sf = tuned()
    sf.write(tmp_path / "s.json")
    files = export(tmp_path / "s.json", tmp_path / "out")
    text = files["header"].read_text()
    k = kernel_constants(sf)
    # window_min 20 ms: slots near 4 ms, as a power of two of ns (a shift, no division, in the kernel)
    assert k["MBB_SLOT_SHIFT"] == 22 and k["MBB_SLOT_NS"] == 1 << 22 and k["MBB_DEADLINE_NS"] == 3_500_000
    assert k["MBB_SLOT_COUNT"] * k["MBB_SLOT_NS"] >= 200e6  # the slots cover window_max
    assert k["MBB_SLOT_COUNT"] & (k["MBB_SLOT_COUNT"] - 1) == 0  # a mask, no modulo
    assert f"#define MBB_SLOT_NS {k['MBB_SLOT_NS']}ULL" in text
    assert f"#define MBB_SLOT_COUNT {k['MBB_SLOT_COUNT']}" in text
    script = files["attach"].read_text()
    assert "tc qdisc add dev" in script and "clsact" in script
    assert "bpf da obj" in script and "sec tc/horn_egress" in script and "sec tc/horn_ingress" in script
    assert "nsenter --net=" in script  # never ip netns exec: the pins would vanish


def test_manifest_validates_against_crd(tmp_path):
    sf = tuned()
    sf.write(tmp_path / "s.json")
    files = export(tmp_path / "s.json", tmp_path / "out")
    doc = yaml.safe_load(files["manifest"].read_text())
    crd = yaml.safe_load(files["crd"].read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    jsonschema.Draft4Validator(schema).validate(doc)  # OpenAPI v3.0's dialect
    assert doc["spec"]["qosClass"] == "TRAIL" and doc["spec"]["latencyMaxMs"] == 30
    assert doc["spec"]["jitterMaxUs"] == 2500
    broken = json.loads(json.dumps(doc))
    broken["spec"]["latencyMaxMs"] = 500
    with pytest.raises(ConfigError, match="latencyMaxMs"):
        qos.validate(broken, crd)
    broken["spec"]["latencyMaxMs"] = 10
    broken["spec"]["qosClass"] = "DOWNHILL"
    with pytest.raises(ConfigError, match="qosClass"):
        qos.validate(broken, crd)


@pytest.mark.parametrize("low, high, small, big", [("capacityMin", "capacityMax", 16, 256),
                                                     ("windowMinMs", "windowMaxMs", 50.0, 200.0)])
def test_the_crd_keeps_each_minimum_at_or_below_its_maximum(tmp_path, low, high, small, big):
    sf = tuned()
    sf.write(tmp_path / "s.json")
    files = export(tmp_path / "s.json", tmp_path / "out")
    crd = yaml.safe_load(files["crd"].read_text())
    buffer = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["buffer"]
    rules = {r["rule"] for r in buffer["x-kubernetes-validations"]}
    assert f"!has(self.{low}) || !has(self.{high}) || self.{low} <= self.{high}" in rules  # the API server's CEL
    qos.validate_crd(crd)  # the rules are accepted by apiextensions.k8s.io/v1
    doc = yaml.safe_load(files["manifest"].read_text())
    doc["spec"]["buffer"].update({low: small, high: small})
    qos.validate(doc, crd)  # equal is allowed
    doc["spec"]["buffer"].update({low: big, high: small})
    with pytest.raises(ConfigError, match=f"spec/buffer: {low} must not exceed {high}"):
        qos.validate(doc, crd)


@pytest.mark.parametrize("target, cls", [(1, "XC"), (15, "XC"), (15.5, "TRAIL"), (35, "TRAIL"), (80, "ENDURO")])
def test_qos_class_from_slo(target, cls):
    assert qos.qos_class(target)[0] == cls


def test_slo_beyond_enduro_is_refused(tmp_path):
    SettingsFile(slo=Slo(target_ms=120)).write(tmp_path / "s.json")
    with pytest.raises(ConfigError, match="no MountainBikeQoS class"):
        export(tmp_path / "s.json", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("doc, message", [
    ({"schema": "mbsim.settings/2", "settings": {}}, "schema must be"),
    ({"schema": "mbsim.settings/1"}, "missing 'settings'"),
    ({"schema": "mbsim.settings/1", "settings": {"buffer": {"window_min_ms": 300}}},
     "window_min_ms (300) > window_max_ms"),
    ({"schema": "mbsim.settings/1", "settings": {"buffer": {"wnidow_min_ms": 3}}},
     "unknown parameter buffer.wnidow_min_ms"),
    ({"schema": "mbsim.settings/1", "settings": {}, "extra": 1}, "unknown field 'extra'"),
    ({"schema": "mbsim.settings/1", "settings": {"fallback": {"deadline_ms": -1}}},
     "deadline_ms must be in [0.001, 60,000]"),
])
def test_invalid_settings_get_clear_errors(tmp_path, doc, message):
    (tmp_path / "s.json").write_text(json.dumps(doc))
    r = subprocess.run([sys.executable, "-m", "mbsim", "export", str(tmp_path / "s.json"), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_duplicate_key_in_settings(tmp_path):
    (tmp_path / "s.json").write_text('{"schema": "mbsim.settings/1", "settings": {}, "settings": {}}')
    with pytest.raises(ConfigError, match="duplicate parameter 'settings'"):
        load(tmp_path / "s.json")


def test_header_constants_are_read_back_with_their_suffix_removed_not_stripped(tmp_path, exported):
    from mbsim.deploy.export import read_header

    h = tmp_path / "mbb_settings.h"
    text = (exported / "out" / "mbb_settings.h").read_text()
    assert read_header(exported / "out" / "mbb_settings.h")["MBB_SLOT_NS"] == 1 << 23
    h.write_text(text.replace("MBB_INFLIGHT_MAX 65536", "MBB_INFLIGHT_MAX 0x1FULL"))
    assert read_header(h)["MBB_INFLIGHT_MAX"] == 0x1F  # rstrip("ULL") would have eaten nothing here, but:
    h.write_text(text.replace("MBB_INFLIGHT_MAX 65536", "MBB_INFLIGHT_MAX LUL"))
    with pytest.raises(ConfigError, match="MBB_INFLIGHT_MAX must be an integer, got 'LUL'"):
        read_header(h)  # rstrip("ULL") turned "LUL" into "" - a different, silent failure


def test_the_crd_passes_kubernetes_validation_and_the_structural_rules(tmp_path):
    qos.validate_crd()  # kubernetes-validate (strict, apiextensions.k8s.io/v1) and structural rules
    SettingsFile().write(tmp_path / "s.json")
    files = export(tmp_path / "s.json", tmp_path / "out")
    qos.validate_crd(yaml.safe_load(files["crd"].read_text()))


def test_what_the_old_crd_did_is_refused():
    old = qos.crd()
    spec = old["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    numeric = json.loads(json.dumps(old))
    numeric["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["deadlineMs"] = \
        {"type": "number", "exclusiveMinimum": 0}
    with pytest.raises(ConfigError, match=r"exclusiveMinimum|boolean"):
        qos.validate_crd(numeric)
    closed = json.loads(json.dumps(old))
    closed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["additionalProperties"] = False
    with pytest.raises(ConfigError, match="additionalProperties"):
        qos.validate_crd(closed)
    assert "additionalProperties" not in spec and spec["properties"]["deadlineMs"]["exclusiveMinimum"] is True


@pytest.mark.parametrize("field, value, message", [
    ("sloPercentile", 100, "sloPercentile"),  # exclusiveMaximum, as OpenAPI v3.0 reads it
    ("deadlineMs", 0, "deadlineMs"),  # exclusiveMinimum
    ("surprise", 1, "unknown field spec.surprise"),
])
def test_the_manifest_is_checked_in_kubernetes_dialect(field, value, message):
    doc = qos.manifest(SettingsFile())
    doc["spec"][field] = value
    with pytest.raises(ConfigError, match=message):
        qos.validate(doc)


@pytest.mark.parametrize("name", ["", "Bad Name!", "-edge", "UPPER", "a" * 254])
def test_an_invalid_name_is_refused_and_nothing_is_written(tmp_path, name):
    SettingsFile().write(tmp_path / "s.json")
    r = subprocess.run([sys.executable, "-m", "mbsim", "export", str(tmp_path / "s.json"), "--out",
                        str(tmp_path / "out"), f"--name={name}"], capture_output=True, text=True)
    assert r.returncode == 2 and "bad name" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
