"""The ``skillneuron-lens`` command line: it parses arguments, calls the library and prints."""

from skillneuron_lens.cli.app import main

__all__ = [
    "main",
]
