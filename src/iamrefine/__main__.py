"""``python -m iamrefine``: the same as the ``iamrefine`` command."""

from iamrefine.cli import main

main()
