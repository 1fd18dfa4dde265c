"""``python -m afterfit.cli``."""

from afterfit.cli import main

main()
