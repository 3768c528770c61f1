"""The Kubernetes ``MountainBikeQoS`` custom resource (digest 4.4) and its CRD.

The class follows from the SLO's latency target: XC up to 15 ms (jitter tolerance
800 us), TRAIL up to 35 ms (2500 us), ENDURO up to 80 ms (5000 us). ``latencyMaxMs`` is
the SLO target (1-200 ms) and ``jitterMaxUs`` the class's tolerance (1-5000 us). A target
beyond 80 ms fits no class and is refused.
"""
from __future__ import annotations

import math
from typing import Any

import jsonschema

from mbsim.deploy.settings_file import SettingsFile
from mbsim.errors import ConfigError

GROUP = "qos.mbsim.io"
VERSION = "v1alpha1"
KIND = "MountainBikeQoS"
CLASSES = (("XC", 15.0, 800), ("TRAIL", 35.0, 2500), ("ENDURO", 80.0, 5000))


def qos_class(target_ms: float) -> tuple[str, int]:
    for name, limit, jitter in CLASSES:
        if target_ms <= limit:
            return name, jitter
    raise ConfigError(f"SLO target {target_ms:g} ms exceeds ENDURO's 80 ms: no MountainBikeQoS class fits")


SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["qosClass", "latencyMaxMs", "jitterMaxUs"],
    "properties": {
        "qosClass": {"type": "string", "enum": [c[0] for c in CLASSES]},
        "latencyMaxMs": {"type": "integer", "minimum": 1, "maximum": 200},
        "jitterMaxUs": {"type": "integer", "minimum": 1, "maximum": 5000},
        "sloPercentile": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100},
        "violationBudget": {"type": "number", "minimum": 0, "maximum": 1},
        "deadlineMs": {"type": "number", "exclusiveMinimum": 0},
        "buffer": {
            "type": "object",
            "properties": {
                "windowMinMs": {"type": "number", "exclusiveMinimum": 0},
                "windowMaxMs": {"type": "number", "exclusiveMinimum": 0},
                "capacityMin": {"type": "integer", "minimum": 2},
                "capacityMax": {"type": "integer", "minimum": 2},
                "adjustPeriodS": {"type": "number", "exclusiveMinimum": 0},
            },
            "additionalProperties": False,
        },
        "breaker": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["count", "ratio"]},
                "failureThreshold": {"type": "integer", "minimum": 1},
                "failureRatio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "openMs": {"type": "number", "exclusiveMinimum": 0},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"mountainbikeqoses.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "mountainbikeqoses", "singular": "mountainbikeqos", "kind": KIND,
                      "shortNames": ["mbq"]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": SPEC_SCHEMA,
                    },
                }},
            }],
        },
    }


def manifest(sf: SettingsFile, name: str = "mbsim") -> dict[str, Any]:
    slo = sf.slo
    cls, jitter = qos_class(slo.target_ms)
    s = sf.settings
    b = s.buffer
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": {
            "qosClass": cls,
            "latencyMaxMs": max(1, math.ceil(slo.target_ms)),
            "jitterMaxUs": jitter,
            "sloPercentile": slo.percentile,
            "violationBudget": slo.budget,
            "deadlineMs": s.fallback.deadline_ms,
            "buffer": {"windowMinMs": b.window_min_ms, "windowMaxMs": b.window_max_ms,
                       "capacityMin": b.capacity_min, "capacityMax": b.capacity_max, "adjustPeriodS": b.adjust_s},
            "breaker": {"kind": s.breaker.kind, "failureThreshold": s.breaker.failure_threshold,
                        "failureRatio": s.breaker.failure_ratio, "openMs": s.breaker.open_ms},
        },
    }


def validate(doc: dict[str, Any], definition: dict[str, Any] | None = None) -> None:
    """Check a manifest against the CRD's OpenAPI schema; ConfigError names the field."""
    definition = definition or crd()
    schema = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ConfigError(f"MountainBikeQoS invalid at {where}: {exc.message}") from None
    if doc.get("kind") != KIND or doc.get("apiVersion") != f"{GROUP}/{VERSION}":
        raise ConfigError(f"expected kind {KIND} and apiVersion {GROUP}/{VERSION}")

