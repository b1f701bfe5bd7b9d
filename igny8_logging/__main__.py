"""``python -m igny8_logging``: the ``igny8-logs`` command line."""

import sys

from .cli import main

sys.exit(main())
