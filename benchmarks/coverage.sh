#!/usr/bin/env bash
# Line coverage of mbsim/ by the whole suite (as root, the kernel parts count; so do the
# commands the tests start as subprocesses). Not part of .ci/run: on Python 3.11 the tracer
# makes the simulation-heavy tests about 2.7x slower (test_compare: 72 s -> 193 s), which
# would take CI past its budget. The floor is [tool.coverage.report] fail_under in pyproject.toml.
#   bash benchmarks/coverage.sh            # prints the per-file table and the total
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f .coverage .coverage.*
.venv/bin/python -m pytest -q -p no:cacheprovider --cov=mbsim --cov-report=term --cov-report=json:coverage.json "$@"
