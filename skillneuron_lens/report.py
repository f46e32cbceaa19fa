"""A self-contained HTML report of a run directory.

:func:`write_report` reads what a run directory holds (``predictivity.safetensors`` + ``cfg.json``,
and when present ``summary.json`` and ``perturbation.json``) and writes one ``report.html`` next to
them: the run's settings, model and data, the read-out accuracy, the top neurons, and every figure
that applies. plotly.js is embedded once in the page, so the report opens offline (no CDN, no
network) and can be mailed or archived as one file. A file that is missing or unreadable skips its
section with a note in the report instead of failing.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import plotly.io as pio
import plotly.offline

from skillneuron_lens.analysis.curves import load_perturbation
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import CFG_FILE, PERTURBATION_FILE, REPORT_FILE, SUMMARY_FILE
from skillneuron_lens.io import atomic_write_text
from skillneuron_lens.neurons.sets import NeuronSet, fraction_to_count, smallest_fraction
from skillneuron_lens.plot.perturbation import perturbation_curves
from skillneuron_lens.plot.predictivity import (
    layer_distribution,
    position_layer_heatmap,
    predictivity_heatmap,
    skill_counts,
)
from skillneuron_lens.predictivity.result import PredictivityResult

__all__ = [
    "PERTURBATION_FILE",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "load_perturbation",  # defined in skillneuron_lens.analysis.curves, kept here for old imports
    "render_report",
    "write_report",
]

DEFAULT_FRACTION = 0.02
_PLOT_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "svg"}}


# ---- small HTML helpers -----------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return _e(value)


def _table(rows: Sequence[tuple[str, str]], css_class: str = "facts") -> str:
    body = "".join(f"<tr><th>{_e(key)}</th><td>{value}</td></tr>" for key, value in rows)
    return f'<table class="{css_class}"><tbody>{body}</tbody></table>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        notes.append(f"{path.name} could not be read ({error}); its sections are skipped.")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path.name} is not a JSON object; its sections are skipped.")
        return None
    return data


class _Figures:
    """Turns figures into ``<figure>`` elements with unique ids (plotly.js is added once, elsewhere)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: Any, caption: str, height: int = 460) -> str:
        self.count += 1
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"snl-figure-{self.count}",
            config=_PLOT_CONFIG,
            default_width="100%",
            default_height=f"{height}px",
            validate=False,
        )
        return f'<figure class="snl-figure">{div}<figcaption>{caption}</figcaption></figure>'


# ---- sections ---------------------------------------------------------------------------------
def _overview(result: PredictivityResult, summary: dict[str, Any], run_dir: Path) -> str:
    fingerprint = result.fingerprint or {}
    config = result.config or {}
    model = summary.get("model") or fingerprint.get("model_name") or "unknown"
    model_text = _e(model)
    if fingerprint.get("class"):
        model_text += f" <span class=dim>({_e(fingerprint['class'])}"
        if fingerprint.get("weights_sha256"):
            model_text += f", weights {_e(str(fingerprint['weights_sha256'])[:12])}…"
        model_text += ")</span>"
    shape = ", ".join(
        f"{key} {fingerprint[key]}" for key in ("n_layers", "d_model", "d_mlp") if fingerprint.get(key)
    )
    rows: list[tuple[str, str]] = [("Run directory", _e(run_dir.resolve())), ("Model", model_text)]
    if shape:
        rows.append(("Model shape", _e(shape)))
    if summary.get("task"):
        source = (
            f" <span class=dim>({_e(summary['task_source'])})</span>" if summary.get("task_source") else ""
        )
        rows.append(("Task", _e(summary["task"]) + source))
    if summary.get("label_names"):
        rows.append(("Labels", _e(", ".join(f"{i}: {n}" for i, n in enumerate(summary["label_names"])))))
    if any(key in summary for key in ("n_train", "n_dev", "n_test")):
        rows.append(
            (
                "Examples",
                " / ".join(
                    f"{_number(summary.get(key))} {key[2:]}" for key in ("n_train", "n_dev", "n_test")
                ),
            )
        )
    else:
        rows.append(
            (
                "Examples (per run and subtask)",
                f"train {_e(result.n_train.tolist())}, dev {_e(result.n_dev.tolist())}",
            )
        )
    rows += [
        ("Hook", f"<code>{_e(result.hook)}</code>"),
        ("Layers", _e(", ".join(str(layer) for layer in result.layers))),
        ("Neurons per layer", _number(result.n_neurons)),
        ("Positions (slots)", _e(", ".join(result.slot_names))),
        ("Binary subtasks", _e(", ".join(result.subtask_names))),
        ("Runs", f"{result.n_runs} (combined by {_e(result.run_aggregation)})"),
    ]
    if "padding_side" in config or "max_length" in config:
        rows.append(
            (
                "Recording",
                _e(
                    f"max_length {config.get('max_length')}, padding {config.get('padding_side')}, "
                    f"batch {config.get('batch_size')}, seed {config.get('seed')}"
                ),
            )
        )
    if "seconds" in summary:
        rows.append(("Run time", f"{_number(summary['seconds'], 1)} s"))
    return _table(rows)


