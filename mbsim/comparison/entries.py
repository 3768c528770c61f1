"""What a comparison compares: a policy by name with its documented defaults, or a tuned
variant of one, read from what ``mbsim tune`` wrote (``settings.json`` for mbb,
``params.json`` for a peer). A tuned entry is labelled ``POLICY-bo`` unless given a label."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbsim import policies
from mbsim.errors import ConfigError
from mbsim.params import loads_strict, read_text, to_dict

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Entry:
    """One arm of a comparison: ``label`` in tables, ``policy`` (a registered name) run with
    ``params`` (changes to its defaults, as ``policies.resolve`` takes them; None: defaults)."""

    label: str
    policy: str
    params: dict[str, Any] | None = None
    source: str | None = None  # the file a tuned entry came from


def named(name: str) -> Entry:
    policies.get(name)  # unknown names fail here, in one line
    return Entry(name, name)


def tuned(spec: str) -> Entry:
    """``PATH`` or ``LABEL=PATH``: the best settings of a tuning study (its settings.json or
    params.json, or the study's directory holding one)."""
    label, sep, path_s = spec.partition("=")
    if not sep:
        label, path_s = "", spec
    elif not LABEL.match(label):
        raise ConfigError(f"--tuned label {label!r}: letters, digits, '.', '_' and '-' only")
    path = Path(path_s)
    if path.is_dir():
        found = [path / f for f in ("settings.json", "params.json") if (path / f).is_file()]
        if not found:
            raise ConfigError(f"--tuned {path}: the directory has no settings.json or params.json (a finished study)")
        path = found[0]
    if not path.is_file():
        raise ConfigError(f"--tuned {path}: no such file")
    doc = loads_strict(read_text(path), f"--tuned {path}")
    if not isinstance(doc, dict):
        raise ConfigError(f"--tuned {path}: expected a JSON object")
    schema = doc.get("schema")
    if schema == "mbsim.policy/1":
        policy = doc.get("policy")
        params = doc.get("params")
        if not isinstance(policy, str) or not isinstance(params, dict):
            raise ConfigError(f"--tuned {path}: a params.json needs 'policy' (a name) and 'params' (an object)")
    elif schema == "mbsim.settings/1" or (schema is None and "settings" in doc):
        from mbsim.formats.settings_file import load

        policy, params = "mbb", to_dict(load(path).settings)
    else:
        raise ConfigError(f"--tuned {path}: schema {schema!r} is neither mbsim.settings/1 nor mbsim.policy/1")
    policies.resolve(policy, params)  # parameters out of range fail here, in one line
    return Entry(label or f"{policy}-bo", policy, params, str(path))


def check_reference(reference: str, entries: list[Entry]) -> None:
    """The verdicts' reference must be one of the arms (mbb, the default, may be absent:
    then there are no verdicts)."""
    labels = [e.label for e in entries]
    if reference != "mbb" and reference not in labels:
        raise ConfigError(f"--reference {reference!r} is not one of the arms ({', '.join(labels)})")


def unique(entries: list[Entry]) -> list[Entry]:
    """``entries``, refusing two with the same label (the table is keyed by label)."""
    seen: set[str] = set()
    for e in entries:
        if e.label in seen:
            raise ConfigError(f"two arms are labelled {e.label!r}: give one a label (--tuned LABEL=PATH)")
        seen.add(e.label)
    return entries
