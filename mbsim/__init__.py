"""mbsim: model, tune and verify the mountain-bike adaptive buffer and the ox-horn fallback.

Data flow: scenario -> simulate -> metrics -> tune -> settings -> export -> apply ->
verify -> report.

>>> from mbsim import simulate
>>> r = simulate("db-down", policy="mbb", seed=1, duration_s=10)
>>> r["success_ratio"]  # doctest: +SKIP
"""
from .catalog import SCENARIOS
from .errors import ConfigError, MbsimError
from .results import Result
from .scenario import Scenario
from .settings import MbbSettings
from .simulate import simulate

__version__ = "0.1.0"
__all__ = ["simulate", "Scenario", "Result", "MbbSettings", "SCENARIOS", "MbsimError", "ConfigError"]
