"""The ``mbsim`` command: one module per subcommand in this package.

A subcommand module has a docstring, ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; it is found by its file name (``export.py`` is ``mbsim export``).
Every subcommand prints one clear line on bad input, never a traceback, and exits
non-zero.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from mbsim.errors import MbsimError

NOT_COMMANDS = {"arguments"}  # modules of this package that are helpers


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def commands() -> dict[str, ModuleType]:
    """Every subcommand module, by command name."""
    out = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in NOT_COMMANDS or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "run") and hasattr(mod, "HELP"):
            out[info.name.replace("_", "-")] = mod
    return out


def build_parser() -> Parser:
    from mbsim import __version__

    parser = Parser(prog="mbsim", description="Model, tune and verify the mountain-bike buffer "
                    "and the ox-horn eBPF fallback.")
    parser.add_argument("--version", action="version", version=f"mbsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, mod in commands().items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def emit_json(obj: Any) -> None:
    """Strict JSON on stdout: NaN and infinities become null."""
    from mbsim.metrics.result import _clean

    json.dump(_clean(obj), sys.stdout, indent=2, allow_nan=False, default=str)
    sys.stdout.write("\n")


def _parse_deferring_ctrl_c(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Build the parser and parse, holding a Ctrl-C until both are done.

    Building the parser imports numpy, scipy and the subcommands. A KeyboardInterrupt raised
    inside an import can surface as an ImportError with a page of text, or (when it escapes
    code run by ``exec``, as dataclasses do) makes CPython kill itself with SIGINT at exit
    instead of returning 130. So a Ctrl-C (or a SIGTERM) that arrives here is noted and raised
    afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        parser = build_parser()
        return parser, parser.parse_args(argv)
    pending: list[int] = []
    old = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if pending:
        raise KeyboardInterrupt
    return parser, args


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM as Ctrl-C: the command stops through its own clean-up and says "interrupted"."""
    raise KeyboardInterrupt


def _child_default_sigterm() -> None:
    """In a forked child (pyroute2's namespace helpers, a benchmark's sender) SIGTERM ends the
    child. With the parent's handler it would raise KeyboardInterrupt into the stack the fork
    copied, and the child would go on running the parent's command: its clean-up included."""
    if signal.getsignal(signal.SIGTERM) is _terminate:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


_AT_FORK: list[bool] = []


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    if not _AT_FORK:
        os.register_at_fork(after_in_child=_child_default_sigterm)
        _AT_FORK.append(True)
    old = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, old)


def _main(argv: Sequence[str] | None) -> int:
    command = "mbsim"
    try:
        parser, args = _parse_deferring_ctrl_c(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 2
        command = f"mbsim {args.command}"
        from mbsim.cli.arguments import apply_max_requests

        apply_max_requests(args)
        return int(args._run(args) or 0)
    except MbsimError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{command}: error: out of memory (a smaller run, or fewer workers, needs less)", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"{command}: error: a file is not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file or directory that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130



def entry() -> None:
    """The console script: ``main()``, then exit with its status. After a Ctrl-C the status
    is 130 always: CPython 3.11 remembers a KeyboardInterrupt that escaped code run by
    ``exec`` (inside an import, say) and would kill itself with SIGINT at exit whatever
    status was asked for, so the exit hooks are run here and the process leaves directly."""
    code = main()
    if code == 130:
        import atexit
        import os

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)
