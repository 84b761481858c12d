"""``python -m servicekit.devstack run|migrate|servers|revision``."""

from servicekit.devstack._launcher import main

main()
