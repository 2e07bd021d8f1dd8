"""``python -m livejobs.cli``: the same command as ``livejobs``."""

from livejobs.cli import main

main()