def _accuracy(summary: dict[str, Any] | None, result: PredictivityResult) -> str:
    best = float(result.predictivity.max())
    rows: list[tuple[str, str]] = []
    if summary is not None:
        readout = summary.get("readout")
        accuracy = summary.get("test_accuracy")
        if accuracy is None:
            reason = "no read-out" if readout in (None, "none") else "no test split"
            rows.append(("Read-out test accuracy", f"n/a <span class=dim>({reason})</span>"))
        else:
            rows.append(("Read-out test accuracy", f"<strong>{_number(float(accuracy))}</strong>"))
        if readout:
            rows.append(("Read-out", _e(readout)))
    rows.append(("Best neuron predictivity", _number(best)))
    rows.append(("Mean predictivity (all neurons)", _number(float(result.predictivity.mean()))))
    return _table(rows)


def _top_table(
    result: PredictivityResult, summary: dict[str, Any] | None, top_k: int, notes: list[str]
) -> str:
    top = summary.get("top_neurons") if summary else None
    valid = isinstance(top, list) and all(
        isinstance(row, dict) and {"layer", "neuron", "predictivity"} <= set(row) for row in top
    )
    if not valid:
        if top is not None:
            notes.append("summary.json's top_neurons is malformed; the top neurons were recomputed.")
        top = result.top_neurons(min(top_k, result.n_layers * result.n_neurons))
    assert isinstance(top, list)
    labels = list(summary.get("label_names") or []) if summary else []
    meaning = len(labels) == 2 and len(result.subtask_names) == 1

    def polarity(value: Any) -> str:
        if value is None:
            return ""
        sign = int(value)
        text = f"{sign:+d}"
        if meaning:
            text += f" <span class=dim>(high → {_e(labels[1] if sign > 0 else labels[0])})</span>"
        return text

    def evidence(row: dict[str, Any]) -> str:
        cells = [
            _p_value(row.get("p_value")),
            _p_value(row.get("q_value")),
            _number(row.get("held_out")) if row.get("held_out") is not None else "—",
            "yes" if row.get("fragile") else "",
        ]
        return "".join(f"<td>{cell}</td>" for cell in cells)

    head = (
        "<tr><th>#</th><th>layer</th><th>neuron</th><th>predictivity</th><th>polarity</th>"
        "<th>p-value</th><th>q-value</th><th>held-out</th><th>fragile</th></tr>"
    )
    body = "".join(
        f"<tr><td>{rank}</td><td>{_e(row['layer'])}</td><td>{_e(row['neuron'])}</td>"
        f"<td>{_number(float(row['predictivity']))}</td><td>{polarity(row.get('polarity'))}</td>"
        f"{evidence(row)}</tr>"
        for rank, row in enumerate(top[:top_k], start=1)
    )
    legend = _note(
        "p-value: exact label-permutation test of the neuron's dev score; q-value: adjusted over all "
        "recorded neurons (Benjamini-Hochberg); held-out: the same rule (train baseline, dev polarity and "
        "slot) scored on the test split; fragile: its comparisons with the baseline are decided by float "
        "rounding. — means not recorded (runs saved before significance was recorded)."
    )
    return f'<table class="grid"><thead>{head}</thead><tbody>{body}</tbody></table>{legend}'


