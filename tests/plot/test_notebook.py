"""The offline notebook renderer: figures that use the page's plotly.js and load nothing.

Its behaviour inside a real kernel (plotly.js shown once, figures drawn in a browser) is tested with the
notebooks, in tests/scripts/test_notebooks.py.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from skillneuron_lens.plot.notebook import OfflineNotebookRenderer, embed_plotlyjs


def test_the_renderer_writes_a_div_and_a_plot_call_without_any_script_to_load():
    figure = go.Figure(go.Bar(x=["a", "b"], y=[3, 5]), layout={"title": {"text": "two bars"}})
    bundle = OfflineNotebookRenderer(default_height="400px").to_mimebundle(figure.to_dict())
    assert list(bundle) == ["text/html"]
    html = bundle["text/html"]
    assert 'class="plotly-graph-div"' in html and "Plotly.newPlot(" in html
    assert "two bars" in html and "height:400px" in html
    assert "src=" not in html and "https://" not in html and "MathJax" not in html
    assert "plotly.js v" not in html  # the library itself is not repeated in every figure


def test_outside_a_notebook_nothing_changes():
    before = pio.renderers.default
    assert embed_plotlyjs() is False
    assert pio.renderers.default == before
