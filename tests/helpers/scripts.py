"""The repository's scripts (benchmarks and examples) as tests reach them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
EXAMPLES = ROOT / "examples"


def import_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` the way it runs: with its folder on ``sys.path``.

    The benchmark scripts are run as files, so they import each other (``bench_predictivity``) and
    ``_common`` by bare name; the folder stays on the path for imports they make later.
    """
    folder = str(BENCHMARKS)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)
