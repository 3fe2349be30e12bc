"""``python -m pyhcs`` is the ``pyhcs`` command."""

import sys

from .cli import main

sys.exit(main())
