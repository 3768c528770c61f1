"""The fallback snapshot file: what the horn answers with, validated before loading.

    {"schema": "mbsim.snapshot/1",
     "entries": {"42": "cached value", "7": {"value": "stale but useful", "status": 0}}}

Keys are u32 request keys (as decimal strings); values are UTF-8 text of at most 64
bytes (or ``{"hex": "..."}`` for binary); ``status`` is 0 (ok) or 1 (error).
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbsim.errors import ConfigError
from mbsim.formats.wire import ST_ERROR, ST_OK, VALUE_SIZE
from mbsim.params import loads_strict, read_text

SCHEMA = "mbsim.snapshot/1"
CANONICAL_KEY = re.compile(r"0|[1-9][0-9]*")
MAX_ENTRIES = 65536


@dataclass(frozen=True)
class Entry:
    key: int
    value: bytes
    status: int = ST_OK


def parse(data: Any, source: str = "snapshot") -> list[Entry]:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ConfigError(f"{source}: schema must be {SCHEMA!r}")
    unknown = [k for k in data if k not in ("schema", "entries", "provenance")]
    if unknown:
        raise ConfigError(f"{source}: unknown field {unknown[0]!r}")
    entries = data.get("entries")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{source}: 'entries' must be a non-empty object of key -> value")
    if len(entries) > MAX_ENTRIES:
        raise ConfigError(f"{source}: {len(entries)} entries, the map holds {MAX_ENTRIES}")
    out = []
    for k, v in entries.items():
        # one spelling per key: "1" but never "01", " 1", "+1" or "1.0", which int() would
        # merge with it
        if not CANONICAL_KEY.fullmatch(k):
            raise ConfigError(f"{source}: key {k!r} is not a decimal u32 written plainly (no sign, space or "
                              f"leading zero)")
        key = int(k)
        if not 0 <= key < 2 ** 32:
            raise ConfigError(f"{source}: key {key} is not a u32")
        status = ST_OK
        if isinstance(v, dict):
            extra = [x for x in v if x not in ("value", "hex", "status")]
            if extra:
                raise ConfigError(f"{source}: key {key}: unknown field {extra[0]!r}")
            status = v.get("status", ST_OK)
            if isinstance(status, bool) or status not in (ST_OK, ST_ERROR):
                raise ConfigError(f"{source}: key {key}: status must be the integer 0 or 1, got {status!r}")
            if "value" in v and not isinstance(v["value"], str):
                raise ConfigError(f"{source}: key {key}: value must be a string")
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


def tail_sum(status: int, value: bytes) -> int:
    """The one's-complement share (unfolded) of an answer's last 68 payload bytes - status,
    length and the zero-padded value - summed as 16-bit words of memory, as the horn sums
    its own fields: ``struct mbb_value.csum`` (bpf/mbb_proto.h)."""
    tail = struct.pack("!HH", status, len(value)) + value.ljust(VALUE_SIZE, b"\0")
    return sum(struct.unpack(f"={len(tail) // 2}H", tail))


def map_value(e: Entry) -> bytes:
    """``struct mbb_value`` of an entry, as the snapshot map holds it (host order)."""
    return struct.pack("=HHI", e.status, len(e.value), tail_sum(e.status, e.value)) + e.value.ljust(VALUE_SIZE, b"\0")


def load(path: str | Path) -> list[Entry]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"snapshot file {path} not found")
    return parse(loads_strict(read_text(path), str(path)), str(path))


def write(path: str | Path, entries: dict[int, str], provenance: dict[str, Any] | None = None) -> Path:
    """Write ``entries`` (key -> text) as a snapshot file, with how it was made."""
    path = Path(path)
    doc: dict[str, Any] = {"schema": SCHEMA, "entries": {str(k): v for k, v in entries.items()}}
    if provenance is not None:
        doc["provenance"] = provenance
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path
