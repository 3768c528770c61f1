"""``mbsim export``: turn ``settings.json`` into what production and the kernel need.

Writes into the output directory:

* ``mbb-config.json`` / ``mbb-config.yaml`` - the settings, SLO and derived kernel
  constants, schema ``mbsim.config/1``; :func:`load_config` reads either back;
* ``mbb_settings.h`` - the constants compiled into the horn (:func:`read_header` checks
  them back);
* ``mbb_horn.c``, ``mbb_compat.h``, ``mbb_proto.h`` and, where clang is installed,
  ``mbb_horn.o`` - the horn, buildable anywhere with ``build-object.sh``
  (:mod:`mbsim.deploy.bpf_object`);
* ``tc-attach.sh`` and ``tc-detach.sh`` - ``mbsim apply`` with tc and bpftool alone, and
  ``snapshot.batch`` when a snapshot is given (:mod:`mbsim.deploy.tc_scripts`);
* ``mountainbikeqos.yaml`` and ``mountainbikeqos-crd.yaml`` - the Kubernetes resource and
  its CRD, both validated offline before anything is written
  (:mod:`mbsim.deploy.kubernetes`).

Fixed parameters are compiled in (slot length and count, map sizes, deadline); the values
the controller changes at run time (upstream, state, capacity, window) live in maps.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml

from mbsim.deploy import bpf_object, tc_scripts
from mbsim.deploy import kubernetes as qos
from mbsim.errors import ConfigError
from mbsim.formats import snapshot_file
from mbsim.formats.settings_file import SettingsFile, load, parse
from mbsim.mbb.settings import MbbSettings
from mbsim.mbb.watermark import slot_shift
from mbsim.params import loads_strict, read_text, to_dict

CONFIG_SCHEMA = "mbsim.config/1"
INFLIGHT_MAX = 65536
SNAPSHOT_MAX = 65536
RINGBUF_PAGES = 256  # 1 MiB of decision events


def kernel_constants(sf: SettingsFile) -> dict[str, int]:
    """Constants compiled into the horn for a settings file (:func:`constants_of`)."""
    return constants_of(sf.settings)


def constants_of(settings: MbbSettings) -> dict[str, int]:
    """Constants compiled into the horn. A window slot is the power of two of nanoseconds
    nearest ``window_min_ms / 5`` (at least 2^20 ns, about 1 ms: the shortest window spans
    about five slots), so the kernel finds a slot with a shift and a mask, never a division.
    The slots, a power of two of them, cover the longer of ``window_max_ms`` and four of
    the controller's sample intervals, so that a slot is read well before it is reused."""
    b = settings.buffer
    shift = slot_shift(b.window_min_ms)
    slot_ns = 1 << shift
    span_ns = max(b.window_max_ms, 4 * b.topology.sample_ms) * 1e6
    slot_count = 1 << max(1, math.ceil(math.log2(span_ns / slot_ns + 1)))
    return {
        "MBB_SLOT_SHIFT": shift,
        "MBB_SLOT_NS": slot_ns,
        "MBB_SLOT_COUNT": slot_count,
        "MBB_INFLIGHT_MAX": INFLIGHT_MAX,
        "MBB_SNAPSHOT_MAX": SNAPSHOT_MAX,
        "MBB_RINGBUF_PAGES": RINGBUF_PAGES,
        "MBB_DEADLINE_NS": round(settings.fallback.deadline_ms * 1e6),
    }


#: what ``read_header`` accepts for each constant (inclusive bounds)
HEADER_BOUNDS = {
    "MBB_SLOT_SHIFT": (20, 30),
    "MBB_SLOT_NS": (1 << 20, 1 << 30),
    "MBB_SLOT_COUNT": (2, 1 << 16),
    "MBB_INFLIGHT_MAX": (1, 1 << 22),
    "MBB_SNAPSHOT_MAX": (1, 1 << 22),
    "MBB_RINGBUF_PAGES": (1, 1 << 16),
    "MBB_DEADLINE_NS": (1, 3_600_000_000_000),
}


