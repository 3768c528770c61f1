"""Strict loading of nested frozen dataclasses from plain dicts, JSON and ``key=value``.

Every parameter group in mbsim (workload, service, buffer, ...) is a frozen dataclass
with a ``validate()`` method. This module turns user input into those objects:

* unknown names are errors (with the list of known ones), never silently ignored;
* duplicate names (in JSON objects or repeated ``--set``) are errors;
* lists become tuples so that objects stay hashable and comparable;
* every number is finite and within bounds (:class:`Params`), before the class's own rules.

Bounds. No parameter takes NaN, and none takes infinity but those a class lists in
``NO_LIMIT`` (``client.timeout_ms``: infinity is "never time out"); elsewhere "no limit"
is spelled 0 or -1, and the parameter's docstring says so. The unit in a name sets a ceiling: ``*_ms``
at most 3,600,000 (an hour), ``*_s`` at most 86,400 (a day), ``*_us`` at most 3.6e9,
``*_rps`` at most 1,000,000; a count (an integer) at most 1,000,000; any other number at
most 1e9 (ratios and percentages are narrower, by their class's rules). A class narrows these
in ``BOUNDS`` (``Service.workers`` is at most 100,000, ``TopologySettings.sample_ms`` at
least 1 ms); ``mbsim params`` and the README list them.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from mbsim.errors import ConfigError

T = TypeVar("T")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A class's resolved annotations (cached: resolving them costs about 100 us a class,
    and a settings hot load parses a dozen nested classes)."""
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(typing.cast(type, tp), value, where)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys raise :class:`ConfigError`."""
    hints = _hints(typing.cast(type, cls))
    names = [f.name for f in dataclasses.fields(typing.cast(Any, cls)) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown parameter {prefix}{unknown[0]} (known: {', '.join(names)})"
        )
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)  # Params validate themselves in __post_init__
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def to_dict(obj: Any) -> Any:
    """Plain JSON-ready form of a (nested) dataclass; tuples become lists."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied, nested mappings merged key by key (a change to
    one field of a group keeps the group's other fields)."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ConfigError(f"duplicate parameter {k!r}")
        out[k] = v
    return out


def read_text(path: Any) -> str:
    """A file's UTF-8 text; a file that cannot be read or decoded is a one-line ConfigError."""
    try:
        typed: str = path.read_text(encoding="utf-8")
        return typed
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def loads_strict(text: str, source: str = "<string>") -> Any:
    """Parse JSON, rejecting duplicate keys."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: invalid JSON: {exc.msg} at line {exc.lineno}") from None


def parse_value(text: str) -> Any:
    """Interpret a ``--set`` value: JSON if it parses (numbers, lists, true), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}``; duplicates are errors."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"expected NAME=VALUE, got {item!r}")
        key, _, raw = item.partition("=")
        key = key.strip()
        if not key:
            raise ConfigError(f"expected NAME=VALUE, got {item!r}")
        if key in out:
            raise ConfigError(f"duplicate parameter {key!r}")
        out[key] = parse_value(raw.strip())
    return out


def override(obj: T, assignments: Mapping[str, Any]) -> T:
    """Return a copy of dataclass ``obj`` with dotted-path values replaced and re-validated."""
    if not assignments:
        return obj
    data = to_dict(obj)
    for path, value in assignments.items():
        node = data
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = ", ".join(node) if isinstance(node, dict) else "(none)"
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"unknown parameter {where} (known here: {known})")
            if depth == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    return from_dict(type(obj), data)


def require(cond: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``cond``."""
    if not cond:
        raise ConfigError(message)


#: ceilings by the unit at the end of a name, for counts (integers), and for the rest
UNIT_CEILINGS = {"_ms": 3_600_000.0, "_s": 86_400.0, "_us": 3.6e9, "_rps": 1e6}
COUNT_CEILING = 1_000_000
NUMBER_CEILING = 1e9


def ceiling(name: str, value: Any) -> float:
    """The generic upper bound of a parameter called ``name`` holding ``value``."""
    for suffix, top in UNIT_CEILINGS.items():
        if name.endswith(suffix):
            return top
    return float(COUNT_CEILING) if isinstance(value, int) else NUMBER_CEILING


def _numbers(value: Any) -> Iterable[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _numbers(v)


def _show(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) >= 1e4 else f"{x:g}"


class Params:
    """Base of parameter dataclasses: validated as soon as they are built.

    ``NAME`` is the group's dotted name in messages (``service``); ``BOUNDS`` maps a field
    to its inclusive (low, high), narrowing the generic bounds of the module docstring."""

    NAME: ClassVar[str] = ""
    BOUNDS: ClassVar[Mapping[str, tuple[float, float]]] = {}
    NO_LIMIT: ClassVar[frozenset[str]] = frozenset()  # fields where +infinity means no limit

    def __post_init__(self) -> None:
        self.check_numbers()
        self.validate()

    def check_numbers(self) -> None:
        """Every number finite; every number field within its bounds."""
        prefix = f"{self.NAME}." if self.NAME else ""
        for f in dataclasses.fields(typing.cast(Any, self)):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                continue
            if f.name in self.NO_LIMIT and value == math.inf:
                continue
            for x in _numbers(value):
                if not math.isfinite(x):  # the message is built only for a value that fails
                    require(False, f"{prefix}{f.name} must be a finite number, got {x!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            low, high = self.BOUNDS.get(f.name, (-math.inf, ceiling(f.name, value)))
            if not low <= value <= high:
                require(False, f"{prefix}{f.name} must be {_range(low, high)}, got {_show(value)}")

    def validate(self) -> None:
        """Raise :class:`ConfigError` for values that cannot be used."""


def _range(low: float, high: float) -> str:
    if low == -math.inf:
        return f"at most {_show(high)}"
    if high == math.inf:
        return f"at least {_show(low)}"
    return f"in [{_show(low)}, {_show(high)}]"


SEED_LIMIT = 2 ** 63


def check_seed(value: object) -> int:
    """A seed: an integer in [0, 2**63); else a one-line :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"a seed is an integer in [0, 2**63), got {value!r}")
    if not 0 <= value < SEED_LIMIT:
        raise ConfigError(f"a seed is an integer in [0, 2**63), got {value}")
    return value
