"""``mbsim apply``: the horn, compiled, attached and controlled, until stopped."""
from __future__ import annotations

import argparse
import sys

from mbsim.cli.arguments import add_json, number

HELP = "compile the horn with BCC, attach it with pyroute2 and run its controller"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="directory written by mbsim export")
    p.add_argument("--netns", default=None, help="network namespace of the interface")
    p.add_argument("--dev", required=True, help="the caller-side interface")
    p.add_argument("--upstream", required=True, help="protected upstream, IPV4:PORT")
    p.add_argument("--snapshot", required=True, help="snapshot file (schema mbsim.snapshot/1)")
    p.add_argument("--upstream-mac", default=None, help="the upstream's MAC, to pin its neighbour entry "
                   "(default: resolve it now)")
    p.add_argument("--allow-host-interface", action="store_true",
                   help="allow an interface in the host's root namespace")
    p.add_argument("--duration", type=number(0, 1e9, low_open=True), default=None, help="stop after this many seconds")
    p.add_argument("--log-decisions", action="store_true",
                   help="also log every decision the kernel makes (costs about 100 ns per answer)")
    p.add_argument("--capacity-rps", type=number(0, 1e9, low_open=True), default=None,
                   help="the upstream's capacity (req/s): lets the controller run the window topology")
    p.add_argument("--metrics", default=None, metavar="ADDR:PORT",
                   help="serve live metrics for Prometheus there (for example 127.0.0.1:9464)")
    add_json(p, "the controller's log (one JSON object a line, as it happens)")


def run(args: argparse.Namespace) -> int:
    from mbsim.kernel.apply import run_apply

    return run_apply(args, sys.stdout, as_json=args.json)
