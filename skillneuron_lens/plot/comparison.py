"""Task x task matrices: similarity, overlap, or cross-task perturbation, values written in the cells."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.plot.layout import (
    DIVERGING_SCALE,
    PREDICTIVITY_SCALE,
    as_numpy,
    check_layout,
    finish_figure,
)

__all__ = ["similarity_matrix"]


def similarity_matrix(
    matrix: Float[torch.Tensor, "task other_task"],
    tasks: Sequence[str],
    *,
    column_tasks: Sequence[str] | None = None,
    title: str = "Task similarity",
    zmid: float | None = None,
    zmin: float | None = None,
    zmax: float | None = None,
    colorbar_title: str = "similarity",
    row_label: str = "task",
    column_label: str = "task",
    value_format: str = ".2f",
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Task x task matrix (similarity, overlap, or cross-task perturbation), values written in cells.

    Args:
        matrix: Values ``[row task, column task]``.
        tasks: Names of the rows (and of the columns, unless ``column_tasks`` is given).
        column_tasks: Names of the columns, for a non-square matrix.
        title: Figure title.
        zmid: A value to diverge around (blue below, white at it, red above), e.g. 0 for a
            correlation or the clean accuracy for cross-perturbation; ``None`` for a sequential
            white-to-red scale.
        zmin: Bottom of the colour scale (default: data minimum).
        zmax: Top of the colour scale (default: data maximum).
        colorbar_title: Colour bar title.
        row_label: Title of the row axis.
        column_label: Title of the column axis.
        value_format: d3 format of the written values.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Heatmap``, first row at the top.

    Raises:
        SkillNeuronError: If the names do not match the matrix.
    """
    check_layout(layout)
    values = as_numpy(matrix)
    columns = list(tasks) if column_tasks is None else list(column_tasks)
    if values.ndim != 2 or values.shape != (len(tasks), len(columns)):
        raise SkillNeuronError(
            f"matrix has shape {values.shape} but {len(tasks)} row and {len(columns)} column names "
            "were given."
        )
    colour: dict[str, Any] = dict(zmin=zmin, zmax=zmax)
    if zmid is not None:
        colour.update(colorscale=DIVERGING_SCALE, zmid=zmid)
        if zmin is None and zmax is None and np.isfinite(values).any():
            reach = float(np.nanmax(np.abs(values - zmid))) or 1.0
            colour.update(zmin=zmid - reach, zmax=zmid + reach)
    else:
        colour.update(colorscale=PREDICTIVITY_SCALE)
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=columns,
            y=list(tasks),
            texttemplate=f"%{{z:{value_format}}}",
            hovertemplate=(
                f"{row_label} %{{y}}<br>{column_label} %{{x}}<br>%{{z:{value_format}}}<extra></extra>"
            ),
            colorbar=dict(title=dict(text=colorbar_title)),
            **colour,
        )
    )
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    return finish_figure(
        fig, title=title, subtitle=None, x_title=column_label, y_title=row_label, layout=layout
    )
