"""``python -m cemtool``: the same as the ``cemtool`` command."""
from cemtool.cli import main

main()
