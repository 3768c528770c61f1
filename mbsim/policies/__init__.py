"""Protection policies, by name. Each builds a :class:`~mbsim.policies.protection.Protection`.

A policy is a name, a parameter dataclass (its documented defaults) and a builder. Each
module of this package that defines a policy registers it when imported, and every
module here is imported on first use: adding a policy is adding a file (or calling
:func:`register` from your own code). ``mbsim policies`` lists them.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mbsim.errors import ConfigError
from mbsim.params import from_dict, merge, override, to_dict
from mbsim.policies.protection import Protection
from mbsim.world.scenario import Scenario


@dataclass(frozen=True)
class PolicySpec:
    """A policy: its parameters (a Params dataclass whose defaults are documented) and a
    builder ``build(params, scenario, rng) -> Protection``; ``rng`` is the run's
    ``policy`` stream, for policies that draw random numbers."""

    name: str
    summary: str
    params: type
    build: Callable[[Any, Scenario, Any], Protection]
    # what ``mbsim tune --policy NAME`` searches: dimensions (declared beside the policy,
    # with documented ranges), the parameters it starts from (default: ``params()``), and
    # (min, max) pairs that must stay ordered (a minimum above its maximum is lowered to it)
    tuning: tuple[Any, ...] = ()
    tuning_base: type | None = None
    tuning_pairs: tuple[tuple[str, str], ...] = ()


REGISTRY: dict[str, PolicySpec] = {}


def register(spec: PolicySpec) -> PolicySpec:
    REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> PolicySpec:
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown policy {name!r} (known: {', '.join(sorted(REGISTRY))})") from None


def names() -> list[str]:
    _load_all()
    return list(REGISTRY)


def resolve(name: str, params: Any = None, overrides: Mapping[str, Any] | None = None) -> tuple[PolicySpec, Any]:
    """The policy ``name`` with its parameters: defaults, a dict of changes to them (merged
    group by group), or a dataclass; then overrides."""
    spec = get(name)
    if params is None:
        p = spec.params()
    elif dataclasses.is_dataclass(params):
        if not isinstance(params, spec.params):
            raise ConfigError(f"policy {name!r} takes {spec.params.__name__}, not {type(params).__name__}")
        p = params
    else:
        if not isinstance(params, Mapping):
            raise ConfigError(f"policy {name!r}: params must be a {spec.params.__name__} or a mapping, "
                              f"got {type(params).__name__}")
        try:  # changes to the policy's own defaults (mbb-concurrency's buffer is in concurrency mode)
            p = from_dict(spec.params, merge(to_dict(spec.params()), params))
        except ConfigError as exc:
            raise ConfigError(f"policy {name!r}: {exc}") from None
    if overrides:
        try:
            p = override(p, overrides)
        except ConfigError as exc:
            raise ConfigError(f"policy {name!r}: {exc}") from None
    return spec, p


_LOADED = False


def _load_all() -> None:
    """Import every module of this package once: each policy module registers itself,
    so a new policy is one new file here (or a ``register`` call from anywhere)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
