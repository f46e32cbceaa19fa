"""A run's skill neurons in the bulk-import layout of Neuronpedia and SAEDashboard.

The layout and the field names follow SAEDashboard's ``sae_dashboard/neuronpedia/neuronpedia_export.py``
(jbloomAus/SAEDashboard, commit :data:`SAEDASHBOARD_COMMIT`), the converter that writes what
Neuronpedia's bulk import reads. Every recorded layer becomes one Neuronpedia *source*
``{layer}-{source set}``, and the export directory holds::

    {out}/{model id}/{layer}-{source set}/
        release.jsonl  model.jsonl  sourceset.jsonl  source.jsonl
        features/batch-0.jsonl.gz       one row per neuron (modelId, layer, index, hookName, ...)
        activations/batch-0.jsonl.gz    one row per top-activating text (tokens, values, maxValue, ...)
        explanations/batch-0.jsonl.gz   one row per neuron: its one-line description

A neuron's ``index`` is its index at the hook, its ``layer`` the source id (as in SAEDashboard). The
top-activating texts come from one split of the run's task, recorded on the run's model with the
run's hook, truncation and tokenization; a text's score is the neuron's largest activation over its
tokens. The explanation rows (which SAEDashboard leaves to a later auto-interpretation step) carry the
evidence ``find`` measured: task, polarity, predictivity and p-value.
"""

from __future__ import annotations

import dataclasses
import gzip
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.io import check_destination, dumps_strict, staged_directory
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.models.fingerprint import model_fingerprint, same_model
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.notebook import format_number
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.recorder import RecordingConfig
from skillneuron_lens.record.top_examples import NeuronExamples, top_activating_examples
from skillneuron_lens.runs.run import Run

__all__ = [
    "EXPORT_NEURONS",
    "NEURONPEDIA_KIND",
    "SAEDASHBOARD_COMMIT",
    "export_neuronpedia",
    "neuron_description",
]

SAEDASHBOARD_COMMIT = "db4839a41116d729fc9f43c1878e7b8b157748ea"
"""The SAEDashboard commit whose ``neuronpedia_export.py`` the layout and field names follow."""
NEURONPEDIA_KIND = "neuronpedia-export"
"""The kind an export directory's marker records (``--overwrite`` replaces only one of these)."""
EXPORT_NEURONS = ("skill", "significant")
"""Which neurons are exported: the run's skill set (top ``fraction`` per layer) or its significant ones."""
_BATCH = "batch-0"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

Row = dict[str, Any]


def _slug(text: str) -> str:
    """``text`` as a Neuronpedia id: lower case, runs of other characters as one ``-``."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "model"


def _checked_id(value: str, option: str) -> str:
    """An id that becomes a folder name and a Neuronpedia key: letters, digits, ``.``, ``_``, ``-``."""
    if not _ID.match(value):
        raise SkillNeuronError(
            f"{option} {value!r} is not a valid Neuronpedia id: use letters, digits, '.', '_' and '-' "
            "(no '/' or spaces), starting with a letter or digit, e.g. gpt2-small."
        )
    return value


def neuron_description(
    task: str,
    label_names: Sequence[str],
    subtask_names: Sequence[str],
    *,
    polarity: int,
    predictivity: float,
    p_value: float | None,
) -> str:
    """One line that says what a skill neuron is evidence of.

    Args:
        task: The task's name.
        label_names: The task's label names (label id order).
        subtask_names: The result's binary subtasks (polarity is that of the first).
        polarity: ``+1`` if activation above the neuron's baseline predicts the positive class, else ``-1``.
        predictivity: The neuron's predictivity.
        p_value: Its exact p-value, or ``None`` when the run recorded no significance.

    Returns:
        E.g. ``"rotten_tomatoes skill neuron: above its baseline predicts 'positive' (polarity +1);
        predictivity 0.812, p = 3.1e-05"``.
    """
    sign = "+1" if polarity > 0 else "-1"
    if tuple(subtask_names) == ("binary",) and len(label_names) == 2:
        predicted = label_names[1] if polarity > 0 else label_names[0]
        direction = f"above its baseline predicts {predicted!r} (polarity {sign})"
    else:
        direction = f"polarity {sign} on subtask {subtask_names[0]!r}"
    evidence = "p-value not recorded" if p_value is None else f"p = {format_number(p_value)}"
    return f"{task} skill neuron: {direction}; predictivity {format_number(predictivity)}, {evidence}"


def _recording(result: PredictivityResult, batch_size: int, progress: bool) -> RecordingConfig:
    """How the run's result was recorded (hook, truncation, tokenization), to record its texts again."""
    names = {field.name for field in dataclasses.fields(RecordingConfig)} - {
        "layers",
        "positions",
        "progress",
    }
    saved = {name: result.config[name] for name in names if name in result.config}
    saved.update(hook=result.hook, batch_size=batch_size, progress=progress)
    return RecordingConfig(**saved)


