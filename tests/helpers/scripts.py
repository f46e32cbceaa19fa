"""The repository's scripts (benchmarks and examples) as tests reach them."""

from __future__ import annotations

import importlib
import importlib.util
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


def import_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (the examples are run as files, not installed)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
