"""``python -m mbsim`` is the ``mbsim`` command."""
import sys

from .cli import main

sys.exit(main())