def _chosen(run: Run, neurons: str) -> NeuronSet:
    """The run's skill set or its significant neurons; a clear error when there are none."""
    if neurons == "skill":
        chosen = NeuronSet.top(run.result, fraction=run.config.fraction)
    else:
        chosen = NeuronSet.significant(run.result, q=run.config.q, method=run.config.fdr_method)  # type: ignore[arg-type]
    if len(chosen) == 0:
        raise SkillNeuronError(
            f"{run.path} has no {neurons} neurons (q = {run.config.q}, {run.config.fdr_method}), so there "
            "is nothing to export. Export its skill set instead (--neurons skill)."
        )
    return chosen


def _write_jsonl(path: Path, rows: Sequence[Row], *, compressed: bool = False) -> None:
    """One JSON object per line (strict JSON), gzip-compressed for the per-batch files."""
    text = "".join(dumps_strict(row, indent=None) + "\n" for row in rows).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text, compresslevel=5) if compressed else text)


def _activation_rows(found: NeuronExamples, common: Row, decode: Callable[[int], str]) -> list[Row]:
    """SAEDashboard's activation rows for one neuron's top texts, best first."""
    rows = []
    for example in found.examples:
        values = [float(value) for value in example.values]
        rows.append(
            {
                "id": "c" + uuid.uuid4().hex[:24],
                "tokens": [decode(token) for token in example.token_ids],
                "index": common["index"],
                "layer": common["layer"],
                "modelId": common["modelId"],
                "maxValue": example.max_value,
                "maxValueTokenIndex": example.max_token_index,
                "minValue": min(values),
                "values": values,
                "creatorId": common["creatorId"],
                "dataSource": None,
                "dataIndex": str(example.example),
                "dfaValues": [],
                "dfaTargetIndex": None,
                "dfaMaxValue": None,
                "createdAt": common["createdAt"],
                "lossValues": [],
                "logitContributions": None,
                "binMin": None,
                "binMax": None,
                "binContains": None,
                "qualifyingTokenIndex": example.max_token_index,
                "zIndices": None,
                "zValues": None,
            }
        )
    return rows


def _feature_row(found: NeuronExamples, common: Row, hook_name: str) -> Row:
    """SAEDashboard's feature row for one neuron (no vector, no logit or correlation data)."""
    return {
        **common,
        "maxActApprox": max((example.max_value for example in found.examples), default=0.0),
        "hasVector": False,
        "vector": [],
        "vectorLabel": None,
        "vectorDefaultSteerStrength": 10,
        "hookName": hook_name,
        **{name: [] for name in ("topkCosSimIndices", "topkCosSimValues")},
        **{f"neuron_alignment_{part}": [] for part in ("indices", "values", "l1")},
        **{f"correlated_neurons_{part}": [] for part in ("indices", "pearson", "l1")},
        **{f"correlated_features_{part}": [] for part in ("indices", "pearson", "l1")},
        **{name: [] for name in ("neg_str", "neg_values", "pos_str", "pos_values")},
        "frac_nonzero": found.positive_share,
        **{
            f"{kind}_hist_data_bar_{part}": []
            for kind in ("freq", "logits")
            for part in ("heights", "values")
        },
        "decoder_weights_dist": [],
        "sourceSetName": None,
    }


class _Names:
    """The ids, names and dates every row of one export shares."""

    def __init__(
        self,
        run: Run,
        *,
        model_id: str | None,
        source_set: str | None,
        neurons: str,
        creator_id: str,
        creator_name: str,
    ) -> None:
        task = str(run.summary.get("task", run.config.task))
        self.task = task
        self.model_id = _checked_id(model_id or _slug(Path(run.config.model).name), "--model-id")
        default_set = f"snl-{_slug(task)}" + ("-significant" if neurons == "significant" else "")
        self.source_set = _checked_id(source_set or default_set, "--source-set")
        self.creator_id = creator_id
        self.creator_name = creator_name
        self.created_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        self.title = f"{neurons.capitalize()} neurons of {run.config.model} on {task} (skillneuron-lens)"

    def source_id(self, layer: int) -> str:
        """SAEDashboard's source id ``{layer}-{source set}``."""
        return f"{layer}-{self.source_set}"


