"""The paper's neuron predictivity, computed exactly and in a streaming way.

For neuron ``n`` at probed slot ``i`` and binary labels ``y``:

* baseline ``a_bsl(n, i)`` = mean activation over the TRAIN split;
* ``Acc(n, i)`` = mean over the DEV split of ``1[ 1[a(n, i, x) > a_bsl(n, i)] == y ]`` (strict ``>``);
* predictivity = ``max(Acc, 1 - Acc)``, with the polarity kept (``+1`` when high activation means
  the positive class); aggregated by the max over slots, then the mean (or min) over repeated runs.

Multi-class tasks are split into binary subtasks (:mod:`skillneuron_lens.subtasks`); the overall
predictivity of a neuron is the mean over subtasks (macro), and skill-neuron selection can use the
paper's per-subtask merge (:mod:`skillneuron_lens.neurons`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from jaxtyping import Float, Int

from skillneuron_lens.accumulators import MeanAccumulator, ThresholdAccuracyAccumulator
from skillneuron_lens.adapter import StopForward
from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.fingerprint import model_fingerprint, same_model
from skillneuron_lens.io import load_result_dir, save_result_dir, write_result_files
from skillneuron_lens.recording import InputBuilder, Recorder, RecordingConfig
from skillneuron_lens.subtasks import Subtask, subtask_targets, subtasks_for

RunAggregation = Literal["mean", "min"]
TENSOR_FILE = "predictivity.safetensors"


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
        fingerprint: Identity of the model (:func:`skillneuron_lens.fingerprint.model_fingerprint`).
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
        per_run = self.run_predictivity
        return per_run.mean(dim=0) if self.run_aggregation == "mean" else per_run.amin(dim=0)

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

    def top_neurons(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` most predictive neurons overall, best first, as dicts."""
        flat = self.predictivity.flatten()
        if not 1 <= k <= flat.numel():
            raise SkillNeuronError(f"k must be in 1..{flat.numel()}, got {k}.")
        order = torch.sort(flat, descending=True, stable=True).indices[:k]
        polarity = self.polarity.flatten()
        return [
            {
                "layer": self.layers[int(index) // self.n_neurons],
                "neuron": int(index) % self.n_neurons,
                "predictivity": float(flat[index]),
                "polarity": int(polarity[index]),
            }
            for index in order
        ]

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
    return _replace(
        first,
        accuracy=torch.cat([r.accuracy for r in results]),
        baseline=torch.cat([r.baseline for r in results]),
        n_train=torch.cat([r.n_train for r in results]),
        n_dev=torch.cat([r.n_dev for r in results]),
        run_aggregation=how,
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
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    if isinstance(label, bool) or not float(label).is_integer():
        raise SkillNeuronError(f"Labels must be integer class ids; the {split_name} split has {label!r}.")
    return int(label)


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


def _targets(
    train_labels: Sequence[int],
    dev_labels: Sequence[int],
    *,
    n_classes: int | None,
    scheme: str | None,
    balance: bool | None,
    seed: int,
    allow_single_class_dev: bool = False,
) -> _Targets:
    if n_classes is None:
        n_classes = max(max(train_labels), max(dev_labels)) + 1
    for labels, name in ((train_labels, "train"), (dev_labels, "dev")):
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
    )


def _result(
    mean: MeanAccumulator,
    accuracy: ThresholdAccuracyAccumulator,
    *,
    layers: Sequence[int],
    hook: str,
    slot_names: Sequence[str],
    subtasks: Sequence[Subtask],
    config: dict[str, Any],
    fingerprint: dict[str, Any],
) -> PredictivityResult:
    return PredictivityResult(
        accuracy=accuracy.accuracy().cpu()[None],
        baseline=accuracy.baselines.cpu()[None],
        n_train=mean.counts.cpu()[None],
        n_dev=accuracy.counts.cpu()[None],
        layers=tuple(int(layer) for layer in layers),
        hook=hook,
        slot_names=tuple(slot_names),
        subtask_names=tuple(s.name for s in subtasks),
        config=config,
        fingerprint=fingerprint,
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
) -> PredictivityResult:
    """Predictivity of every neuron at a hook, streamed over the train and dev splits.

    Two passes: the train split gives each neuron's baseline (mean activation), the dev split the
    accuracy of thresholding at it. Memory does not grow with the number of examples.

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
            (:meth:`skillneuron_lens.classifier.TunedClassifier.inputs`); positions then count inside
            its region (e.g. the prompt slots).

    Returns:
        The :class:`PredictivityResult`.
    """
    train_texts, train_labels, train_pairs = _as_split(train, "train")
    dev_texts, dev_labels, dev_pairs = _as_split(dev, "dev")
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
        train_labels, dev_labels, n_classes=n_classes, scheme=scheme, balance=balance, seed=seed
    )
    shape: dict[str, Any] = dict(
        n_subtasks=len(targets.subtasks),
        n_slots=config.position_spec.n_slots,
        n_layers=len(recorder.layers),
        n_neurons=_hook_width(recorder, train_texts, train_pairs),
        device=recorder.adapter.device,
    )
    train_targets, dev_targets = targets.train, targets.dev
    if distributed:
        train_targets, dev_targets = _shard(train_targets), _shard(dev_targets)
    means = MeanAccumulator(**shape)
    recorder.accumulate(means, train_texts, train_pairs, train_targets, "baselines (train)")
    means.all_reduce()
    hits = ThresholdAccuracyAccumulator(**shape, baselines=means.means())
    recorder.accumulate(hits, dev_texts, dev_pairs, dev_targets, "accuracy (dev)")
    hits.all_reduce()
    run_config = {
        **config.to_dict(),
        "scheme": scheme,
        "balance": balance,
        "seed": seed,
        "n_classes": n_classes,
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
    )


def _hook_width(recorder: Recorder, texts: Sequence[str], pairs: Sequence[str] | None) -> int:
    """Neurons per layer at the hook, read from one short forward pass."""
    widths: list[int] = []

    def measure(activations: torch.Tensor, hook: Any) -> None:
        widths.append(int(activations.shape[-1]))
        raise StopForward

    batch = recorder.encode(texts[:1], None if pairs is None else pairs[:1])
    recorder.run(batch, [(recorder.hook_names[0], measure)])
    if not widths:
        raise SkillNeuronError(f"Hook {recorder.hook_names[0]!r} did not fire in a forward pass.")
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
    hits = ThresholdAccuracyAccumulator(**shape, baselines=means.means())
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
