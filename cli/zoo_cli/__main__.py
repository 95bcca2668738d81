"""``python -m zoo_cli`` runs the ``zoo`` command."""

from zoo_cli.main import main

main()
