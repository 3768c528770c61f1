"""``python -m mbsim`` is the ``mbsim`` command."""
import sys

from mbsim.cli import main

sys.exit(main())