def _source_files(
    names: _Names,
    directory: Path,
    layer: int,
    *,
    n_layers: int,
    n_neurons: int,
    n_texts: int,
    max_length: int,
    dataset: str,
) -> None:
    """``release.jsonl``, ``model.jsonl``, ``sourceset.jsonl`` and ``source.jsonl`` of one source."""
    made = {"creatorId": names.creator_id, "createdAt": names.created_at}
    release: Row = {
        "name": names.source_set,
        "description": names.title,
        "creatorName": names.creator_name,
        "creatorId": names.creator_id,
        "visibility": "PUBLIC",
        "isNewUi": False,
        "featured": False,
        "descriptionShort": names.title,
        "urls": [],
        "creatorEmail": None,
        "creatorNameShort": names.creator_name,
        "defaultSourceSetName": None,
        "defaultSourceId": None,
        "defaultUmapSourceIds": [],
        "createdAt": names.created_at,
    }
    model: Row = {
        "id": names.model_id,
        "instruct": names.model_id.endswith("-it"),
        **made,
        "displayNameShort": names.model_id,
        "displayName": names.model_id,
        "tlensId": None,
        "dimension": None,
        "visibility": "PUBLIC",
        "defaultSourceSetName": None,
        "defaultSourceId": None,
        "inferenceEnabled": False,
        "layers": n_layers,
        "neuronsPerLayer": n_neurons,
        "owner": "",
        "updatedAt": names.created_at,
        "website": None,
    }
    source_set: Row = {
        "modelId": names.model_id,
        "name": names.source_set,
        **made,
        "hasDashboards": True,
        "visibility": "PUBLIC",
        "description": names.title,
        "type": "",
        "creatorName": names.creator_name,
        "urls": [],
        "creatorEmail": None,
        "releaseName": names.source_set,
        "defaultOfModelId": None,
        "defaultRange": 1,
        "defaultShowBreaks": True,
        "showDfa": False,
        "showCorrelated": False,
        "showHeadAttribution": False,
        "showUmap": False,
    }
    source: Row = {
        "id": names.source_id(layer),
        "modelId": names.model_id,
        "setName": names.source_set,
        **made,
        "hasDashboards": True,
        "inferenceEnabled": False,
        "inferenceHosts": [],
        "saelensConfig": None,
        "saelensRelease": None,
        "saelensSaeId": None,
        "hfRepoId": None,
        "hfFolderId": None,
        "visibility": "PUBLIC",
        "defaultOfModelId": None,
        "hasUmap": False,
        "hasUmapLogSparsity": False,
        "hasUmapClusters": False,
        "num_prompts": n_texts,
        "num_tokens_in_prompt": max_length,
        "dataset": dataset,
        "notes": names.title,
    }
    for name, row in (("release", release), ("model", model), ("sourceset", source_set), ("source", source)):
        _write_jsonl(directory / f"{name}.jsonl", [row])