def read_header(path: str | Path) -> dict[str, int]:
    """The constants of an exported ``mbb_settings.h``, checked: each one present once, an
    integer (``ULL`` suffix allowed), within :data:`HEADER_BOUNDS`; the ring buffer's pages
    a power of two. Any problem is one ConfigError line, before anything is compiled."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such header (run mbsim export first)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable header ({exc.__class__.__name__})") from None
    found: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) < 3 or parts[0] != "#define" or parts[1] not in HEADER_BOUNDS:
            continue
        name, raw = parts[1], parts[2].removesuffix("ULL").removesuffix("U")
        if name in found:
            raise ConfigError(f"{path}:{n}: {name} is defined twice")
        try:
            value = int(raw, 0)
        except ValueError:
            raise ConfigError(f"{path}:{n}: {name} must be an integer, got {parts[2]!r}") from None
        lo, hi = HEADER_BOUNDS[name]
        if not lo <= value <= hi:
            raise ConfigError(f"{path}:{n}: {name} is {value}, outside [{lo}, {hi}]")
        found[name] = value
    missing = [k for k in HEADER_BOUNDS if k not in found]
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(missing)}")
    for name in ("MBB_RINGBUF_PAGES", "MBB_SLOT_COUNT"):
        v = found[name]
        if v & (v - 1):
            raise ConfigError(f"{path}: {name} must be a power of two, got {v}")
    if found["MBB_SLOT_NS"] != 1 << found["MBB_SLOT_SHIFT"]:
        raise ConfigError(f"{path}: MBB_SLOT_NS ({found['MBB_SLOT_NS']}) must be 2^MBB_SLOT_SHIFT "
                          f"({1 << found['MBB_SLOT_SHIFT']})")
    return found


def header(sf: SettingsFile, digest: str) -> str:
    lines = [
        "/* Generated by `mbsim export`; do not edit. Compiled into bpf/mbb_horn.c. */",
        f"/* settings sha256 {digest} */",
        "#ifndef MBB_SETTINGS_H",
        "#define MBB_SETTINGS_H",
    ]
    for name, value in kernel_constants(sf).items():
        suffix = "ULL" if name.endswith("_NS") else ""
        lines.append(f"#define {name} {value}{suffix}")
    lines += ["#endif", ""]
    return "\n".join(lines)


def config_document(sf: SettingsFile, digest: str) -> dict[str, Any]:
    return {
        "schema": CONFIG_SCHEMA,
        "source_sha256": digest,
        "settings": to_dict(sf.settings),
        "slo": to_dict(sf.slo),
        "scenario": sf.scenario,
        "kernel": kernel_constants(sf),
        "provenance": sf.provenance,
    }


def export(settings_path: str | Path, out: str | Path, name: str = "mbsim", snapshot: str | Path | None = None,
           build_object: bool = True) -> dict[str, Path]:
    """Validate ``settings_path`` (and ``snapshot``, when given) and write every artefact
    into ``out``: the config (JSON, YAML), the header, the horn's source and, where clang
    is installed, its object; the tc scripts (and the snapshot's bpftool batch); the
    MountainBikeQoS manifest and its CRD. Returns their paths by kind. Nothing is
    written unless everything validates."""
    src = Path(settings_path)
    sf = load(src)
    entries = snapshot_file.load(snapshot) if snapshot is not None else None
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    doc = config_document(sf, digest)
    manifest = qos.manifest(sf, name)
    definition = qos.crd()
    qos.validate_crd(definition)  # before anything is written
    qos.validate(manifest, definition)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "json": out / "mbb-config.json",
        "yaml": out / "mbb-config.yaml",
        "header": out / "mbb_settings.h",
        "manifest": out / "mountainbikeqos.yaml",
        "crd": out / "mountainbikeqos-crd.yaml",
        "attach": out / "tc-attach.sh",
        "detach": out / "tc-detach.sh",
        "build": out / "build-object.sh",
    }
    consts = doc["kernel"]
    b = sf.settings.buffer
    meta = {"source": f"settings sha256 {digest[:12]}"}
    files["json"].write_text(json.dumps(doc, indent=2, default=str) + "\n")
    files["yaml"].write_text(yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False))
    files["header"].write_text(header(sf, digest))
    files["manifest"].write_text(yaml.safe_dump(manifest, sort_keys=False))
    files["crd"].write_text(yaml.safe_dump(definition, sort_keys=False))
    files["attach"].write_text(tc_scripts.attach_script(consts, b.capacity_max, round(b.window_min_ms * 1000), meta))
    files["detach"].write_text(tc_scripts.detach_script(meta))
    files["build"].write_text(bpf_object.build_script())
    for k in ("attach", "detach", "build"):
        files[k].chmod(0o755)
    if entries is not None:
        files["snapshot"] = out / "snapshot.batch"
        files["snapshot"].write_text(tc_scripts.snapshot_batch(entries))
    for path in bpf_object.copy_sources(out):
        files[path.name] = path
    obj = bpf_object.build(out) if build_object else None
    if obj is not None:
        files["object"] = obj
    return files


def load_config(path: str | Path) -> SettingsFile:
    """Read an exported ``mbb-config.json`` or ``.yaml`` (or a directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "mbb-config.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no exported config (run mbsim export first)")
    text = read_text(path)
    if path.suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    else:
        data = loads_strict(text, str(path))
    if not isinstance(data, dict) or data.get("schema") != CONFIG_SCHEMA:
        raise ConfigError(f"{path}: schema must be {CONFIG_SCHEMA!r}")
    sub = {"schema": "mbsim.settings/1", "settings": data.get("settings", {}), "slo": data.get("slo", {})}
    if data.get("scenario") is not None:
        sub["scenario"] = data["scenario"]
    if data.get("provenance") is not None:
        sub["provenance"] = data["provenance"]
    return parse(sub, str(path))
