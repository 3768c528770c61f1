"""``python -m mbsim`` is the ``mbsim`` command."""
import sys

try:
    from mbsim.cli import entry
except KeyboardInterrupt:
    print("mbsim: interrupted", file=sys.stderr)
    sys.exit(130)

entry()
