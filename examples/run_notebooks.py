"""Run the example notebooks top to bottom and save them with their outputs.

Run with ``.venv/bin/python examples/run_notebooks.py [NOTEBOOK ...] [--quick] [--out DIR]`` (needs the
``notebook`` extra: ``pip install -e ".[notebook]"``). Each notebook runs in a fresh kernel of this
Python, offline, in the notebook's folder, and is written back in place (or into ``--out``) with its
outputs, so the committed notebooks show what they compute. ``--quick`` sets ``SNL_NOTEBOOK_QUICK=1``
(the tiny sizes the tests use); the first output of each notebook says which mode made it.

Progress bars are left out of the saved outputs (:func:`drop_progress_bars`): a saved notebook would
show each bar as a widget frozen at 0%. A notebook run by hand shows them (with ``ipywidgets``
installed). After running, every notebook is checked to load nothing from the network
(:func:`network_references`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
NOTEBOOKS = ("quickstart.ipynb", "decoder_story.ipynb", "paper_pipeline.ipynb")
CELL_TIMEOUT_S = 1800

# The text a tqdm progress bar shows beside its widget: "label:  40%|####      | 2/5 [...]".
_PROGRESS_BAR = re.compile(r"^[^\n]*\d+%\|[^\n]*\|\s*\d+/\S+")

# A URL a browser would fetch: a src/href attribute, an ES import, or a CDN host named in a script.
_NETWORK = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|import\s+["']https?://|https?://cdn""")


def kernel_environment(quick: bool) -> dict[str, str]:
    """The environment of the notebook kernel: offline, with this checkout importable.

    Args:
        quick: Set ``SNL_NOTEBOOK_QUICK=1`` (else it is removed).

    Returns:
        A copy of this process's environment with those changes.
    """
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if quick:
        env["SNL_NOTEBOOK_QUICK"] = "1"
    else:
        env.pop("SNL_NOTEBOOK_QUICK", None)
    return env


def execute_notebook(path: Path, *, quick: bool, timeout_s: int = CELL_TIMEOUT_S) -> Any:
    """Run a notebook top to bottom in a fresh kernel of this Python and return it with its outputs.

    Args:
        path: The ``.ipynb`` file (not changed).
        quick: Run the notebook's quick mode.
        timeout_s: Limit for any one cell, in seconds.

    Returns:
        The executed ``nbformat`` notebook.

    Raises:
        nbclient.exceptions.CellExecutionError: When a cell raises (the message names the cell).
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        # Widget state would make an HTML export load the widget manager from a CDN.
        store_widget_state=False,
    )
    client.execute(env=kernel_environment(quick))
    drop_progress_bars(notebook)
    return notebook


def drop_progress_bars(notebook: Any) -> int:
    """Remove the progress-bar widgets (tqdm's) from a notebook's outputs; other widgets stay.

    Args:
        notebook: An ``nbformat`` notebook, changed in place.

    Returns:
        How many outputs were removed.
    """
    removed = 0
    for cell in notebook.cells:
        outputs = cell.get("outputs", [])
        kept = [output for output in outputs if not _is_progress_bar(output)]
        removed += len(outputs) - len(kept)
        if outputs:
            cell.outputs = kept
    return removed


def _is_progress_bar(output: Any) -> bool:
    """Whether an output is a progress-bar widget (its plain-text form is a tqdm bar)."""
    data = output.get("data", {})
    plain = data.get("text/plain", "")
    plain = "".join(plain) if isinstance(plain, list) else plain
    return "application/vnd.jupyter.widget-view+json" in data and bool(_PROGRESS_BAR.match(plain))


def network_references(notebook: Any) -> list[str]:
    """Every place in a notebook's outputs that would load something from the network.

    The embedded copy of plotly.js is left out: it names CDN addresses that it fetches only for maps,
    which these figures do not draw.

    Args:
        notebook: An ``nbformat`` notebook.

    Returns:
        ``"cell N: <text around the reference>"`` for each one found (empty when it draws offline).
    """
    import plotly.offline

    library = plotly.offline.get_plotlyjs()
    found: list[str] = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            for value in output.get("data", {}).values():
                text = value if isinstance(value, str) else "".join(value) if isinstance(value, list) else ""
                text = text.replace(library, "")
                found.extend(
                    f"cell {index}: {text[max(0, match.start() - 40):match.end() + 40]!r}"
                    for match in _NETWORK.finditer(text)
                )
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks named (default all), save them, and report time and network references."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help=f"notebooks to run (default: {', '.join(NOTEBOOKS)})")
    parser.add_argument("--quick", action="store_true", help="run the tiny quick mode")
    parser.add_argument("--out", help="write the executed notebooks into this folder instead of in place")
    args = parser.parse_args(argv)
    import nbformat

    paths = [Path(name) for name in args.notebooks] or [EXAMPLES / name for name in NOTEBOOKS]
    status = 0
    for path in paths:
        started = time.perf_counter()
        notebook = execute_notebook(path, quick=args.quick)
        target = Path(args.out) / path.name if args.out else path
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        problems = network_references(notebook)
        print(f"{path.name}: {time.perf_counter() - started:.0f} s, written to {target}"
              + (f"; NETWORK REFERENCES: {problems}" if problems else ""))
        status = status or (1 if problems else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
