"""``python -m site_builder`` runs the command-line interface."""

from site_builder.cli import run

run()
