"""Protection policies, by name. Each builds a :class:`~mbsim.protection.Protection`.

A policy is a name, a parameter dataclass (its documented defaults) and a builder. Peers
register themselves here too; ``mbsim policies`` lists them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..config import from_dict, override
from ..errors import ConfigError
from ..protection import Protection
from ..scenario import Scenario


@dataclass(frozen=True)
class PolicySpec:
    """A policy: its parameters (a Params dataclass whose defaults are documented) and a
    builder ``build(params, scenario, rng) -> Protection``; ``rng`` is the run's
    ``policy`` stream, for policies that draw random numbers."""

    name: str
    summary: str
    params: type
    build: Callable[[Any, Scenario, Any], Protection]


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
    """The policy ``name`` with its parameters: defaults, a dict, or a dataclass, then overrides."""
    spec = get(name)
    if params is None:
        p = spec.params()
    elif dataclasses.is_dataclass(params):
        if not isinstance(params, spec.params):
            raise ConfigError(f"policy {name!r} takes {spec.params.__name__}, not {type(params).__name__}")
        p = params
    else:
        p = from_dict(spec.params, params)
    if overrides:
        try:
            p = override(p, overrides)
        except ConfigError as exc:
            raise ConfigError(f"policy {name!r}: {exc}") from None
    return spec, p


_LOADED = False


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import breaker, envoy, gobreaker, gradient2, hystrix, mbb, none, resilience4j, sre, vegas  # noqa: F401