def _p_value(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return _e(f"{float(value):.2g}")


def _skill_fraction(
    fraction: float | None, summary: dict[str, Any] | None, result: PredictivityResult, notes: list[str]
) -> float:
    if fraction is not None:
        return float(fraction)
    skill = (summary or {}).get("skill_neurons")
    for candidate in (
        skill.get("fraction_per_layer") if isinstance(skill, dict) else None,
        (result.config or {}).get("fraction"),
    ):
        if isinstance(candidate, (int, float)) and not isinstance(candidate, bool) and 0 < candidate <= 1:
            return _at_least_one_neuron(float(candidate), result, notes)
    notes.append(
        f"The skill-neuron fraction is not recorded in the run; {DEFAULT_FRACTION} per layer is used."
    )
    return _at_least_one_neuron(DEFAULT_FRACTION, result, notes)


def _at_least_one_neuron(fraction: float, result: PredictivityResult, notes: list[str]) -> float:
    """A fraction the report did not get from the user, raised to select one neuron per layer if needed."""
    if fraction_to_count(fraction, result.n_neurons) >= 1:
        return fraction
    smallest = smallest_fraction(result.n_neurons)
    notes.append(
        f"A fraction of {fraction:g} selects no neuron of a {result.n_neurons}-neuron layer; {smallest:g} "
        "(one neuron per layer) is shown instead."
    )
    return smallest


def _skill_section(
    result: PredictivityResult, summary: dict[str, Any] | None, fraction: float, figure: _Figures
) -> str:
    neurons = NeuronSet.top(result, fraction=fraction)
    rows = [
        (
            "Selection",
            _e(f"top {fraction:.2%} of each layer's neurons by predictivity ({len(neurons):,} neurons)"),
        ),
    ]
    if len(neurons):
        rows.append(("Mean predictivity of the set", _number(float(neurons.scores(result).mean()))))
    skill = (summary or {}).get("skill_neurons")
    controls = skill.get("random_control_mean_predictivity") if isinstance(skill, dict) else None
    if isinstance(controls, list) and controls and all(isinstance(v, (int, float)) for v in controls):
        rows.append(
            (
                "Layer-matched random controls",
                f"mean predictivity {_number(sum(controls) / len(controls))} over {len(controls)} draws "
                f"(range {_number(min(controls))}–{_number(max(controls))})",
            )
        )
    rows.extend(_evidence_rows(summary))
    caption = "Number of skill neurons selected in each layer."
    return _table(rows) + figure(skill_counts(neurons), caption, height=380)


def _evidence_rows(summary: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The significance and held-out rows of the skill-neuron section (from ``summary.json``)."""
    significance = (summary or {}).get("significance")
    held_out = (summary or {}).get("held_out")
    rows: list[tuple[str, str]] = []
    if not isinstance(significance, dict):
        rows.append(("Significance", "no significance recorded (run saved before it was)"))
    else:
        method = str(significance.get("method", "bh")).upper()
        text = (
            f"{significance.get('n_significant_in_skill_set')} of the skill neurons are significant at q "
            f"{significance.get('q')} ({method}); {significance.get('n_significant')} of "
            f"{significance.get('n_tested')} recorded neurons in all"
        )
        if significance.get("optimistic"):
            text += " (optimistic: " + str(significance.get("optimistic_reason", "")) + ")"
        rows.append(("Significance", _e(text)))
        if significance.get("n_fragile") is not None:
            rows.append((
                "Numerically fragile neurons",
                _e(f"{significance['n_fragile']} in all, left out of skill sets ("
                   f"{significance.get('n_fragile_set_aside', 0)} would otherwise be in this set)"),
            ))
    if isinstance(held_out, dict) and held_out.get("skill") is not None:
        text = (
            f"skill set {_number(held_out.get('skill'))} vs layer-matched random "
            f"{_number(held_out.get('random'))} on {held_out.get('n')} test examples"
        )
        if held_out.get("significant") is not None:
            text += f"; significant set {_number(held_out.get('significant'))}"
        rows.append(("Held-out score (test split)", text))
    elif summary is not None:
        rows.append((
            "Held-out score",
            "none: no test split was scored, so the dev scores above are biased upward by the selection",
        ))
    return rows


_CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 0;
       background: #fafafa; }
main { max-width: 1150px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta, .dim { color: #666; }
.meta { margin-top: 0; font-size: 0.9em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; }
table.facts th { text-align: left; font-weight: 600; padding: 3px 18px 3px 0; vertical-align: top; }
table.facts td { padding: 3px 0; }
table.grid th, table.grid td { border: 1px solid #ddd; padding: 3px 10px; text-align: right; }
table.grid th { background: #f2f2f2; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 12px; }
figure.snl-figure { margin: 1em 0 1.6em; }
figcaption { color: #555; font-size: 0.9em; margin-top: 0.3em; }
pre { background: #f5f5f5; padding: 10px; overflow-x: auto; font-size: 0.85em; }
code { font-size: 0.92em; }
"""


# ---- the report -------------------------------------------------------------------------------
def render_report(
    run_dir: str | os.PathLike[str],
    *,
    top_k: int = 20,
    max_columns: int = 2000,
    fraction: float | None = None,
) -> str:
    """The report of a run directory as one HTML string (what :func:`write_report` writes).

    Args:
        run_dir: A directory written by ``skillneuron-lens find`` or :meth:`PredictivityResult.save`.
        top_k: Rows of the top-neuron table.
        max_columns: Widest heatmap before neurons are binned (see
            :func:`skillneuron_lens.plot.predictivity.predictivity_heatmap`).
        fraction: Share of each layer's neurons shown as skill neurons; default: the run's
            (``summary.json``), else 0.02.

    Returns:
        The HTML page.

    Raises:
        ResultFileError: If the directory has no readable predictivity result.
    """
    from skillneuron_lens import __version__  # late: the package imports this module

    run_path = Path(run_dir)
    result = PredictivityResult.load(run_path)
    notes: list[str] = []
    summary = _read_json(run_path / SUMMARY_FILE, notes)
    if summary is None and not (run_path / SUMMARY_FILE).exists():
        notes.append(
            f"No {SUMMARY_FILE} in the run directory: the data summary, read-out accuracy and skill-set "
            "statistics are left out (the top neurons are recomputed)."
        )
    figure = _Figures()
    sections: list[tuple[str, str, str]] = []
    sections.append(("run", "Run", _overview(result, summary or {}, run_path)))
    sections.append(("accuracy", "Accuracy", _accuracy(summary, result)))
    sections.append(("top-neurons", "Top neurons", _top_table(result, summary, top_k, notes)))
    skill_fraction = _skill_fraction(fraction, summary, result, notes)
    sections.append(
        ("skill-neurons", "Skill neurons", _skill_section(result, summary, skill_fraction, figure))
    )

    heatmaps = figure(
        predictivity_heatmap(result, max_columns=max_columns),
        "Predictivity of every neuron, by layer (white: chance, 0.5). Hover for neuron, predictivity and "
        "polarity (+1: activation above the baseline predicts the positive class).",
    ) + figure(
        predictivity_heatmap(result, order="sorted", max_columns=max_columns),
        "The same, each layer sorted from the most to the least predictive neuron.",
    )
    sections.append(("heatmap", "Predictivity by layer and neuron", heatmaps))
    distribution = figure(
        layer_distribution(result, "violin"),
        "Distribution of predictivity in each layer (box: quartiles, dashed: mean); outlying neurons "
        "are drawn as points (hover names them). Grey dashed line: the chance band, the 95th percentile of "
        "each layer's best neuron when the dev labels are shuffled (drawn when the run recorded "
        "permutations); a layer's best neuron below it is no better than chance.",
    )
    sections.append(("distribution", "Predictivity distribution per layer", distribution))
    if len(result.slot_names) > 1:
        positions = figure(
            position_layer_heatmap(result),
            "Best predictivity in each layer when reading each position alone (max over neurons).",
            height=max(320, 60 + 28 * len(result.slot_names)),
        )
    else:
        positions = _note(
            f"One position ({result.slot_names[0]}) was recorded, so there is no position × layer figure."
        )
    sections.append(("positions", "Positions × layers", positions))
    sections.append(("perturbation", "Perturbation", _perturbation_section(run_path, figure, notes)))
    sections.append(("config", "Configuration", _config_section(run_path, summary)))

    task = (summary or {}).get("task")
    model = (summary or {}).get("model") or (result.fingerprint or {}).get("model_name") or "a model"
    heading = f"Skill neurons: {task} on {model}" if task else f"Skill neurons in {model}"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = " ".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title, _ in sections)
    notes_html = (
        '<section id="notes"><h2>Notes</h2>' + "".join(_note(text) for text in notes) + "</section>"
        if notes
        else ""
    )
    body = "".join(
        f'<section id="{anchor}"><h2>{_e(title)}</h2>{content}</section>'
        for anchor, title, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="skillneuron-lens {_e(__version__)}">\n'
        f'<meta name="snl-figure-count" content="{figure.count}">\n'
        f"<title>{_e(heading)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f"<style>{_CSS}</style>\n"
        f'<script type="text/javascript" id="plotly-js">{plotly.offline.get_plotlyjs()}</script>\n'
        "</head>\n<body>\n<main>\n"
        f"<header><h1>{_e(heading)}</h1>"
        f'<p class="meta">skillneuron-lens {_e(__version__)} · generated {stamp} · '
        f"{figure.count} figures · works offline</p><nav>{nav}</nav></header>\n"
        f"{notes_html}{body}\n</main>\n</body>\n</html>\n"
    )


def _perturbation_section(run_path: Path, figure: _Figures, notes: list[str]) -> str:
    path = run_path / PERTURBATION_FILE
    if not path.exists():
        return _note(
            f"No {PERTURBATION_FILE} in the run directory: perturbation curves appear here once the "
            "skill neurons have been perturbed (skillneuron-lens perturb)."
        )
    try:
        curves = load_perturbation(path)
    except (OSError, SkillNeuronError) as error:
        notes.append(f"{PERTURBATION_FILE} could not be read: {error}")
        return _note(f"{PERTURBATION_FILE} could not be read: {error}")
    parts = []
    for curve in curves:
        try:
            fig = perturbation_curves(curve, title=f"Perturbation: {curve.name}" if curve.name else None)
        except SkillNeuronError as error:
            parts.append(_note(f"Curve {curve.name!r} could not be drawn: {error}"))
            continue
        parts.append(
            figure(
                fig,
                "Accuracy as a growing share of each layer's neurons is perturbed: skill neurons (most "
                "predictive first), layer-matched random neurons (band) and the least predictive neurons; "
                f"green: clean accuracy {curve.clean_accuracy:.3f}.",
            )
        )
    return "".join(parts)


def _config_section(run_path: Path, summary: dict[str, Any] | None) -> str:
    parts = []
    for name, data in ((CFG_FILE, _safe_json(run_path / CFG_FILE)), (SUMMARY_FILE, summary)):
        if data is None:
            continue
        text = json.dumps(data, indent=2, sort_keys=False, default=str)
        parts.append(f"<details><summary><code>{_e(name)}</code></summary><pre>{_e(text)}</pre></details>")
    return "".join(parts) or _note("No configuration file could be read.")


def _safe_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    filename: str = REPORT_FILE,
    top_k: int = 20,
    max_columns: int = 2000,
    fraction: float | None = None,
) -> Path:
    """Write ``report.html`` into a run directory: one self-contained page that works offline.

    The report is derived from the run's files and can always be made again, so by default an
    existing report is replaced; the new one is written to a temporary file and renamed into
    place, so a reader never sees half a report and a failure leaves the old one intact.

    Args:
        run_dir: A directory written by ``skillneuron-lens find`` or :meth:`PredictivityResult.save`
            (``summary.json`` and ``perturbation.json`` are used when present).
        overwrite: Replace an existing report (default). With ``False``, an existing file raises.
        filename: Name of the report inside ``run_dir``.
        top_k: Rows of the top-neuron table.
        max_columns: Widest heatmap before neurons are binned.
        fraction: Share of each layer's neurons shown as skill neurons; default: the run's, else 0.02.

    Returns:
        The path of the report.

    Raises:
        FileExistsError: If the report exists and ``overwrite`` is false.
        ResultFileError: If the directory has no readable predictivity result.
    """
    run_path = Path(run_dir)
    target = run_path / filename
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
    page = render_report(run_path, top_k=top_k, max_columns=max_columns, fraction=fraction)
    return atomic_write_text(target, page)
