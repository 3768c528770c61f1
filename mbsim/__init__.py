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

import importlib
from typing import TYPE_CHECKING, Any

from mbsim.errors import ConfigError, MbsimError

if TYPE_CHECKING:  # pragma: no cover - what the lazy names are, for type checkers
    from mbsim.comparison.compare import compare
    from mbsim.deploy.export import export
    from mbsim.engine.simulate import simulate
    from mbsim.formats.settings_file import SettingsFile
    from mbsim.mbb.settings import MbbSettings
    from mbsim.metrics.result import Result
    from mbsim.tuning import tune
    from mbsim.world.catalog import SCENARIOS
    from mbsim.world.scenario import Scenario

__version__ = "0.1.0"
__all__ = ["SCENARIOS", "ConfigError", "MbbSettings", "MbsimError", "Result", "Scenario", "SettingsFile", "compare",
           "export", "simulate", "tune"]

# Imported on first use, so that ``import mbsim`` (and the ``mbsim`` command's start) stays light.
_LAZY = {
    "simulate": ("mbsim.engine.simulate", "simulate"),
    "Scenario": ("mbsim.world.scenario", "Scenario"),
    "Result": ("mbsim.metrics.result", "Result"),
    "MbbSettings": ("mbsim.mbb.settings", "MbbSettings"),
    "SCENARIOS": ("mbsim.world.catalog", "SCENARIOS"),
    "compare": ("mbsim.comparison.compare", "compare"),
    "tune": ("mbsim.tuning", "tune"),
    "export": ("mbsim.deploy.export", "export"),
    "SettingsFile": ("mbsim.formats.settings_file", "SettingsFile"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'mbsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
