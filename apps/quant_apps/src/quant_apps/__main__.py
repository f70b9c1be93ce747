"""``python -m quant_apps`` runs the ``quant`` command."""

from quant_apps.cli import main

main()
