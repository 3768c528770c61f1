"""The ``mbsim`` command. Every subcommand prints one clear line on bad input, never a
traceback, and exits non-zero."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Sequence

from .errors import MbsimError

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str):
    """Register ``mbsim NAME``: the decorated function adds its arguments; ``run`` runs it."""
    def wrap(add_args: Callable[[argparse.ArgumentParser], None]):
        def with_runner(run: Callable[[argparse.Namespace], int]):
            COMMANDS[name] = (help, add_args, run)
            return run
        return with_runner
    return wrap


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> Parser:
    from . import commands  # noqa: F401  (registers the subcommands)

    parser = Parser(prog="mbsim", description="Model, tune and verify the mountain-bike buffer "
                    "and the ox-horn eBPF fallback.")
    parser.add_argument("--version", action="version", version=f"mbsim {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (help_text, add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(_run=run)
    return parser


def _version() -> str:
    from . import __version__
    return __version__


def emit_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, allow_nan=False, default=str)
    sys.stdout.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except MbsimError as exc:
        print(f"mbsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mbsim {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0

