"""Subcommands of ``mbsim``; each module registers its own with :func:`mbsim.cli.command`."""
from . import bench, compare, kernel, sim, tune  # noqa: F401
