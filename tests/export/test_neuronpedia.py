"""``skillneuron-lens export --format neuronpedia``: the files, field by field, against the run and a
brute force."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import pytest

import skillneuron_lens.cli.app as cli
import skillneuron_lens.runs.finding as runs_finding
import skillneuron_lens.runs.run as runs_run
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.export.neuronpedia import NEURONPEDIA_KIND, export_neuronpedia, neuron_description
from skillneuron_lens.files import MARKER_FILE
from skillneuron_lens.io import read_marker
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.runs.run import Run
from tests.helpers.checkpoints import write_split
from tests.helpers.reference import brute_force_top_texts, every_token
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

EXAMPLES = 4
# The fields of the dataclasses in SAEDashboard's sae_dashboard/neuronpedia/neuronpedia_export.py (db4839a4).
FEATURE_FIELDS = [
    "modelId", "layer", "index", "creatorId", "createdAt", "maxActApprox", "hasVector", "vector",
    "vectorLabel", "vectorDefaultSteerStrength", "hookName", "topkCosSimIndices", "topkCosSimValues",
    "neuron_alignment_indices", "neuron_alignment_values", "neuron_alignment_l1",
    "correlated_neurons_indices", "correlated_neurons_pearson", "correlated_neurons_l1",
    "correlated_features_indices", "correlated_features_pearson", "correlated_features_l1", "neg_str",
    "neg_values", "pos_str", "pos_values", "frac_nonzero", "freq_hist_data_bar_heights",
    "freq_hist_data_bar_values", "logits_hist_data_bar_heights", "logits_hist_data_bar_values",
    "decoder_weights_dist", "sourceSetName",
]
ACTIVATION_FIELDS = [
    "id", "tokens", "index", "layer", "modelId", "maxValue", "maxValueTokenIndex", "minValue", "values",
    "creatorId", "dataSource", "dataIndex", "dfaValues", "dfaTargetIndex", "dfaMaxValue", "createdAt",
    "lossValues", "logitContributions", "binMin", "binMax", "binContains", "qualifyingTokenIndex",
    "zIndices", "zValues",
]
SINGLE_ROW_FIELDS = {
    "model.jsonl": [
        "id", "instruct", "creatorId", "displayNameShort", "displayName", "tlensId", "dimension",
        "visibility", "defaultSourceSetName", "defaultSourceId", "inferenceEnabled", "layers",
        "neuronsPerLayer", "createdAt", "owner", "updatedAt", "website",
    ],
    "source.jsonl": [
        "id", "modelId", "setName", "creatorId", "hasDashboards", "inferenceEnabled", "inferenceHosts",
        "saelensConfig", "saelensRelease", "saelensSaeId", "hfRepoId", "hfFolderId", "visibility",
        "defaultOfModelId", "hasUmap", "hasUmapLogSparsity", "hasUmapClusters", "num_prompts",
        "num_tokens_in_prompt", "dataset", "notes", "createdAt",
    ],
    "release.jsonl": [
        "name", "description", "creatorName", "creatorId", "visibility", "isNewUi", "featured",
        "descriptionShort", "urls", "creatorEmail", "creatorNameShort", "defaultSourceSetName",
        "defaultSourceId", "defaultUmapSourceIds", "createdAt",
    ],
    "sourceset.jsonl": [
        "modelId", "name", "creatorId", "hasDashboards", "visibility", "description", "type", "creatorName",
        "urls", "creatorEmail", "releaseName", "defaultOfModelId", "defaultRange", "defaultShowBreaks",
        "showDfa", "showCorrelated", "showHeadAttribution", "showUmap", "createdAt",
    ],
}
# Neuronpedia's explanation rows (SAEDashboard reads their modelId only).
EXPLANATION_FIELDS = [
    "id", "modelId", "layer", "index", "description", "authorId", "typeName", "explanationModelName",
    "createdAt",
]


@pytest.fixture(scope="module")
def tiny_model():
    """The tiny GPT-2 for every model name (find's load and the run's reload)."""
    model = tiny_gpt2()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runs_finding, "load_model", lambda *args, **kwargs: model)
        patch.setattr(runs_run, "load_model", lambda *args, **kwargs: model)
        yield model


@pytest.fixture(scope="module")
def run(tiny_model, tmp_path_factory):
    """A frozen run of the tiny model on a toy CSV task, made by the command line.

    80 dev examples and ``--q 0.9`` give the random tiny model a few significant neurons.
    """
    folder = tmp_path_factory.mktemp("export")
    texts, labels = toy_texts(160, seed=3)
    train = write_split(folder / "toy.csv", list(zip(texts, labels, strict=True)))
    arguments = ["find", "--model", "tiny", "--train-file", train, "--n", "0", "--fraction", "0.05"]
    arguments += ["--q", "0.9", "--max-length", "16", "--batch-size", "16", "--quiet", "--no-report"]
    arguments += ["--out", str(folder / "run")]
    assert cli.main(arguments) == 0
    return Run(folder / "run")


@pytest.fixture(scope="module")
def exported(run, tiny_model):
    out = run.path.parent / "np"
    code = cli.main(
        [
            "export",
            str(run.path),
            "--format",
            "neuronpedia",
            "--out",
            str(out),
            "--examples",
            str(EXAMPLES),
            "--model-id",
            "tiny-gpt2",
            "--quiet",
        ]
    )
    assert code == 0
    return out


def read_rows(path: Path) -> list[dict]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def test_the_export_has_one_source_per_layer_with_saedashboards_files(run, exported):
    skill = NeuronSet.top(run.result, fraction=run.config.fraction)
    assert run.summary["task"] == "custom"  # the name of a --train-file task
    source_set = "snl-custom"
    sources = {f"{layer}-{source_set}" for layer, _ in skill}
    assert {p.name for p in (exported / "tiny-gpt2").iterdir()} == sources
    assert read_marker(exported)["kind"] == NEURONPEDIA_KIND
    for source in sources:
        directory = exported / "tiny-gpt2" / source
        files = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
        assert files == {
            *SINGLE_ROW_FIELDS,
            "features/batch-0.jsonl.gz",
            "activations/batch-0.jsonl.gz",
            "explanations/batch-0.jsonl.gz",
        }
        for name, fields in SINGLE_ROW_FIELDS.items():
            rows = read_rows(directory / name)
            assert len(rows) == 1 and set(rows[0]) == set(fields), name
        model_row, source_row = (
            read_rows(directory / "model.jsonl")[0],
            read_rows(directory / "source.jsonl")[0],
        )
        assert model_row["id"] == "tiny-gpt2" and (model_row["layers"], model_row["neuronsPerLayer"]) == (
            3,
            48,
        )
        assert source_row["id"] == source and source_row["setName"] == source_set
        assert source_row["num_prompts"] == len(run.task().splits["train"].texts)
        assert source_row["num_tokens_in_prompt"] == 16
        assert read_rows(directory / "sourceset.jsonl")[0]["name"] == source_set


def test_features_activations_and_explanations_hold_the_recorded_values(run, exported, tiny_model):
    skill = NeuronSet.top(run.result, fraction=run.config.fraction)
    texts = run.task().splits["train"].texts
    result, tokenizer = run.result, tiny_model.tokenizer
    p_values = result.p_value
    seen = set()
    for source in (exported / "tiny-gpt2").iterdir():
        layer = int(source.name.split("-")[0])
        features = read_rows(source / "features/batch-0.jsonl.gz")
        activations = read_rows(source / "activations/batch-0.jsonl.gz")
        explanations = read_rows(source / "explanations/batch-0.jsonl.gz")
        assert all(list(row) == FEATURE_FIELDS for row in features)
        assert all(list(row) == ACTIVATION_FIELDS for row in activations)
        assert all(list(row) == EXPLANATION_FIELDS for row in explanations)
        assert len(activations) == len(features) * EXAMPLES
        tokens = every_token(tiny_model, texts, f"blocks.{layer}.mlp.hook_post", max_length=16)
        assert [row["index"] for row in explanations] == [row["index"] for row in features]
        for feature, explanation in zip(features, explanations, strict=True):
            neuron = int(feature["index"])
            seen.add((layer, neuron))
            common = {"modelId": "tiny-gpt2", "layer": source.name, "index": str(neuron)}
            assert {key: feature[key] for key in common} == common
            assert feature["hookName"] == f"blocks.{layer}.mlp.hook_post"
            assert feature["creatorId"] == "skillneuron-lens" and feature["hasVector"] is False
            expected, share = brute_force_top_texts(tokens, neuron, EXAMPLES)
            assert feature["frac_nonzero"] == pytest.approx(share, abs=1e-12)
            rows = [row for row in activations if row["index"] == str(neuron)]
            assert [int(row["dataIndex"]) for row in rows] == [i for i, _, _ in expected]
            for row, (_, token_ids, values) in zip(rows, expected, strict=True):
                assert {key: row[key] for key in common} == common
                assert row["tokens"] == [tokenizer.decode([token]) for token in token_ids]
                assert all(isinstance(value, float) for value in row["values"])
                assert row["values"] == pytest.approx(values.tolist(), abs=1e-5)
                assert row["maxValue"] == max(row["values"]) and row["minValue"] == min(row["values"])
                assert row["maxValueTokenIndex"] == row["values"].index(row["maxValue"])
                assert row["qualifyingTokenIndex"] == row["maxValueTokenIndex"]
                assert isinstance(row["id"], str) and len(row["id"]) == 25
            assert feature["maxActApprox"] == max(row["maxValue"] for row in rows)
            cell = result.layers.index(layer), neuron
            predictivity, p_value = float(result.predictivity[cell]), float(p_values[cell])
            assert explanation["description"] == neuron_description(
                run.summary["task"],
                run.summary["label_names"],
                result.subtask_names,
                polarity=int(result.polarity[cell]),
                predictivity=predictivity,
                p_value=p_value,
            )
            assert {key: explanation[key] for key in common} == common
    assert seen == set(skill)
    ids = [
        row["id"]
        for source in (exported / "tiny-gpt2").iterdir()
        for row in read_rows(source / "activations/batch-0.jsonl.gz")
    ]
    assert len(set(ids)) == len(ids)


def test_the_description_names_task_polarity_predictivity_and_p_value():
    line = neuron_description(
        "sst2", ["negative", "positive"], ("binary",), polarity=-1, predictivity=0.8125, p_value=3.14e-5
    )
    expected = "sst2 skill neuron: above its baseline predicts 'negative' (polarity -1); "
    assert line == expected + "predictivity 0.812, p = 3.14e-05"
    line = neuron_description(
        "mnli", ["e", "n", "c"], ("pn", "neu"), polarity=1, predictivity=0.7, p_value=None
    )
    assert line == "mnli skill neuron: polarity +1 on subtask 'pn'; predictivity 0.700, p-value not recorded"


def test_export_refuses_to_replace_what_it_did_not_write(run, exported, tmp_path, capsys):
    base = ["export", str(run.path), "--format", "neuronpedia", "--examples", "1", "--quiet"]
    assert cli.main([*base, "--out", str(exported)]) == 2
    assert "already exists" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert cli.main([*base, "--out", str(mine), "--overwrite"]) == 2
    assert "not a directory written by skillneuron-lens" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(mine.iterdir())) == 1
    assert cli.main([*base, "--out", str(run.path), "--overwrite"]) == 2  # the run is an input
    assert "never replaced" in capsys.readouterr().err
    assert (run.path / MARKER_FILE).is_file()


def test_overwrite_replaces_an_earlier_export_and_significant_selects_those_neurons(
    run, exported, tiny_model
):
    copy = exported.parent / "np-again"
    export_neuronpedia(run, copy, examples=1, model=tiny_model)
    significant = NeuronSet.significant(run.result, q=run.config.q, method=run.config.fdr_method)
    assert 0 < len(significant) < run.result.n_layers * run.result.n_neurons
    export_neuronpedia(run, copy, neurons="significant", examples=1, overwrite=True, model=tiny_model)
    model_dir = copy / "tiny"  # the default model id: the run's model name
    found = {
        (int(source.name.split("-")[0]), int(row["index"]))
        for source in model_dir.iterdir()
        for row in read_rows(source / "features/batch-0.jsonl.gz")
    }
    assert found == set(significant)
    assert all(source.name.endswith("-snl-custom-significant") for source in model_dir.iterdir())
    strict = Run(run.path)
    strict.config = dataclasses.replace(run.config, q=1e-12)
    with pytest.raises(SkillNeuronError, match="has no significant neurons"):
        export_neuronpedia(strict, copy, neurons="significant", overwrite=True, model=tiny_model)
    left = {source.name for source in model_dir.iterdir()}  # the earlier export is still in place
    assert left == {f"{layer}-snl-custom-significant" for layer, _ in found}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model_id": "org/model"}, "not a valid Neuronpedia id"),
        ({"source_set": "two words"}, "not a valid Neuronpedia id"),
        ({"examples": 0}, "at least 1"),
        ({"neurons": "all"}, "neurons must be one of"),
        ({"split": "validation"}, "has no 'validation' split"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(run, tiny_model, tmp_path, options, message):
    with pytest.raises(SkillNeuronError, match=message):
        export_neuronpedia(run, tmp_path / "out", model=tiny_model, **options)
    assert not (tmp_path / "out").exists()
