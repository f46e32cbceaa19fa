"""The paper's neuron predictivity, computed exactly and in a streaming way.

For neuron ``n`` at probed slot ``i`` and binary labels ``y``:

* baseline ``a_bsl(n, i)`` = mean activation over the TRAIN split;
* ``Acc(n, i)`` = mean over the DEV split of ``1[ 1[a(n, i, x) > a_bsl(n, i)] == y ]`` (strict ``>``);
* predictivity = ``max(Acc, 1 - Acc)``, with the polarity kept (``+1`` when high activation means
  the positive class); aggregated by the max over slots, then the mean (or min) over repeated runs.

Multi-class tasks are split into binary subtasks (:mod:`skillneuron_lens.tasks.subtasks`); the overall
predictivity of a neuron is the mean over subtasks (macro), and skill-neuron selection can use the
paper's per-subtask merge (:mod:`skillneuron_lens.neurons.sets`).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from jaxtyping import Bool, Float, Int

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.files import PREDICTIVITY_TENSORS
from skillneuron_lens.io import load_result_dir, save_result_dir, write_result_files
from skillneuron_lens.models.adapter import DEFAULT_HOOK, ModelAdapter, StopForward
from skillneuron_lens.models.fingerprint import model_fingerprint, same_model
from skillneuron_lens.record.accumulators import ColumnFanOut, MeanAccumulator, ThresholdAccuracyAccumulator
from skillneuron_lens.record.histograms import DEFAULT_BINS, ClassHistogramAccumulator, NeuronHistograms
from skillneuron_lens.record.permutation_null import (
    PermutationNullAccumulator,
    null_layer_maxima,
    permuted_targets,
)
from skillneuron_lens.record.recorder import InputBuilder, Recorder, RecordingConfig
from skillneuron_lens.stats.significance import (
    FdrMethod,
    RunAggregation,
    adjust_p_values,
    aggregate_scores,
    aggregated_p_values,
    wilson_interval,
)
from skillneuron_lens.tasks.subtasks import Subtask, subtask_targets, subtasks_for

__all__ = [
    "TENSOR_FILE",
    "FRAGILE_SHARE",
    "FRAGILE_TOLERANCE",
    "DEFAULT_PERMUTATIONS",
    "LabelledTexts",
    "PredictivityResult",
    "combine_runs",
    "compute_predictivity",
    "hook_width",
    "predictivity_from_activations",
]

TENSOR_FILE = PREDICTIVITY_TENSORS
FRAGILE_SHARE = 0.1
"""A neuron is numerically fragile when more than this share of its dev examples sit at its baseline."""
FRAGILE_TOLERANCE = 1e-4
"""Default distance from the baseline, relative to the layer's activation scale (RMS), counted as "at" it."""
DEFAULT_PERMUTATIONS = 100
"""Label permutations recorded in the dev pass for the per-layer chance band."""
_OPTIONAL_TENSORS = (
    "firing", "n_dev_positive", "near_baseline", "held_out_accuracy", "n_held_out", "null_run_predictivity",
    "auroc_per_position",
)
_HISTOGRAM_PREFIX = "histograms."



class LabelledTexts(Protocol):
    """Anything with ``texts``, ``labels`` and optional ``text_pairs`` (e.g. a task's split)."""

    @property
    def texts(self) -> Sequence[str]:
        """The texts."""

    @property
    def labels(self) -> Sequence[int]:
        """Integer labels, one per text."""


