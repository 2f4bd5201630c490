"""``python -m iobench`` is the ``iobench`` command."""

import sys

from iobench.cli import main

sys.exit(main())
