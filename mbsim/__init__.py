"""mbsim: model, tune and verify the mountain-bike adaptive buffer and the ox-horn fallback.

Data flow: scenario -> simulate -> metrics -> tune -> settings -> export -> apply ->
verify -> report.

>>> from mbsim import simulate
>>> r = simulate("db-down", policy="mbb", seed=1, duration_s=10)
>>> r["success_ratio"]  # doctest: +SKIP

The public face: :func:`simulate`, :class:`Scenario`, :class:`Result`,
:class:`MbbSettings`, :class:`SettingsFile`, :func:`compare`, :func:`tune` and
:func:`export`. Everything else is reached through its subpackage: ``mbsim.world``,
``mbsim.engine``, ``mbsim.mbb``, ``mbsim.policies``, ``mbsim.metrics``,
``mbsim.comparison``, ``mbsim.tuning``, ``mbsim.deploy``, ``mbsim.kernel``,
``mbsim.verify``, ``mbsim.report``, ``mbsim.bench``, ``mbsim.cli``.
"""
from __future__ import annotations

from typing import Any

from mbsim.engine.simulate import simulate
from mbsim.errors import ConfigError, MbsimError
from mbsim.mbb.settings import MbbSettings
from mbsim.metrics.result import Result
from mbsim.world.catalog import SCENARIOS
from mbsim.world.scenario import Scenario

__version__ = "0.1.0"
__all__ = [
    "SCENARIOS",
    "ConfigError",
    "MbbSettings",
    "MbsimError",
    "Result",
    "Scenario",
    "SettingsFile",
    "compare",
    "export",
    "simulate",
    "tune",
]

_LAZY = {  # heavier parts, imported on first use
    "compare": ("mbsim.comparison.compare", "compare"),
    "tune": ("mbsim.tuning", "tune"),
    "export": ("mbsim.deploy.export", "export"),
    "SettingsFile": ("mbsim.deploy.settings_file", "SettingsFile"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mbsim' has no attribute {name!r}")