@dataclass(frozen=True)
class PredictivityResult:
    """Predictivity of every recorded neuron, with everything needed to trust and reuse it.

    Shapes use ``run`` (repeated tuning runs), ``subtask`` (binary subtasks), ``slot`` (probed
    positions), ``layer`` (recorded layers, see ``layers``) and ``neuron``.

    Attributes:
        accuracy: ``Acc`` per run, subtask, slot, layer and neuron (float64).
        baseline: Train-split mean activation, same shape (float64).
        n_train: Train examples per run and subtask.
        n_dev: Dev examples per run and subtask.
        layers: The model layer each ``layer`` index refers to.
        hook: Hook-name template the neurons were read at.
        slot_names: Name of each slot (e.g. ``"pos 0"``, ``"mean"``).
        subtask_names: Name of each binary subtask.
        run_aggregation: How runs combine: ``"mean"`` or ``"min"`` (the paper offers both).
        config: Settings that produced the result.
        fingerprint: Identity of the model (:func:`skillneuron_lens.models.fingerprint.model_fingerprint`).
    """

    accuracy: Float[torch.Tensor, "run subtask slot layer neuron"]
    baseline: Float[torch.Tensor, "run subtask slot layer neuron"]
    n_train: Int[torch.Tensor, "run subtask"]
    n_dev: Int[torch.Tensor, "run subtask"]
    layers: tuple[int, ...]
    hook: str
    slot_names: tuple[str, ...]
    subtask_names: tuple[str, ...]
    run_aggregation: RunAggregation = "mean"
    config: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    firing: Int[torch.Tensor, "run subtask slot layer neuron"] | None = None
    n_dev_positive: Int[torch.Tensor, "run subtask"] | None = None
    near_baseline: Int[torch.Tensor, "run subtask slot layer neuron"] | None = None
    held_out_accuracy: Float[torch.Tensor, "run subtask slot layer neuron"] | None = None
    n_held_out: Int[torch.Tensor, "run subtask"] | None = None
    null_run_predictivity: Float[torch.Tensor, "perm run subtask layer neuron"] | None = None
    auroc_per_position: Float[torch.Tensor, "run subtask slot layer neuron"] | None = None
    histograms: NeuronHistograms | None = None

    def __post_init__(self) -> None:
        """Check that the shapes agree with each other and with the names."""
        if self.accuracy.ndim != 5 or self.accuracy.shape != self.baseline.shape:
            raise SkillNeuronError(
                "accuracy and baseline must both be [run, subtask, slot, layer, neuron]; got "
                f"{tuple(self.accuracy.shape)} and {tuple(self.baseline.shape)}."
            )
        n_run, n_subtask, n_slot, n_layer, _ = self.accuracy.shape
        expected = {
            "layers": (len(self.layers), n_layer),
            "slot_names": (len(self.slot_names), n_slot),
            "subtask_names": (len(self.subtask_names), n_subtask),
        }
        for name, (got, want) in expected.items():
            if got != want:
                raise SkillNeuronError(f"{name} has {got} entries but the tensors have {want}.")
        if tuple(self.n_train.shape) != (n_run, n_subtask) or self.n_dev.shape != self.n_train.shape:
            raise SkillNeuronError("n_train and n_dev must be [run, subtask].")
        if self.run_aggregation not in ("mean", "min"):
            raise SkillNeuronError(
                f"run_aggregation must be 'mean' or 'min', got {self.run_aggregation!r}."
            )
        per_position_shape = tuple(self.accuracy.shape)
        optional = {
            "firing": (self.firing, per_position_shape),
            "near_baseline": (self.near_baseline, per_position_shape),
            "held_out_accuracy": (self.held_out_accuracy, per_position_shape),
            "auroc_per_position": (self.auroc_per_position, per_position_shape),
            "n_dev_positive": (self.n_dev_positive, (n_run, n_subtask)),
            "n_held_out": (self.n_held_out, (n_run, n_subtask)),
        }
        for name, (tensor, shape) in optional.items():
            if tensor is not None and tuple(tensor.shape) != shape:
                raise SkillNeuronError(f"{name} has shape {tuple(tensor.shape)}, expected {shape}.")
        if (self.firing is None) != (self.n_dev_positive is None):
            raise SkillNeuronError("firing and n_dev_positive come together (both or neither).")
        if (self.held_out_accuracy is None) != (self.n_held_out is None):
            raise SkillNeuronError("held_out_accuracy and n_held_out come together (both or neither).")
        null = self.null_run_predictivity
        if null is not None and tuple(null.shape[1:]) != (n_run, n_subtask, n_layer, self.accuracy.shape[4]):
            raise SkillNeuronError(
                f"null_run_predictivity has shape {tuple(null.shape)}, expected "
                f"[perm, {n_run}, {n_subtask}, {n_layer}, {self.accuracy.shape[4]}]."
            )

    # ---- shape ----------------------------------------------------------------------------
    @property
    def n_runs(self) -> int:
        """Number of repeated runs combined."""
        return int(self.accuracy.shape[0])

    @property
    def n_layers(self) -> int:
        """Number of recorded layers."""
        return int(self.accuracy.shape[3])

    @property
    def n_neurons(self) -> int:
        """Neurons per layer."""
        return int(self.accuracy.shape[4])

    # ---- scores ---------------------------------------------------------------------------
    @property
    def per_position(self) -> Float[torch.Tensor, "run subtask slot layer neuron"]:
        """``max(Acc, 1 - Acc)`` at every slot."""
        return torch.maximum(self.accuracy, 1.0 - self.accuracy)

    @property
    def run_predictivity(self) -> Float[torch.Tensor, "run subtask layer neuron"]:
        """Max over slots, for each run."""
        return self.per_position.amax(dim=2)

    @property
    def subtask_predictivity(self) -> Float[torch.Tensor, "subtask layer neuron"]:
        """Max over slots, then mean (or min) over runs."""
        return aggregate_scores(self.per_position, self.run_aggregation)[0]

    @property
    def predictivity(self) -> Float[torch.Tensor, "layer neuron"]:
        """The neuron's predictivity: :attr:`subtask_predictivity` averaged over subtasks."""
        return self.subtask_predictivity.mean(dim=0)

    @property
    def best_slot(self) -> Int[torch.Tensor, "subtask layer neuron"]:
        """The slot with the highest run-averaged score (the first one on ties)."""
        return self.per_position.mean(dim=0).argmax(dim=1)

    @property
    def subtask_polarity(self) -> Int[torch.Tensor, "subtask layer neuron"]:
        """``+1`` if activation above baseline predicts the positive class at the best slot, else ``-1``.

        Runs vote through their mean accuracy; exactly 0.5 counts as ``+1``.
        """
        mean_accuracy = self.accuracy.mean(dim=0)
        at_best = mean_accuracy.gather(1, self.best_slot[:, None]).squeeze(1)
        return torch.where(at_best >= 0.5, 1, -1).to(torch.int8)

    @property
    def polarity(self) -> Int[torch.Tensor, "layer neuron"]:
        """:attr:`subtask_polarity` of the first subtask (the only one for binary tasks)."""
        return self.subtask_polarity[0]

    # ---- evidence: significance, held-out scores, numerical fragility ---------------------------
    @property
    def has_significance(self) -> bool:
        """Whether the firing counts behind the exact p-values were recorded (not in older runs)."""
        return self.firing is not None

    def _require_significance(self) -> None:
        if self.firing is None:
            raise SkillNeuronError(
                "This result has no significance recorded (it was saved before skillneuron-lens "
                "recorded firing counts). Recompute it with compute_predictivity (or re-run find)."
            )

    @property
    def correct(self) -> Int[torch.Tensor, "run subtask slot layer neuron"]:
        """Dev examples classified correctly by thresholding at the baseline (``Acc * n_dev``)."""
        return torch.round(self.accuracy * self.n_dev[:, :, None, None, None].double()).long()

    @cached_property
    def _p_values(self) -> tuple[torch.Tensor, torch.Tensor]:
        self._require_significance()
        assert self.firing is not None and self.n_dev_positive is not None
        return aggregated_p_values(
            self.correct, self.firing, self.n_dev, self.n_dev_positive,
            run_aggregation=self.run_aggregation,
        )

    @property
    def subtask_p_value(self) -> Float[torch.Tensor, "subtask layer neuron"]:
        """Exact (conservatively combined) p-value of each subtask's score under the permutation null.

        See :func:`skillneuron_lens.stats.significance.aggregated_p_values`.
        """
        return self._p_values[0]

    @property
    def p_value(self) -> Float[torch.Tensor, "layer neuron"]:
        """Exact (conservatively combined) p-value of :attr:`predictivity` under the permutation null."""
        return self._p_values[1]

    def q_value(self, method: FdrMethod = "bh") -> Float[torch.Tensor, "layer neuron"]:
        """:attr:`p_value` adjusted over all recorded neurons (method ``bh``, ``by`` or ``holm``)."""
        return adjust_p_values(self.p_value, method=method)

    @property
    def fragile(self) -> Bool[torch.Tensor, "layer neuron"] | None:
        """Numerically fragile neurons, whose comparisons with the baseline float rounding decides.

        At the best slot, more than :data:`FRAGILE_SHARE` of the dev examples lie within the recorded
        tolerance of the baseline (e.g. near-dead GELU units). ``None`` when not recorded.
        """
        if self.near_baseline is None:
            return None
        share = self.near_baseline.double() / self.n_dev[:, :, None, None, None].clamp_min(1).double()
        at_best = share.mean(dim=0).gather(1, self.best_slot[:, None]).squeeze(1)
        return (at_best > FRAGILE_SHARE).any(dim=0)

    @property
    def held_out_predictivity(self) -> Float[torch.Tensor, "layer neuron"] | None:
        """Each neuron's score on the held-out (test) split with everything fixed on train and dev.

        The train-mean baselines, the dev polarity and the dev's best slot are kept; the accuracy of
        that fixed rule on the test split is averaged over runs, then over subtasks. Unlike the dev
        score it is not biased upward by selecting on it. ``None`` when no test split was scored.
        """
        if self.held_out_accuracy is None:
            return None
        at_best = self.at_best_slot(self.held_out_accuracy)
        positive = (self.subtask_polarity > 0)[None]
        oriented = torch.where(positive, at_best, 1.0 - at_best)
        return oriented.mean(dim=0).mean(dim=0)

    @property
    def auroc(self) -> Float[torch.Tensor, "layer neuron"] | None:
        """Threshold-free view: the AUROC of each neuron's activation for the positive class.

        Estimated from per-class dev histograms (:mod:`skillneuron_lens.record.histograms`) at the dev's best
        slot, averaged over runs and subtasks; ``1.0`` ranks every positive above every negative,
        ``0.0`` the reverse. Reported next to :attr:`predictivity`, never instead of it. ``None``
        unless histograms were recorded (``compute_predictivity(..., histograms=True)``).
        """
        if self.auroc_per_position is None:
            return None
        return self.at_best_slot(self.auroc_per_position.double()).mean(dim=0).mean(dim=0)

    def at_best_slot(
        self, values: Float[torch.Tensor, "run subtask slot layer neuron"]
    ) -> Float[torch.Tensor, "run subtask layer neuron"]:
        """Per-run values at each subtask's dev-chosen best slot (:attr:`best_slot`)."""
        index = self.best_slot[None, :, None].expand(self.n_runs, -1, 1, -1, -1)
        return values.gather(2, index).squeeze(2)

    @property
    def null_predictivity(self) -> Float[torch.Tensor, "perm layer neuron"] | None:
        """Predictivity under each recorded label permutation, aggregated like :attr:`predictivity`."""
        if self.null_run_predictivity is None:
            return None
        per_run = self.null_run_predictivity.double().permute(1, 2, 0, 3, 4)[:, :, None]
        return aggregate_scores(per_run, self.run_aggregation)[1]

    def null_layer_maxima(self, level: float = 0.95) -> Float[torch.Tensor, " layer"] | None:
        """The ``level`` quantile of each layer's best predictivity under shuffled dev labels.

        The chance band of per-layer figures: a layer's best neuron reaches it by chance in
        ``1 - level`` of label permutations. ``None`` when no permutations were recorded.
        """
        null = self.null_predictivity
        return None if null is None else null_layer_maxima(null, level)

    def top_neurons(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` most predictive neurons overall, best first, as dicts."""
        flat = self.predictivity.flatten()
        if not 1 <= k <= flat.numel():
            raise SkillNeuronError(f"k must be in 1..{flat.numel()}, got {k}.")
        order = torch.sort(flat, descending=True, stable=True).indices[:k]
        polarity = self.polarity.flatten()
        evidence: dict[str, torch.Tensor] = {}
        if self.has_significance:
            evidence["p_value"] = self.p_value.flatten()
            evidence["q_value"] = self.q_value().flatten()
        if self.held_out_predictivity is not None:
            evidence["held_out"] = self.held_out_predictivity.flatten()
        if self.auroc is not None:
            evidence["auroc"] = self.auroc.flatten()
        fragile = self.fragile
        rows = []
        for index in order:
            row: dict[str, Any] = {
                "layer": self.layers[int(index) // self.n_neurons],
                "neuron": int(index) % self.n_neurons,
                "predictivity": float(flat[index]),
                "polarity": int(polarity[index]),
            }
            row.update({name: float(values[index]) for name, values in evidence.items()})
            if "held_out" in row and self.n_held_out is not None and self.n_held_out.numel() == 1:
                # one run and one subtask: the held-out score is a plain proportion of test examples
                trials = int(self.n_held_out.flatten()[0])
                low, high = wilson_interval(round(row["held_out"] * trials), trials)
                row["held_out_ci95"] = [float(low), float(high)]
            if fragile is not None:
                row["fragile"] = bool(fragile.flatten()[index])
            rows.append(row)
        return rows

    # ---- combining and saving -------------------------------------------------------------
    def with_run_aggregation(self, how: RunAggregation) -> PredictivityResult:
        """The same result aggregated over runs by ``how``."""
        return _replace(self, run_aggregation=how)

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        extra_files: dict[str, str] | None = None,
    ) -> None:
        """Save to a directory: ``predictivity.safetensors`` + ``cfg.json`` (atomic).

        Args:
            path: The directory to create.
            overwrite: Replace an existing directory.
            extra_files: More text files written into the same directory in the same atomic step
                (e.g. ``summary.json``).

        Raises:
            FileExistsError: If the directory exists and ``overwrite`` is false.
            SkillNeuronError: If the directory exists but is not a predictivity result this tool
                wrote (``overwrite`` never replaces other folders).
        """
        save_result_dir(path, TENSOR_FILE, *self._payload(), overwrite=overwrite, extra_files=extra_files)

    def write_into(
        self, directory: str | os.PathLike[str], extra_files: dict[str, str] | None = None
    ) -> None:
        """Write the result's files into an existing (staging) directory, not atomically.

        :meth:`save` is the safe way to save; this serves callers that build a larger directory in a
        :func:`skillneuron_lens.io.staged_directory` (the ``find`` command).
        """
        write_result_files(Path(directory), TENSOR_FILE, *self._payload(), extra_files)

    def _payload(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The tensors and the ``cfg.json`` metadata that :meth:`save` writes."""
        tensors = {
            "predictivity": self.predictivity.float(),
            "polarity": self.polarity,
            "accuracy": self.accuracy,
            "baseline": self.baseline,
            "n_train": self.n_train,
            "n_dev": self.n_dev,
        }
        for name in _OPTIONAL_TENSORS:
            value = getattr(self, name)
            if value is not None:
                tensors[name] = value
        if self.has_significance:
            tensors["p_value"] = self.p_value
        if self.histograms is not None:
            for name, tensor in self.histograms.to_tensors().items():
                stored = tensor.to(torch.int32) if name == "counts" else tensor
                tensors[_HISTOGRAM_PREFIX + name] = stored
        cfg = {
            "kind": "predictivity",
            "layers": list(self.layers),
            "hook": self.hook,
            "slot_names": list(self.slot_names),
            "subtask_names": list(self.subtask_names),
            "run_aggregation": self.run_aggregation,
            "config": self.config,
            "fingerprint": self.fingerprint,
        }
        if self.histograms is not None:
            cfg["histograms"] = self.histograms.metadata()
        return tensors, cfg

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, model: Any = None) -> PredictivityResult:
        """Load a saved result; with ``model``, check that it was computed on that model.

        Raises:
            ResultFileError: If the directory is damaged, incomplete, or from another model.
        """
        tensors, cfg = load_result_dir(path, TENSOR_FILE, ("accuracy", "baseline", "n_train", "n_dev"))
        if cfg.get("kind") != "predictivity":
            raise ResultFileError(f"{path} holds a {cfg.get('kind')!r} result, not predictivity.")
        try:
            result = cls(
                accuracy=tensors["accuracy"],
                baseline=tensors["baseline"],
                n_train=tensors["n_train"],
                n_dev=tensors["n_dev"],
                layers=tuple(cfg["layers"]),
                hook=cfg["hook"],
                slot_names=tuple(cfg["slot_names"]),
                subtask_names=tuple(cfg["subtask_names"]),
                run_aggregation=cfg["run_aggregation"],
                config=cfg.get("config", {}),
                fingerprint=cfg.get("fingerprint", {}),
                **{name: tensors.get(name) for name in _OPTIONAL_TENSORS},
                histograms=_stored_histograms(tensors, cfg),
            )
        except (KeyError, SkillNeuronError) as error:
            raise ResultFileError(f"{path}/cfg.json does not match its tensors: {error}") from error
        if model is not None:
            current = model_fingerprint(model)
            if not same_model(result.fingerprint, current):
                raise ResultFileError(
                    f"{path} was computed on another model ({result.fingerprint.get('class')} "
                    f"{result.fingerprint.get('model_name')!r}, weights "
                    f"{str(result.fingerprint.get('weights_sha256'))[:12]}…) than the one given "
                    f"({current['class']} {current['model_name']!r}, weights "
                    f"{current['weights_sha256'][:12]}…). Load it with the model it came from."
                )
        return result


def _stored_histograms(tensors: dict[str, torch.Tensor], cfg: dict[str, Any]) -> NeuronHistograms | None:
    stored = {
        name[len(_HISTOGRAM_PREFIX):]: tensor
        for name, tensor in tensors.items()
        if name.startswith(_HISTOGRAM_PREFIX)
    }
    return NeuronHistograms.from_tensors(stored, cfg.get("histograms")) if stored else None


def _replace(result: PredictivityResult, **changes: Any) -> PredictivityResult:
    fields = {name: getattr(result, name) for name in result.__dataclass_fields__}
    fields.update(changes)
    return PredictivityResult(**fields)


def combine_runs(
    results: Sequence[PredictivityResult], how: RunAggregation = "mean"
) -> PredictivityResult:
    """Stack results of repeated runs (e.g. prompt-tuning seeds) into one.

    Args:
        results: Results over the same neurons, slots and subtasks.
        how: ``"mean"`` or ``"min"`` over runs (after the max over slots), as the paper.

    Returns:
        One result whose ``run`` axis holds every input's runs.

    Raises:
        SkillNeuronError: If the results do not describe the same neurons.
    """
    if not results:
        raise SkillNeuronError("combine_runs needs at least one result.")
    first = results[0]
    for other in results[1:]:
        for name in ("layers", "hook", "slot_names", "subtask_names"):
            if getattr(other, name) != getattr(first, name):
                raise SkillNeuronError(
                    f"Cannot combine runs with different {name}: {getattr(first, name)!r} vs "
                    f"{getattr(other, name)!r}."
                )
        if other.n_neurons != first.n_neurons:
            raise SkillNeuronError("Cannot combine runs with different neuron counts.")
    optional: dict[str, torch.Tensor | None] = {}
    for name in _OPTIONAL_TENSORS:
        parts = [getattr(r, name) for r in results]
        if any(part is None for part in parts):
            optional[name] = None
        elif name == "null_run_predictivity":
            if len({part.shape[0] for part in parts}) != 1:
                raise SkillNeuronError("Cannot combine runs recorded with different numbers of permutations.")
            optional[name] = torch.cat(parts, dim=1)
        else:
            optional[name] = torch.cat(parts)
    return _replace(
        first,
        accuracy=torch.cat([r.accuracy for r in results]),
        baseline=torch.cat([r.baseline for r in results]),
        n_train=torch.cat([r.n_train for r in results]),
        n_dev=torch.cat([r.n_dev for r in results]),
        run_aggregation=how,
        histograms=first.histograms if len(results) == 1 else None,
        **optional,
    )


# ---- inputs -----------------------------------------------------------------------------------
def _as_split(split: Any, name: str) -> tuple[list[str], list[int], list[str] | None]:
    if isinstance(split, tuple) and len(split) == 2:
        texts, labels, pairs = split[0], split[1], None
    elif hasattr(split, "texts") and hasattr(split, "labels"):
        texts, labels, pairs = split.texts, split.labels, getattr(split, "text_pairs", None)
    else:
        raise SkillNeuronError(
            f"The {name} split must be a (texts, labels) tuple or have .texts and .labels, got "
            f"{type(split).__name__}."
        )
    texts, labels = list(texts), [_as_label(label, name) for label in labels]
    if len(texts) == 0:
        raise SkillNeuronError(f"The {name} split is empty: it needs labelled examples.")
    if len(texts) != len(labels):
        raise SkillNeuronError(
            f"The {name} split has {len(texts)} texts but {len(labels)} labels; they must match."
        )
    if pairs is not None and len(pairs) != len(texts):
        raise SkillNeuronError(f"The {name} split has {len(pairs)} text pairs for {len(texts)} texts.")
    return texts, labels, None if pairs is None else list(pairs)


def _as_label(label: Any, split_name: str) -> int:
    """One label of a ``(texts, labels)`` split as an int id, with a clear error for anything else."""
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    if isinstance(label, str):
        raise SkillNeuronError(
            f"The {split_name} split has the string label {label!r}; a (texts, labels) split needs "
            "integer class ids, and guessing an order for strings would silently decide which class "
            "is which. Build a task that states the order, e.g. task_from_lists(texts, labels, "
            "label_names=['negative', 'positive']), and pass its splits (task.train, task.dev)."
        )
    if isinstance(label, numbers.Real) and not isinstance(label, bool) and float(label).is_integer():
        return int(float(label))
    raise SkillNeuronError(
        f"Labels must be integer class ids; the {split_name} split has {label!r} "
        f"({type(label).__name__}). Drop or fix unlabelled rows (NaN, None) first."
    )


def _check_label_range(labels: Sequence[int], n_classes: int, split_name: str) -> None:
    bad = sorted({label for label in labels if not 0 <= label < n_classes})
    if bad:
        raise SkillNeuronError(
            f"The {split_name} split has label(s) {bad[:5]} outside the label set "
            f"0..{n_classes - 1}. Map labels to 0..n_classes-1 (or pass the right n_classes)."
        )


@dataclass(frozen=True)
class _Targets:
    subtasks: list[Subtask]
    train: torch.Tensor
    dev: torch.Tensor
    test: torch.Tensor | None = None


def _targets(
    train_labels: Sequence[int],
    dev_labels: Sequence[int],
    *,
    n_classes: int | None,
    scheme: str | None,
    balance: bool | None,
    seed: int,
    allow_single_class_dev: bool = False,
    test_labels: Sequence[int] | None = None,
) -> _Targets:
    if n_classes is None:
        n_classes = max(max(train_labels), max(dev_labels)) + 1
    named = [(train_labels, "train"), (dev_labels, "dev")]
    for labels, name in named + ([] if test_labels is None else [(test_labels, "test")]):
        _check_label_range(labels, n_classes, name)
    subtasks = subtasks_for(n_classes, scheme)
    do_balance = (subtasks[0].name != "binary") if balance is None else balance
    return _Targets(
        subtasks,
        subtask_targets(train_labels, subtasks, balance=do_balance, seed=seed, split_name="train"),
        subtask_targets(
            dev_labels,
            subtasks,
            balance=do_balance,
            seed=seed + 1,
            split_name="dev",
            require_both_classes=not allow_single_class_dev,
        ),
        None
        if test_labels is None
        else subtask_targets(test_labels, subtasks, balance=do_balance, seed=seed + 2, split_name="test"),
    )


def _dev_accumulator(
    means: MeanAccumulator, shape: dict[str, Any], fragile_tolerance: float
) -> ThresholdAccuracyAccumulator:
    """The dev (or held-out) counts at the train baselines, with the fragility tolerance."""
    if fragile_tolerance < 0:
        raise SkillNeuronError(f"fragile_tolerance must be at least 0, got {fragile_tolerance}.")
    tolerance = fragile_tolerance * means.layer_scales()[..., None]
    return ThresholdAccuracyAccumulator(**shape, baselines=means.means(), tolerance=tolerance)


def _result(
    mean: MeanAccumulator,
    dev: ThresholdAccuracyAccumulator,
    *,
    layers: Sequence[int],
    hook: str,
    slot_names: Sequence[str],
    subtasks: Sequence[Subtask],
    config: dict[str, Any],
    fingerprint: dict[str, Any],
    held_out: ThresholdAccuracyAccumulator | None = None,
    null: PermutationNullAccumulator | None = None,
    counted: ClassHistogramAccumulator | None = None,
) -> PredictivityResult:
    histograms = None
    if counted is not None:
        histograms = counted.histograms(
            tuple(int(layer) for layer in layers), tuple(s.name for s in subtasks), tuple(slot_names)
        )
    return PredictivityResult(
        accuracy=dev.accuracy().cpu()[None],
        baseline=dev.baselines.cpu()[None],
        n_train=mean.counts.cpu()[None],
        n_dev=dev.counts.cpu()[None],
        layers=tuple(int(layer) for layer in layers),
        hook=hook,
        slot_names=tuple(slot_names),
        subtask_names=tuple(s.name for s in subtasks),
        config=config,
        fingerprint=fingerprint,
        firing=dev.firing.cpu()[None],
        n_dev_positive=dev.positives.cpu()[None],
        near_baseline=dev.near_baseline.cpu()[None],
        held_out_accuracy=None if held_out is None else held_out.accuracy().cpu()[None],
        n_held_out=None if held_out is None else held_out.counts.cpu()[None],
        null_run_predictivity=None
        if null is None
        else null.scores().amax(dim=2).float().cpu()[:, None],
        auroc_per_position=None if histograms is None else histograms.auroc().float()[None],
        histograms=histograms,
    )


# ---- the two entry points ---------------------------------------------------------------------
def compute_predictivity(
    model: Any,
    train: LabelledTexts | tuple[Sequence[str], Sequence[int]],
    dev: LabelledTexts | tuple[Sequence[str], Sequence[int]],
    *,
    hook: str = RecordingConfig.hook,
    layers: Sequence[int] | None = None,
    positions: Any = 0,
    n_classes: int | None = None,
    scheme: str | None = None,
    balance: bool | None = None,
    batch_size: int = 32,
    max_length: int = 128,
    padding_side: Literal["left", "right"] = "right",
    prepend_bos: bool = False,
    seed: int = 0,
    progress: bool = True,
    distributed: bool = False,
    inputs: InputBuilder | None = None,
    test: LabelledTexts | tuple[Sequence[str], Sequence[int]] | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    permutation_seed: int = 0,
    fragile_tolerance: float = FRAGILE_TOLERANCE,
    histograms: bool = False,
    histogram_bins: int = DEFAULT_BINS,
) -> PredictivityResult:
    """Predictivity of every neuron at a hook, streamed over the train and dev splits.

    Two passes: the train split gives each neuron's baseline (mean activation), the dev split the
    accuracy of thresholding at it. Memory does not grow with the number of examples. The dev pass
    also records what the evidence needs: firing counts (exact p-values, :attr:`PredictivityResult.p_value`),
    examples at the baseline (:attr:`PredictivityResult.fragile`) and ``n_permutations`` shuffled-label
    copies of the dev counts (the per-layer chance band, :meth:`PredictivityResult.null_layer_maxima`).
    With ``test``, a third pass scores every neuron on it with the baselines, polarities and slots fixed
    on train and dev (:attr:`PredictivityResult.held_out_predictivity`).

    Args:
        model: A ``TransformerBridge``, ``HookedTransformer`` or ``HookedEncoder``.
        train: Train split (``(texts, labels)`` or an object with ``.texts``/``.labels``
            and optionally ``.text_pairs``).
        dev: Dev split, same form.
        hook: Hook-name template with ``{layer}``; default ``blocks.{layer}.mlp.hook_post``.
        layers: Layers to record; ``None`` for all.
        positions: Slots to read: an int, a list of ints, ``"last"``, ``"mean"`` or ``"max"``.
        n_classes: Number of classes; default ``max(label) + 1``.
        scheme: Binary subtasks (``"binary"``, ``"paper"``, ``"ovr"``); default by class count.
        balance: Class-balance each subtask; default off for binary tasks, on otherwise.
        batch_size: Examples per forward pass.
        max_length: Truncate encodings to this many tokens.
        padding_side: ``"right"`` or ``"left"``; the result does not depend on it.
        prepend_bos: Prepend BOS when the tokenizer does not.
        seed: Seed for class balancing.
        progress: Show progress bars.
        distributed: Each ``torch.distributed`` process takes every world-size-th example and
            the accumulators are summed across processes (same answer as one process).
        inputs: Optional input builder, e.g. a tuned classifier's soft-prompt inputs
            (:meth:`skillneuron_lens.tuning.classifier.TunedClassifier.inputs`); positions then count inside
            its region (e.g. the prompt slots).
        test: Optional held-out split, same form as ``dev``, scored in a third pass.
        n_permutations: Shuffled copies of the dev labels scored in the dev pass (0 to skip); they give
            the per-layer null maxima, and Monte Carlo p-values whose floor is ``1 / (n_permutations + 1)``.
        permutation_seed: Seed of the label permutations.
        fragile_tolerance: Distance from the baseline, relative to the layer's activation RMS on train,
            within which a dev activation counts as "at the baseline" (see
            :attr:`PredictivityResult.fragile`).
        histograms: Also count per-class dev activation histograms (bins fixed from the train range),
            from which :attr:`PredictivityResult.auroc` and the distribution figures of
            :mod:`skillneuron_lens.plot.distributions` come without another forward pass. Memory and
            file size: about ``8 x subtasks x slots x neurons x (histogram_bins + 2)`` bytes (72 MiB for
            MiniLM at one position), hence off by default.
        histogram_bins: Bins per neuron (fewer when the memory cap of the histograms requires).

    Returns:
        The :class:`PredictivityResult`.
    """
    train_texts, train_labels, train_pairs = _as_split(train, "train")
    dev_texts, dev_labels, dev_pairs = _as_split(dev, "dev")
    test_texts, test_labels, test_pairs = (None, None, None) if test is None else _as_split(test, "test")
    if isinstance(n_permutations, bool) or n_permutations < 0:
        raise SkillNeuronError(f"n_permutations must be 0 or more, got {n_permutations!r}.")
    config = RecordingConfig(
        hook=hook,
        layers=None if layers is None else tuple(layers),
        positions=positions,
        batch_size=batch_size,
        max_length=max_length,
        padding_side=padding_side,
        prepend_bos=prepend_bos,
        progress=progress,
    )
    recorder = Recorder(model, config, inputs)
    targets = _targets(
        train_labels, dev_labels, n_classes=n_classes, scheme=scheme, balance=balance, seed=seed,
        test_labels=test_labels,
    )
    n_subtasks = len(targets.subtasks)
    shape: dict[str, Any] = dict(
        n_subtasks=n_subtasks,
        n_slots=config.position_spec.n_slots,
        n_layers=len(recorder.layers),
        n_neurons=_hook_width(recorder, train_texts, train_pairs),
        device=recorder.adapter.device,
    )
    dev_columns = targets.dev
    if n_permutations:
        permuted = permuted_targets(dev_columns, n_permutations, permutation_seed)
        dev_columns = torch.cat([dev_columns, permuted], dim=1)
    shard = _shard if distributed else (lambda columns: columns)
    means = MeanAccumulator(**shape)
    recorder.accumulate(means, train_texts, train_pairs, shard(targets.train), "baselines (train)")
    means.all_reduce()
    hits = _dev_accumulator(means, shape, fragile_tolerance)
    null = None
    parts: list[tuple[Any, slice]] = [(hits, slice(0, n_subtasks))]
    if n_permutations:
        null = PermutationNullAccumulator(
            **shape, n_permutations=n_permutations, baselines=means.means()
        )
        parts.append((null, slice(n_subtasks, None)))
    counted = None
    if histograms:
        counted = ClassHistogramAccumulator(
            **shape, minimum=means.minimum, maximum=means.maximum, baseline=means.means(),
            n_bins=histogram_bins,
        )
        parts.append((counted, slice(0, n_subtasks)))
    recorder.accumulate(ColumnFanOut(parts), dev_texts, dev_pairs, shard(dev_columns), "accuracy (dev)")
    for accumulator, _ in parts:
        accumulator.all_reduce()
    held_out = None
    if targets.test is not None:
        assert test_texts is not None
        held_out = _dev_accumulator(means, shape, fragile_tolerance)
        recorder.accumulate(held_out, test_texts, test_pairs, shard(targets.test), "held-out (test)")
        held_out.all_reduce()
    run_config = {
        **config.to_dict(),
        "scheme": scheme,
        "balance": balance,
        "seed": seed,
        "n_classes": n_classes,
        "n_permutations": n_permutations,
        "permutation_seed": permutation_seed,
        "fragile_tolerance": fragile_tolerance,
    }
    return _result(
        means,
        hits,
        layers=recorder.layers,
        hook=hook,
        slot_names=config.position_spec.slot_names,
        subtasks=targets.subtasks,
        config=run_config,
        fingerprint=model_fingerprint(model),
        held_out=held_out,
        null=null,
        counted=counted,
    )


def _hook_width(recorder: Recorder, texts: Sequence[str], pairs: Sequence[str] | None) -> int:
    """Neurons per layer at the hook, read from one short forward pass."""
    batch = recorder.encode(texts[:1], None if pairs is None else pairs[:1])
    return _measured_width(lambda hooks: recorder.run(batch, hooks), recorder.hook_names[0])


def hook_width(model: Any, hook: str = DEFAULT_HOOK, layers: Sequence[int] | None = None) -> int:
    """Neurons per layer at a hook, from a one-token forward pass (to check options before work).

    Args:
        model: Any supported TransformerLens model.
        hook: Hook-name template with ``{layer}``.
        layers: Layers the hook is read at (default all); the first one is measured.

    Returns:
        The size of the hook's last dimension.

    Raises:
        HookNotFoundError: If the model has no such hook.
    """
    adapter = ModelAdapter(model)
    name = adapter.resolve_hooks(hook, layers)[0]
    batch = adapter.tokenize(["a"], max_length=8, prepend_bos=not adapter.is_encoder)
    return _measured_width(lambda hooks: adapter.run_until_stopped(batch, hooks), name)


def _measured_width(run: Any, hook_name: str) -> int:
    """The last dimension of ``hook_name``'s activation when ``run(hooks)`` does a forward pass."""
    widths: list[int] = []

    def measure(activations: torch.Tensor, hook: Any) -> None:
        widths.append(int(activations.shape[-1]))
        raise StopForward

    run([(hook_name, measure)])
    if not widths:
        raise SkillNeuronError(f"Hook {hook_name!r} did not fire in a forward pass.")
    return widths[0]


def _shard(targets: torch.Tensor) -> torch.Tensor:
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        raise SkillNeuronError("distributed=True needs torch.distributed to be initialised first.")
    keep = torch.arange(len(targets)) % dist.get_world_size() == dist.get_rank()
    return torch.where(keep[:, None], targets, torch.full_like(targets, -1))


def predictivity_from_activations(
    train_activations: Float[torch.Tensor, "example *slot layer neuron"],
    train_labels: Sequence[int] | torch.Tensor,
    dev_activations: Float[torch.Tensor, "example *slot layer neuron"],
    dev_labels: Sequence[int] | torch.Tensor,
    *,
    n_classes: int | None = None,
    scheme: str | None = None,
    balance: bool | None = None,
    seed: int = 0,
    batch_size: int = 1024,
    allow_single_class_dev: bool = False,
) -> PredictivityResult:
    """Predictivity from activations already in memory (same accumulators as the streaming path).

    Args:
        train_activations: ``[example, layer, neuron]`` or ``[example, slot, layer, neuron]``.
        train_labels: Integer labels of the train examples.
        dev_activations: Same layout as ``train_activations``.
        dev_labels: Integer labels of the dev examples.
        n_classes: Number of classes; default ``max(label) + 1``.
        scheme: Binary subtasks; see :func:`compute_predictivity`.
        balance: Class-balance subtasks; see :func:`compute_predictivity`.
        seed: Seed for class balancing.
        batch_size: Examples added per step.
        allow_single_class_dev: Score a dev split that holds one class only (accuracy is then
            the fraction of examples on that class's side of the baseline) instead of raising.

    Returns:
        The :class:`PredictivityResult` (hook ``"activations"``, layers ``0..L-1``).
    """
    train_acts, dev_acts = _with_slot_axis(train_activations), _with_slot_axis(dev_activations)
    if train_acts.shape[1:] != dev_acts.shape[1:]:
        raise SkillNeuronError(
            f"Train and dev activations differ in shape: {tuple(train_acts.shape[1:])} vs "
            f"{tuple(dev_acts.shape[1:])}."
        )
    train_list = [_as_label(v, "train") for v in torch.as_tensor(train_labels).tolist()]
    dev_list = [_as_label(v, "dev") for v in torch.as_tensor(dev_labels).tolist()]
    for acts, labels, name in ((train_acts, train_list, "train"), (dev_acts, dev_list, "dev")):
        if len(labels) == 0:
            raise SkillNeuronError(f"The {name} split is empty: it needs labelled examples.")
        if len(acts) != len(labels):
            raise SkillNeuronError(
                f"The {name} split has {len(acts)} activation rows but {len(labels)} labels."
            )
    targets = _targets(
        train_list,
        dev_list,
        n_classes=n_classes,
        scheme=scheme,
        balance=balance,
        seed=seed,
        allow_single_class_dev=allow_single_class_dev,
    )
    _, n_slots, n_layers, n_neurons = train_acts.shape
    shape: dict[str, Any] = dict(
        n_subtasks=len(targets.subtasks), n_slots=n_slots, n_layers=n_layers, n_neurons=n_neurons
    )
    means = MeanAccumulator(**shape)
    _feed(means, train_acts, targets.train, batch_size)
    hits = _dev_accumulator(means, shape, FRAGILE_TOLERANCE)
    _feed(hits, dev_acts, targets.dev, batch_size)
    return _result(
        means,
        hits,
        layers=range(n_layers),
        hook="activations",
        slot_names=[f"slot {i}" for i in range(n_slots)],
        subtasks=targets.subtasks,
        config={"scheme": scheme, "balance": balance, "seed": seed, "n_classes": n_classes},
        fingerprint={},
    )


def _with_slot_axis(activations: torch.Tensor) -> torch.Tensor:
    if activations.ndim == 3:
        return activations[:, None]
    if activations.ndim == 4:
        return activations
    raise SkillNeuronError(
        "Activations must be [example, layer, neuron] or [example, slot, layer, neuron], got "
        f"shape {tuple(activations.shape)}."
    )


def _feed(
    accumulator: MeanAccumulator | ThresholdAccuracyAccumulator,
    activations: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
) -> None:
    for start in range(0, len(activations), batch_size):
        chunk = activations[start : start + batch_size].double()
        chunk_targets = targets[start : start + batch_size]
        accumulator.add_examples(chunk_targets)
        for layer in range(chunk.shape[2]):
            accumulator.add_layer(layer, chunk[:, :, layer], chunk_targets, where=f"layer {layer}")
