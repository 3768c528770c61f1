"""User-facing errors: each one prints as a single line, never as a traceback."""


class MbsimError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ConfigError(MbsimError, ValueError):
    """A parameter set that cannot be used: unknown, duplicate or out-of-range values."""
