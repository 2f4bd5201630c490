"""``python -m iobench`` is the ``iobench`` command."""

from iobench.cli import console_main

console_main()
