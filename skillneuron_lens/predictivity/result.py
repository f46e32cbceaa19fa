"""The result of a predictivity computation: scores, evidence, combining runs, saving and loading.

A :class:`PredictivityResult` holds the per-run, per-subtask, per-slot accuracies and train baselines of
every recorded neuron (plus the optional evidence the dev pass recorded); the paper's scores are
properties computed from them. :func:`combine_runs` stacks repeated runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float, Int

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.files import PREDICTIVITY_TENSORS
from skillneuron_lens.io import load_result_dir, save_result_dir, write_result_files
from skillneuron_lens.models.fingerprint import model_fingerprint, same_model
from skillneuron_lens.models.sites import head_coordinates
from skillneuron_lens.notebook import format_number, html_repr, significance_text, text_repr, top_neuron_table
from skillneuron_lens.record.activations import PassFeatures
from skillneuron_lens.record.histograms import NeuronHistograms
from skillneuron_lens.record.permutation_null import null_layer_maxima
from skillneuron_lens.stats.significance import (
    FdrMethod,
    RunAggregation,
    adjust_p_values,
    aggregate_scores,
    aggregated_p_values,
    significant,
    wilson_interval,
)

__all__ = [
    "TENSOR_FILE",
    "FRAGILE_SHARE",
    "PredictivityResult",
    "combine_runs",
]

TENSOR_FILE = PREDICTIVITY_TENSORS
FRAGILE_SHARE = 0.1
"""A neuron is numerically fragile when more than this share of its dev examples sit at its baseline."""
_OPTIONAL_TENSORS = (
    "firing", "n_dev_positive", "near_baseline", "held_out_accuracy", "n_held_out", "null_run_predictivity",
    "auroc_per_position",
)
_HISTOGRAM_PREFIX = "histograms."


@dataclass(frozen=True, repr=False)
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
        features: The activations the pass saw (``compute_predictivity(..., keep_features=True)``), for
            read-outs fitted without another pass; in memory only, never saved.
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
    features: PassFeatures | None = field(default=None, repr=False, compare=False)

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

    def mean_baselines(self, subtask: int | None = None) -> Float[torch.Tensor, "layer neuron"]:
        """One constant per neuron from the train-split baselines: the replacement for mean ablation.

        The paper replaces a removed neuron by its baseline activation. The result stores baselines
        per run, subtask and probed slot; this averages them over runs and slots, and over subtasks
        unless one is chosen. It is also the "mean train activation" whose sign decides which neurons
        a task activates (:func:`skillneuron_lens.analysis.compare.activated_overlap`).

        Note:
            Baselines are means at the PROBED slots (e.g. the soft-prompt or [CLS] position) over a
            (class-balanced) train split, but pruning or perturbing replaces a neuron at EVERY
            position. A mean over all tokens from a separate pass over task text
            (:func:`skillneuron_lens.record.activations.neuron_means`, ``per="token"``) usually fits the
            other positions better.

        Args:
            subtask: Which binary subtask's baselines to use (0: the only one for binary tasks);
                ``None`` (default) averages over subtasks too.

        Returns:
            ``[layer, neuron]`` float64 means over :attr:`layers`.

        Raises:
            SkillNeuronError: If ``subtask`` is out of range.
        """
        if subtask is None:
            return self.baseline.mean(dim=(0, 1, 2)).double()
        n_subtasks = self.baseline.shape[1]
        if isinstance(subtask, bool) or not 0 <= subtask < n_subtasks:
            raise SkillNeuronError(
                f"subtask={subtask} is out of range: the result has subtasks "
                f"{list(self.subtask_names)} (0..{n_subtasks - 1})."
            )
        return self.baseline[:, subtask].mean(dim=(0, 1)).double()

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

    def significant_mask(
        self, q: float = 0.05, method: FdrMethod = "bh", *, exclude_fragile: bool = True
    ) -> Bool[torch.Tensor, "layer neuron"]:
        """Neurons whose :meth:`q_value` is at most ``q``; fragile ones left out unless told otherwise.

        Raises:
            SkillNeuronError: For a result without significance, or a bad ``q`` or ``method``.
        """
        mask = significant(self.p_value, q=q, method=method)
        fragile = self.fragile if exclude_fragile else None
        return mask if fragile is None else mask & ~fragile

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
            row.update(head_coordinates(self.hook, self.config.get("neuron_shape") or (), row["neuron"]))
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

    # ---- display ----------------------------------------------------------------------------
    def _best_neuron_text(self) -> str:
        flat = self.predictivity.flatten()
        index = int(flat.argmax())  # the first best, as top_neurons orders ties
        layer, neuron = self.layers[index // self.n_neurons], index % self.n_neurons
        return f"{format_number(float(flat[index]))} (layer {layer}, neuron {neuron})"

    def _significance_text(self) -> str:
        if not self.has_significance:
            return "no significance recorded"
        n_significant = int(self.significant_mask().sum())
        return significance_text(n_significant, self.n_layers * self.n_neurons, 0.05, "bh")

    def _facts(self, *, detailed: bool) -> list[tuple[str, object]]:
        """What the result is: model, hook, layers, width, positions, runs, subtasks, example counts."""
        facts: list[tuple[str, object]] = []
        model = self.fingerprint.get("model_name") or self.fingerprint.get("class")
        if model:
            facts.append(("model", str(model)))
        facts += [
            ("hook", self.hook),
            ("layers", list(self.layers) if detailed else self.n_layers),
            ("neurons/layer", self.n_neurons),
            ("positions", self.config.get("positions", list(self.slot_names))),
        ]
        if self.n_runs > 1 or detailed:
            facts.append(("runs", self.n_runs))
        if len(self.subtask_names) > 1 or detailed:
            facts.append(("subtasks", list(self.subtask_names)))
        counts = {"n_train": self.n_train, "n_dev": self.n_dev}
        if detailed and self.n_held_out is not None:
            counts["n_held_out"] = self.n_held_out
        for name, values in counts.items():
            distinct = sorted({int(value) for value in values.flatten()})
            facts.append((name, distinct[0] if len(distinct) == 1 else distinct))
        return facts

    def __repr__(self) -> str:
        """One line: what was scored, on how many examples, the best neuron and the significance."""
        parts: list[str | tuple[str, object]] = [*self._facts(detailed=False)]
        parts += [f"best={self._best_neuron_text()}", self._significance_text()]
        return text_repr(type(self).__name__, parts)

    def _repr_html_(self) -> str:
        """A notebook table: shape, settings, significance and the top 5 neurons (no tensor printed)."""
        facts = self._facts(detailed=True)
        facts += [
            ("runs aggregated by", self.run_aggregation),
            ("best", self._best_neuron_text()),
            ("significance", self._significance_text()),
        ]
        fragile = self.fragile
        if fragile is not None:
            facts.append(("fragile neurons", int(fragile.sum())))
        if self.null_run_predictivity is not None:
            facts.append(("label permutations", int(self.null_run_predictivity.shape[0])))
        facts.append(("settings", self.config))
        top = self.top_neurons(min(5, self.n_layers * self.n_neurons))
        return html_repr(type(self).__name__, facts, [top_neuron_table(top)])

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
        optional: dict[str, Any] = {name: tensors.get(name) for name in _OPTIONAL_TENSORS}
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
                **optional,
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
