"""The fallback snapshot file: what the horn answers with, validated before loading.

    {"schema": "mbsim.snapshot/1",
     "entries": {"42": "cached value", "7": {"value": "stale but useful", "status": 0}}}

Keys are u32 request keys (as decimal strings); values are UTF-8 text of at most 64
bytes (or ``{"hex": "..."}`` for binary); ``status`` is 0 (ok) or 1 (error).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbsim.errors import ConfigError
from mbsim.kernel.wire import ST_ERROR, ST_OK, VALUE_SIZE
from mbsim.params import loads_strict, read_text

SCHEMA = "mbsim.snapshot/1"
MAX_ENTRIES = 65536


@dataclass(frozen=True)
class Entry:
    key: int
    value: bytes
    status: int = ST_OK


def parse(data: Any, source: str = "snapshot") -> list[Entry]:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(f"{source}: schema must be {SCHEMA!r}")
    unknown = [k for k in data if k not in ("schema", "entries")]
    if unknown:
        raise ConfigError(f"{source}: unknown field {unknown[0]!r}")
    entries = data.get("entries")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{source}: 'entries' must be a non-empty object of key -> value")
    if len(entries) > MAX_ENTRIES:
        raise ConfigError(f"{source}: {len(entries)} entries, the map holds {MAX_ENTRIES}")
    out = []
    for k, v in entries.items():
        try:
            key = int(k)
        except ValueError:
            raise ConfigError(f"{source}: key {k!r} is not an integer") from None
        if not 0 <= key < 2 ** 32:
            raise ConfigError(f"{source}: key {key} is not a u32")
        status = ST_OK
        if isinstance(v, dict):
            extra = [x for x in v if x not in ("value", "hex", "status")]
            if extra:
                raise ConfigError(f"{source}: key {key}: unknown field {extra[0]!r}")
            status = v.get("status", ST_OK)
            if status not in (ST_OK, ST_ERROR):
                raise ConfigError(f"{source}: key {key}: status must be 0 or 1")
            if "hex" in v:
                try:
                    raw = bytes.fromhex(v["hex"])
                except (TypeError, ValueError):
                    raise ConfigError(f"{source}: key {key}: bad hex") from None
            else:
                raw = str(v.get("value", "")).encode()
        elif isinstance(v, str):
            raw = v.encode()
        else:
            raise ConfigError(f"{source}: key {key}: value must be a string or an object")
        if len(raw) > VALUE_SIZE:
            raise ConfigError(f"{source}: key {key}: value is {len(raw)} bytes, at most {VALUE_SIZE}")
        out.append(Entry(key, raw, status))
    return out


def load(path: str | Path) -> list[Entry]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"snapshot file {path} not found")
    return parse(loads_strict(read_text(path), str(path)), str(path))


def write(path: str | Path, entries: dict[int, str]) -> Path:
    path = Path(path)
    import json
    path.write_text(json.dumps({"schema": SCHEMA, "entries": {str(k): v for k, v in entries.items()}}, indent=1))
    return path