def export_neuronpedia(
    run: Run | str | Path,
    out: str | Path,
    *,
    neurons: str = "skill",
    split: str = "train",
    examples: int = 20,
    model_id: str | None = None,
    source_set: str | None = None,
    creator_id: str = "skillneuron-lens",
    creator_name: str = "skillneuron-lens",
    overwrite: bool = False,
    model: Any = None,
    device: str | None = None,
    allow_changed_data: bool = False,
    progress: bool = False,
) -> Path:
    """Write a run's skill neurons as a Neuronpedia / SAEDashboard bulk-import directory.

    Args:
        run: The run (or its directory).
        out: The export directory to create (see the module docstring for its layout).
        neurons: ``"skill"`` (the run's skill set: its top ``fraction`` per layer) or ``"significant"``
            (its neurons significant at its ``q`` and FDR method).
        split: The task split whose texts are searched for top-activating examples.
        examples: Top-activating texts per neuron.
        model_id: Neuronpedia model id (default: the run's model name, as an id).
        source_set: Neuronpedia source-set name; each layer's source is ``{layer}-{source_set}``
            (default ``snl-{task}``, with ``-significant`` for significant neurons).
        creator_id: The Neuronpedia user id the rows name as creator.
        creator_name: The creator's display name.
        overwrite: Replace an existing export directory this tool wrote (never anything else).
        model: The run's model, already loaded (checked against the run's fingerprint); default: load it.
        device: Where to load the model (default: the run's device).
        allow_changed_data: Use the run's data files even if they changed since ``find``.
        progress: Show a progress bar while recording.

    Returns:
        The export directory.

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is false.
        SkillNeuronError: For a bad option, a run without such neurons, a missing split, a model that
            is not the run's, or an ``out`` that may not be replaced.
    """
    from skillneuron_lens import __version__  # the package's own version (defined after its subpackages)

    run = run if isinstance(run, Run) else Run(run)
    if neurons not in EXPORT_NEURONS:
        raise SkillNeuronError(f"neurons must be one of {list(EXPORT_NEURONS)}, got {neurons!r}.")
    if isinstance(examples, bool) or int(examples) < 1:
        raise SkillNeuronError(f"examples (texts per neuron) must be at least 1, got {examples!r}.")
    names = _Names(
        run,
        model_id=model_id,
        source_set=source_set,
        neurons=neurons,
        creator_id=creator_id,
        creator_name=creator_name,
    )
    check_destination(out, NEURONPEDIA_KIND, overwrite=overwrite, inputs=[run.path])
    chosen = _chosen(run, neurons)
    texts = run.split(run.task(allow_changed_data), split)
    if model is None:
        model = run.model(device)
    elif not same_model(run.result.fingerprint, model_fingerprint(model)):
        raise SkillNeuronError(
            f"The model given is not the one {run.path} was made with (its weights differ)."
        )
    recording = _recording(run.result, run.config.batch_size, progress)
    found = top_activating_examples(
        model,
        texts.texts,
        chosen.to_list(),
        k=int(examples),
        text_pairs=texts.text_pairs,
        recording=recording,
    )
    adapter = ModelAdapter(model)
    tokenizer = adapter.tokenizer
    decoded: dict[int, str] = {}

    def decode(token: int) -> str:
        if token not in decoded:
            decoded[token] = tokenizer.decode([token])
        return decoded[token]

    result = run.result
    p_values = result.p_value if result.has_significance else None
    labels = list(run.summary.get("label_names") or [])
    per_layer: dict[int, list[NeuronExamples]] = {}
    for neuron in found:
        per_layer.setdefault(neuron.layer, []).append(neuron)
    with staged_directory(out, NEURONPEDIA_KIND, overwrite=overwrite, inputs=[run.path]) as staging:
        for layer, layer_neurons in per_layer.items():
            directory = staging / names.model_id / names.source_id(layer)
            _source_files(
                names,
                directory,
                layer,
                n_layers=adapter.n_layers,
                n_neurons=result.n_neurons,
                n_texts=len(texts.texts),
                max_length=recording.max_length,
                dataset=f"{names.task} ({split})",
            )
            features, activations, explanations = [], [], []
            for neuron in layer_neurons:
                row = result.layers.index(layer), neuron.neuron
                common = {
                    "modelId": names.model_id,
                    "layer": names.source_id(layer),
                    "index": str(neuron.neuron),
                    "creatorId": names.creator_id,
                    "createdAt": names.created_at,
                }
                features.append(_feature_row(neuron, common, result.hook.format(layer=layer)))
                activations += _activation_rows(neuron, common, decode)
                description = neuron_description(
                    names.task,
                    labels,
                    result.subtask_names,
                    polarity=int(result.polarity[row]),
                    predictivity=float(result.predictivity[row]),
                    p_value=None if p_values is None else float(p_values[row]),
                )
                explanations.append(
                    {
                        "id": "c" + uuid.uuid4().hex[:24],
                        "modelId": names.model_id,
                        "layer": common["layer"],
                        "index": common["index"],
                        "description": description,
                        "authorId": names.creator_id,
                        "typeName": "skillneuron-lens",
                        "explanationModelName": f"skillneuron-lens {__version__}",
                        "createdAt": names.created_at,
                    }
                )
            for folder, rows in (
                ("features", features),
                ("activations", activations),
                ("explanations", explanations),
            ):
                _write_jsonl(directory / folder / f"{_BATCH}.jsonl.gz", rows, compressed=True)
    return Path(out)
