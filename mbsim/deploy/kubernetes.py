"""The Kubernetes ``MountainBikeQoS`` custom resource (digest 4.4) and its CRD.

The class follows from the SLO's latency target: XC up to 15 ms (jitter tolerance
800 us), TRAIL up to 35 ms (2500 us), ENDURO up to 80 ms (5000 us). ``latencyMaxMs`` is
the SLO target (1-200 ms) and ``jitterMaxUs`` the class's tolerance (1-5000 us). A target
beyond 80 ms fits no class and is refused.
"""
from __future__ import annotations

import math
import re
from typing import Any

import jsonschema

from mbsim.errors import ConfigError
from mbsim.formats.settings_file import SettingsFile

GROUP = "qos.mbsim.io"
VERSION = "v1alpha1"
KIND = "MountainBikeQoS"
CLASSES = (("XC", 15.0, 800), ("TRAIL", 35.0, 2500), ("ENDURO", 80.0, 5000))
K8S_VERSION = "1.29"  # the API the CRD is checked against offline (kubernetes-validate's schemas)


def qos_class(target_ms: float) -> tuple[str, int]:
    for name, limit, jitter in CLASSES:
        if target_ms <= limit:
            return name, jitter
    raise ConfigError(f"SLO target {target_ms:g} ms exceeds ENDURO's 80 ms: no MountainBikeQoS class fits")


def _num(minimum: float | None = None, maximum: float | None = None, exclusive_min: bool = False,
         integer: bool = False) -> dict[str, Any]:
    """An OpenAPI v3.0 number: ``exclusiveMinimum`` is a boolean beside ``minimum``, as
    apiextensions.k8s.io/v1 wants (JSON Schema 2020-12's numeric form is refused there)."""
    out: dict[str, Any] = {"type": "integer" if integer else "number"}
    if minimum is not None:
        out["minimum"] = minimum
        if exclusive_min:
            out["exclusiveMinimum"] = True
    if maximum is not None:
        out["maximum"] = maximum
    return out


#: (minimum, maximum) fields of spec.buffer that must stay ordered: a CEL rule each in the CRD
#: (x-kubernetes-validations, checked by the API server), and the same check in :func:`validate`
ORDERED_PAIRS = (("windowMinMs", "windowMaxMs"), ("capacityMin", "capacityMax"))

SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["qosClass", "latencyMaxMs", "jitterMaxUs"],
    "properties": {
        "qosClass": {"type": "string", "enum": [c[0] for c in CLASSES]},
        "latencyMaxMs": _num(1, 200, integer=True),
        "jitterMaxUs": _num(1, 5000, integer=True),
        "sloPercentile": {**_num(0, exclusive_min=True), "maximum": 100, "exclusiveMaximum": True},
        "violationBudget": _num(0, 1),
        "deadlineMs": _num(0, exclusive_min=True),
        "buffer": {
            "type": "object",
            "properties": {
                "windowMinMs": _num(0, exclusive_min=True),
                "windowMaxMs": _num(0, exclusive_min=True),
                "capacityMin": _num(2, integer=True),
                "capacityMax": _num(2, integer=True),
                "adjustPeriodS": _num(0, exclusive_min=True),
            },
            "x-kubernetes-validations": [
                {"rule": f"!has(self.{low}) || !has(self.{high}) || self.{low} <= self.{high}",
                 "message": f"{low} must not exceed {high}"} for low, high in ORDERED_PAIRS
            ],
        },
        "breaker": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["count", "ratio"]},
                "failureThreshold": _num(1, integer=True),
                "failureRatio": _num(0, 1, exclusive_min=True),
                "openMs": _num(0, exclusive_min=True),
            },
        },
    },
}

