"""``python -m livejobs``: the same command as ``livejobs``."""

from livejobs.cli import main

main()
