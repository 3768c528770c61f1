"""``settings.json``: the versioned, schema-checked file tuning writes and export reads.

    {
      "schema": "mbsim.settings/1",
      "settings": {"buffer": {...}, "breaker": {...}, "fallback": {...}},   # MbbSettings
      "slo": {"target_ms": 10, "percentile": 99, "budget": 0.01},
      "scenario": "tail-spike",          # optional: what it was tuned for
      "objective": {...},                # optional
      "provenance": {...}                # optional: git, packages, seeds, budget
    }

Unknown or duplicate names anywhere are errors; missing settings take their defaults.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mbsim.errors import ConfigError
from mbsim.mbb.settings import MbbSettings
from mbsim.params import from_dict, loads_strict, read_text, to_dict
from mbsim.world.slo import Slo

SCHEMA = "mbsim.settings/1"
TOP_LEVEL = ("schema", "settings", "slo", "scenario", "objective", "provenance", "evaluation")


@dataclass
class SettingsFile:
    settings: MbbSettings = field(default_factory=MbbSettings)
    slo: Slo = field(default_factory=Slo)
    scenario: str | None = None
    objective: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA, "settings": to_dict(self.settings), "slo": to_dict(self.slo)}
        for name in ("scenario", "objective", "evaluation", "provenance"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        tmp.replace(path)
        return path


def parse(data: Any, source: str = "settings") -> SettingsFile:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object")
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise ConfigError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(TOP_LEVEL)})")
    if data.get("schema") != SCHEMA:
        raise ConfigError(f"{source}: schema must be {SCHEMA!r}, got {data.get('schema')!r}")
    if "settings" not in data:
        raise ConfigError(f"{source}: missing 'settings'")
    for name, kind, what in (("settings", dict, "an object"), ("slo", dict, "an object"),
                             ("scenario", str, "a scenario name"), ("objective", dict, "an object"),
                             ("evaluation", dict, "an object"), ("provenance", dict, "an object")):
        if name in data and not (isinstance(data[name], kind) or (data[name] is None and name != "settings")):
            raise ConfigError(f"{source}: {name!r} must be {what}, got {type(data[name]).__name__} "
                              f"{json.dumps(data[name], default=str)[:40]}")
    try:
        settings = from_dict(MbbSettings, data["settings"])
        slo = from_dict(Slo, data.get("slo", {}))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return SettingsFile(settings, slo, data.get("scenario"), data.get("objective"), data.get("evaluation"),
                        data.get("provenance"))


def load(path: str | Path) -> SettingsFile:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"settings file {path} not found")
    return parse(loads_strict(read_text(path), str(path)), str(path))