#: keywords a structural schema may not use (apiextensions.k8s.io/v1)
FORBIDDEN = ("definitions", "dependencies", "deprecated", "discriminator", "id", "patternProperties", "readOnly",
             "writeOnly", "xml", "$ref", "$schema")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def structural_problems(schema: dict[str, Any], where: str = "") -> list[str]:
    """What makes ``schema`` not structural in apiextensions.k8s.io/v1's sense: a node
    without a type, ``properties`` beside ``additionalProperties``, numeric exclusive
    bounds, a forbidden keyword, ``uniqueItems: true``."""
    out = []
    here = where or "(root)"
    if not schema.get("type") and not schema.get("x-kubernetes-int-or-string") \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.append(f"{here}: no type")
    if "properties" in schema and "additionalProperties" in schema:
        out.append(f"{here}: properties and additionalProperties together")
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        if key in schema and not isinstance(schema[key], bool):
            out.append(f"{here}: {key} must be a boolean beside minimum/maximum")
    out += [f"{here}: {k} is not allowed" for k in FORBIDDEN if k in schema]
    if schema.get("uniqueItems"):
        out.append(f"{here}: uniqueItems must be false")
    for name, sub in (schema.get("properties") or {}).items():
        out += structural_problems(sub, f"{where}.{name}" if where else name)
    if isinstance(schema.get("items"), dict):
        out += structural_problems(schema["items"], f"{here}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += structural_problems(schema["additionalProperties"], f"{here}{{}}")
    return out


def check_name(name: str) -> str:
    """``metadata.name`` must be a DNS-1123 subdomain (253 characters at most)."""
    if not (0 < len(name) <= 253 and DNS1123_SUBDOMAIN.fullmatch(name)):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise ConfigError(f"bad name {shown!r}: a Kubernetes name is lowercase letters, digits, '-' and '.', "
                          f"starting and ending with a letter or digit, at most 253 characters")
    return name


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
    check_name(name)
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


def _unknown_fields(doc: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Fields of ``doc`` that ``schema`` does not declare (kubectl's strict field
    validation refuses them; the API server would silently prune them)."""
    if not isinstance(doc, dict) or "properties" not in schema:
        return []
    out = []
    for k, v in doc.items():
        sub = schema["properties"].get(k)
        if sub is None:
            if where or k not in ("apiVersion", "kind", "metadata"):
                out.append(f"{where}.{k}" if where else k)
        else:
            out += _unknown_fields(v, sub, f"{where}.{k}" if where else k)
    return out


def validate_crd(definition: dict[str, Any] | None = None, k8s_version: str = K8S_VERSION) -> None:
    """Check the CRD offline: against apiextensions.k8s.io/v1 as the Kubernetes API defines it
    (``kubernetes-validate``, strict), then against the structural-schema rules."""
    import kubernetes_validate

    definition = definition or crd()
    try:
        kubernetes_validate.validate(definition, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ConfigError(f"the CRD is invalid for Kubernetes {k8s_version} at {where}: {exc.message}") from None
    for v in definition["spec"]["versions"]:
        problems = structural_problems(v["schema"]["openAPIV3Schema"])
        if problems:
            raise ConfigError(f"the CRD's schema is not structural: {problems[0]}")


def validate(doc: dict[str, Any], definition: dict[str, Any] | None = None) -> None:
    """Check a manifest as the API server would: its kind and apiVersion, its name (DNS-1123),
    its spec against the CRD's schema in OpenAPI v3.0's dialect (JSON Schema draft 4:
    boolean exclusive bounds), and no field the schema does not declare."""
    definition = definition or crd()
    if doc.get("kind") != KIND or doc.get("apiVersion") != f"{GROUP}/{VERSION}":
        raise ConfigError(f"expected kind {KIND} and apiVersion {GROUP}/{VERSION}")
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str):
        raise ConfigError("MountainBikeQoS invalid at metadata/name: a name is required")
    check_name(name)
    schema = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    try:
        jsonschema.Draft4Validator(schema).validate(doc)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ConfigError(f"MountainBikeQoS invalid at {where}: {exc.message}") from None
    buffer = (doc.get("spec") or {}).get("buffer") or {}
    for low, high in ORDERED_PAIRS:
        if low in buffer and high in buffer and buffer[low] > buffer[high]:
            raise ConfigError(f"MountainBikeQoS invalid at spec/buffer: {low} must not exceed {high} "
                              f"({buffer[low]} > {buffer[high]})")
    unknown = _unknown_fields(doc, schema, "")
    if unknown:
        raise ConfigError(f"MountainBikeQoS invalid: unknown field {unknown[0]} (the CRD does not declare it)")
