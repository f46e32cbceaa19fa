"""Figures in a Jupyter notebook that draw offline: plotly.js embedded once, nothing from a CDN.

plotly's own ``"notebook"`` renderer embeds plotly.js once but adds a MathJax ``<script>`` from a CDN to
every figure, and ``"notebook_connected"`` loads plotly.js itself from a CDN; either way a notebook saved
with its outputs needs the network to draw. :func:`embed_plotlyjs` registers a renderer that writes each
figure as a ``<div>`` and a ``Plotly.newPlot`` call only, shows plotly.js once in the calling cell's
output, and makes that renderer the default, so a cell that ends with a figure shows it and the saved
notebook (and its HTML export) draws every figure without a network.
"""

from __future__ import annotations

from typing import Any

import plotly.io as pio
import plotly.offline
from plotly.io.base_renderers import MimetypeRenderer

__all__ = [
    "OFFLINE_RENDERER",
    "OfflineNotebookRenderer",
    "embed_plotlyjs",
]

OFFLINE_RENDERER = "skillneuron_lens_offline"
"""The name under which :func:`embed_plotlyjs` registers its renderer in ``plotly.io.renderers``."""

# The same page-wide setting plotly writes before its own copy of plotly.js (MathJax stays local).
_PLOTLY_WINDOW_CONFIG = "window.PlotlyConfig = {MathJaxConfig: 'local'};"


class OfflineNotebookRenderer(MimetypeRenderer):
    """A ``text/html`` renderer whose figures use the page's plotly.js and load nothing.

    Args:
        default_height: Height of a figure whose layout sets none (CSS, e.g. ``"525px"``).
        config: plotly.js config (e.g. ``{"displaylogo": False}``); ``None`` for plotly's defaults.
    """

    def __init__(self, default_height: str = "525px", config: dict[str, Any] | None = None) -> None:
        self.default_height = default_height
        self.config = dict(config or {})

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
        """The figure as an HTML ``<div>`` and its plotting script (no plotly.js, no MathJax).

        Args:
            fig_dict: The figure as plotly's renderers receive it.

        Returns:
            ``{"text/html": ...}``.
        """
        html = pio.to_html(
            fig_dict,
            config=self.config,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=self.default_height,
            validate=False,
        )
        return {"text/html": html}


def embed_plotlyjs() -> bool:
    """Show plotly figures offline in this notebook: plotly.js once here, then every figure uses it.

    Call it once, in an early cell: that cell's output holds plotly.js (about 4.7 MB, once per
    notebook), and every later cell that ends with a figure (or calls ``fig.show()``) shows it with
    plotly.js from that output, so the notebook saved with its outputs, or exported with
    ``jupyter nbconvert --to html``, draws its figures without a network. This suits Jupyter and
    VS Code, where a notebook's outputs share one page; a front end that isolates each output (Colab)
    needs plotly's own renderer there (``plotly.io.renderers.default = "colab"``).

    Outside a Jupyter kernel (a plain script, or IPython in a terminal) nothing is changed, so
    ``fig.show()`` keeps plotly's behaviour there.

    Returns:
        Whether the renderer was installed (``True`` in a notebook, ``False`` elsewhere).
    """
    if not _in_a_kernel():
        return False
    from IPython.display import display_html

    pio.renderers[OFFLINE_RENDERER] = OfflineNotebookRenderer()
    pio.renderers.default = OFFLINE_RENDERER
    script = plotly.offline.get_plotlyjs()
    display_html(f"<script>{_PLOTLY_WINDOW_CONFIG}</script>\n<script>{script}</script>", raw=True)
    return True


def _in_a_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (an IPython shell with a kernel; IPython may be missing)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None
