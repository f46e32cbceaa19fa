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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import DEFAULT_HOOK, ModelAdapter, StopForward
from skillneuron_lens.models.fingerprint import model_fingerprint
from skillneuron_lens.models.sites import NeuronSite
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.accumulators import (
    ActivationCollector,
    ColumnFanOut,
    MeanAccumulator,
    ThresholdAccuracyAccumulator,
)
from skillneuron_lens.record.activations import PassFeatures
from skillneuron_lens.record.checkpoints import Checkpointable, PassCheckpoints
from skillneuron_lens.record.histograms import DEFAULT_BINS, ClassHistogramAccumulator
from skillneuron_lens.record.permutation_null import PermutationNullAccumulator, permuted_targets
from skillneuron_lens.record.positions import PositionsLike
from skillneuron_lens.record.recorder import InputBuilder, Recorder, RecordingConfig, recording_config
from skillneuron_lens.record.sharding import process_rank
from skillneuron_lens.tasks.labelled import labelled_splits, split_label_ids
from skillneuron_lens.tasks.subtasks import Subtask, subtask_targets, subtasks_for

__all__ = [
    "FRAGILE_TOLERANCE",
    "DEFAULT_PERMUTATIONS",
    "LabelledTexts",
    "compute_predictivity",
    "hook_width",
    "predictivity_from_activations",
]

FRAGILE_TOLERANCE = 1e-4
"""Default distance from the baseline, relative to the layer's activation scale (RMS), counted as "at" it."""
DEFAULT_PERMUTATIONS = 100
"""Label permutations recorded in the dev pass for the per-layer chance band."""


class LabelledTexts(Protocol):
    """Anything with ``texts``, ``labels`` and optional ``text_pairs`` (e.g. a task's split)."""

    @property
    def texts(self) -> Sequence[str]:
        """The texts."""

    @property
    def labels(self) -> Sequence[int]:
        """Integer labels, one per text."""


# ---- inputs -----------------------------------------------------------------------------------
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
    features: PassFeatures | None = None,
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
        features=features,
    )


# ---- the two entry points ---------------------------------------------------------------------
def compute_predictivity(
    model: Any,
    train: LabelledTexts | tuple[Sequence[str], Sequence[int] | Sequence[str]],
    dev: LabelledTexts | tuple[Sequence[str], Sequence[int] | Sequence[str]],
    *,
    recording: RecordingConfig | None = None,
    hook: str | None = None,
    layers: Sequence[int] | None = None,
    positions: PositionsLike | Any = None,
    head: int | None = None,
    n_classes: int | None = None,
    label_names: Sequence[str] | None = None,
    scheme: str | None = None,
    balance: bool | None = None,
    seed: int = 0,
    distributed: bool = False,
    inputs: InputBuilder | None = None,
    test: LabelledTexts | tuple[Sequence[str], Sequence[int] | Sequence[str]] | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    permutation_seed: int = 0,
    fragile_tolerance: float = FRAGILE_TOLERANCE,
    histograms: bool = False,
    histogram_bins: int = DEFAULT_BINS,
    checkpoints: PassCheckpoints | None = None,
    keep_features: bool = False,
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
        recording: Where and how to record (hook, layers, positions, batch size, truncation,
            padding side, BOS, progress bar); default ``RecordingConfig()`` (the MLP hook
            ``blocks.{layer}.mlp.hook_post`` of every layer at position 0).
        hook: Shortcut for ``recording.hook``: the neuron site (:mod:`skillneuron_lens.models.sites`),
            a hook-name template with ``{layer}`` or a concrete hook name such as ``hook_embed`` (one
            layer). Axes after ``pos`` are flattened into neurons, so ``blocks.{layer}.attn.hook_z``
            gives ``n_heads x d_head`` neurons per layer (neuron ``n`` is head ``n // d_head``).
        layers: Shortcut for ``recording.layers``: the layers to record.
        positions: Shortcut for ``recording.positions``: an int, a list of ints, ``"last"``,
            ``"mean"`` or ``"max"``.
        head: Keep one head of a per-head hook (``d_head`` neurons per layer); the result's hook is
            then ``"<hook>[head=H]"``.
        n_classes: Number of classes; default ``max(label) + 1`` (``len(label_names)`` for strings).
        label_names: Class names in id order for string labels; default the sorted strings of the
            train split, which dev and test must share (see :mod:`skillneuron_lens.tasks.labelled`).
        scheme: Binary subtasks (``"binary"``, ``"paper"``, ``"ovr"``); default by class count.
        balance: Class-balance each subtask; default off for binary tasks, on otherwise.
        seed: Seed for class balancing.
        distributed: Each ``torch.distributed`` process takes every world-size-th batch (the batches
            one process would run, so the activations are the same) and the accumulators are summed
            across processes: the same answer as one process, float64 sums within rounding.
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
        checkpoints: Save the accumulators of each pass (``train``, ``dev``, ``test``) every few
            batches there, and continue from what an earlier, killed call saved (see
            :mod:`skillneuron_lens.record.checkpoints`); the result is the same, bit for bit. Not with
            ``distributed`` or ``keep_features``.
        keep_features: Also keep every train and dev example's recorded activations (float32,
            ``4 x examples x slots x layers x neurons`` bytes) as :attr:`PredictivityResult.features`,
            from which :meth:`~skillneuron_lens.tuning.readouts.LinearReadout.from_result` fits a
            read-out without running the model again. Kept in memory only; not with ``distributed``.

    Returns:
        The :class:`PredictivityResult`.

    Raises:
        SkillNeuronError: For bad labels or options, or ``checkpoints`` with ``distributed``.
    """
    checked, names = labelled_splits({"train": train, "dev": dev, "test": test}, label_names)
    train_texts, train_labels, train_pairs = checked["train"]
    dev_texts, dev_labels, dev_pairs = checked["dev"]
    test_texts, test_labels, test_pairs = checked.get("test") or (None, None, None)
    n_classes = n_classes if n_classes is not None or names is None else len(names)
    if isinstance(n_permutations, bool) or n_permutations < 0:
        raise SkillNeuronError(f"n_permutations must be 0 or more, got {n_permutations!r}.")
    if checkpoints is not None and distributed:
        raise SkillNeuronError(
            "Checkpoints are kept by one process only: pass checkpoints=None with distributed=True."
        )
    if checkpoints is not None and keep_features:
        raise SkillNeuronError(
            "keep_features holds activations in memory, which a checkpoint does not save: pass "
            "checkpoints=None with keep_features=True, or fit the read-out separately."
        )
    if keep_features and distributed:
        raise SkillNeuronError(
            "keep_features keeps every example's activations in one process; with distributed=True each "
            "process sees a shard only. Compute without distributed, or fit the read-out separately."
        )
    config = recording_config(recording, hook=hook, layers=layers, positions=positions, head=head)
    recorder = Recorder(model, config, inputs)
    targets = _targets(
        train_labels, dev_labels, n_classes=n_classes, scheme=scheme, balance=balance, seed=seed,
        test_labels=test_labels,
    )
    n_subtasks = len(targets.subtasks)
    neuron_shape = _site_shape(recorder, train_texts, train_pairs)
    shape: dict[str, Any] = dict(
        n_subtasks=n_subtasks,
        n_slots=config.position_spec.n_slots,
        n_layers=len(recorder.layers),
        n_neurons=math.prod(neuron_shape),
        device=recorder.adapter.device,
    )
    dev_columns = targets.dev
    if n_permutations:
        permuted = permuted_targets(dev_columns, n_permutations, permutation_seed)
        dev_columns = torch.cat([dev_columns, permuted], dim=1)
    shard = (lambda columns: _shard(columns, config.batch_size)) if distributed else (lambda columns: columns)
    means = MeanAccumulator(**shape)
    kept = {split: ActivationCollector(len(recorder.layers)) for split in ("train", "dev")}
    train_pass: Any = means
    if keep_features:
        train_pass = ColumnFanOut([(means, slice(None)), (kept["train"], slice(None))])
    train_split = (train_texts, train_pairs)
    _stream(recorder, checkpoints, "train", train_pass, [means], train_split, shard(targets.train))
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
    checkpointed = [part for part, _ in parts]
    if keep_features:
        parts.append((kept["dev"], slice(0, n_subtasks)))
    dev_split = (dev_texts, dev_pairs)
    _stream(recorder, checkpoints, "dev", ColumnFanOut(parts), checkpointed, dev_split, shard(dev_columns))
    for accumulator, _ in parts:
        if not isinstance(accumulator, ActivationCollector):
            accumulator.all_reduce()
    held_out = None
    if targets.test is not None:
        assert test_texts is not None
        held_out = _dev_accumulator(means, shape, fragile_tolerance)
        test_split = (test_texts, test_pairs)
        _stream(recorder, checkpoints, "test", held_out, [held_out], test_split, shard(targets.test))
        held_out.all_reduce()
    run_config = {
        **recorder.config.to_dict(),
        "scheme": scheme,
        "balance": balance,
        "seed": seed,
        "n_classes": n_classes,
        "n_permutations": n_permutations,
        "permutation_seed": permutation_seed,
        "fragile_tolerance": fragile_tolerance,
        "neuron_shape": list(neuron_shape),
    }
    features = None
    if keep_features:
        features = PassFeatures(
            train=torch.stack(kept["train"].per_layer(), dim=2),
            train_labels=_recorded_labels(train_labels, targets.train),
            dev=torch.stack(kept["dev"].per_layer(), dim=2),
            dev_labels=_recorded_labels(dev_labels, targets.dev),
            label_names=None if names is None else tuple(names),
        )
    return _result(
        means,
        hits,
        layers=recorder.layers,
        hook=config.hook,
        slot_names=config.position_spec.slot_names,
        subtasks=targets.subtasks,
        config=run_config,
        fingerprint=model_fingerprint(model),
        held_out=held_out,
        null=null,
        counted=counted,
        features=features,
    )


_PASS_LABELS = {"train": "baselines (train)", "dev": "accuracy (dev)", "test": "held-out (test)"}
"""The progress-bar label of each pass."""


def _stream(
    recorder: Recorder,
    checkpoints: PassCheckpoints | None,
    name: str,
    accumulator: Any,
    kept: list[Checkpointable],
    split: tuple[Sequence[str], Sequence[str] | None],
    targets: Int[torch.Tensor, "example column"],
) -> None:
    """One pass over a split into ``accumulator``, continued from its checkpoint if there is one.

    ``kept`` are the accumulators whose state is checkpointed (``accumulator`` itself, or the parts of
    a :class:`ColumnFanOut`).
    """
    total = recorder.n_batches(targets)
    done = 0 if checkpoints is None else checkpoints.restore(name, kept, total)
    after = None if checkpoints is None else checkpoints.after_batch(name)
    texts, pairs = split
    recorder.accumulate(
        accumulator, texts, pairs, targets, _PASS_LABELS[name], skip_batches=done, after_batch=after
    )


def _recorded_labels(labels: Sequence[int], targets: Int[torch.Tensor, "example subtask"]) -> tuple[int, ...]:
    """The labels of the examples a pass records (those in at least one subtask), in order."""
    used = (targets >= 0).any(dim=1).tolist()
    return tuple(int(label) for label, kept in zip(labels, used, strict=True) if kept)


def _site_shape(recorder: Recorder, texts: Sequence[str], pairs: Sequence[str] | None) -> tuple[int, ...]:
    """The site's neuron axes at the first recorded layer, read from one short forward pass."""
    batch = recorder.encode(texts[:1], None if pairs is None else pairs[:1])
    return _measured_shape(lambda hooks: recorder.run(batch, hooks), recorder.hook_names[0], recorder.site)


def _hook_width(recorder: Recorder, texts: Sequence[str], pairs: Sequence[str] | None) -> int:
    """Neurons per layer at the recorder's site (the site's axes after ``pos``, flattened)."""
    return math.prod(_site_shape(recorder, texts, pairs))


def hook_width(model: Any, hook: str = DEFAULT_HOOK, layers: Sequence[int] | None = None) -> int:
    """Neurons per layer at a hook, from a one-token forward pass (to check options before work).

    Args:
        model: Any supported TransformerLens model.
        hook: The neuron site: a hook-name template with ``{layer}``, or a concrete hook name,
            optionally with ``[head=H]`` (see :mod:`skillneuron_lens.models.sites`).
        layers: Layers the hook is read at (default all); the first one is measured.

    Returns:
        The number of neurons per layer (the axes after ``pos``, flattened).

    Raises:
        HookNotFoundError: If the model has no such hook.
    """
    adapter = ModelAdapter(model)
    site = NeuronSite.parse(hook)
    name = adapter.resolve_site(site, layers)[1][0]
    batch = adapter.tokenize(["a"], max_length=8)
    return math.prod(_measured_shape(lambda hooks: adapter.run_until_stopped(batch, hooks), name, site))


def _measured_shape(run: Any, hook_name: str, site: NeuronSite) -> tuple[int, ...]:
    """The site's neuron axes at ``hook_name`` when ``run(hooks)`` does a forward pass."""
    shapes: list[tuple[int, ...]] = []

    def measure(activations: torch.Tensor, hook: Any) -> None:
        shapes.append(site.neuron_shape(activations, hook_name))
        raise StopForward

    run([(hook_name, measure)])
    if not shapes:
        raise SkillNeuronError(f"Hook {hook_name!r} did not fire in a forward pass.")
    return shapes[0]


def _shard(
    targets: Int[torch.Tensor, "example column"], batch_size: int
) -> Int[torch.Tensor, "example column"]:
    """This process's share of ``targets``: every world-size-th batch of the one-process run, others -1.

    Whole batches are shared out (not every world-size-th example), so each forward pass sees the batch
    and padding one process would: activations are bit for bit the same, and only the float64 sums of
    the accumulators are added in another order.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        raise SkillNeuronError("distributed=True needs torch.distributed to be initialised first.")
    used = (targets >= 0).any(dim=1)  # what one process would run, in its order (Recorder.accumulate)
    batch = (torch.cumsum(used.long(), dim=0) - 1) // batch_size
    rank, world_size = process_rank()
    keep = used & (batch % world_size == rank)
    return torch.where(keep[:, None], targets, torch.full_like(targets, -1))


def predictivity_from_activations(
    train_activations: Float[torch.Tensor, "example *slot layer neuron"],
    train_labels: Sequence[int] | Sequence[str] | torch.Tensor,
    dev_activations: Float[torch.Tensor, "example *slot layer neuron"],
    dev_labels: Sequence[int] | Sequence[str] | torch.Tensor,
    *,
    n_classes: int | None = None,
    label_names: Sequence[str] | None = None,
    scheme: str | None = None,
    balance: bool | None = None,
    seed: int = 0,
    batch_size: int = 1024,
    allow_single_class_dev: bool = False,
    hook: str | None = None,
    layers: Sequence[int] | None = None,
) -> PredictivityResult:
    """Predictivity from activations already in memory (same accumulators as the streaming path).

    Args:
        train_activations: ``[example, layer, neuron]`` or ``[example, slot, layer, neuron]``.
        train_labels: Labels of the train examples (int ids or strings).
        dev_activations: Same layout as ``train_activations``.
        dev_labels: Labels of the dev examples, of the same kind.
        n_classes: Number of classes; default ``max(label) + 1`` (``len(label_names)`` for strings).
        label_names: Class names in id order for string labels; see :func:`compute_predictivity`.
        scheme: Binary subtasks; see :func:`compute_predictivity`.
        balance: Class-balance subtasks; see :func:`compute_predictivity`.
        seed: Seed for class balancing.
        batch_size: Examples added per step.
        allow_single_class_dev: Score a dev split that holds one class only (accuracy is then
            the fraction of examples on that class's side of the baseline) instead of raising.
        hook: The neuron site the activations were read at (e.g. ``"blocks.{layer}.attn.hook_z"``,
            see :mod:`skillneuron_lens.models.sites`), so that neuron sets of the result can be
            perturbed on the model; default ``"activations"`` (a name no model has).
        layers: The model layer of each layer index; default ``0..L-1`` (a concrete hook's layer).

    Returns:
        The :class:`PredictivityResult`.

    Raises:
        SkillNeuronError: For activations of the wrong shape or with NaN, labels that do not match
            them, or ``layers`` that do not match the layer axis.
    """
    train_acts, dev_acts = _with_slot_axis(train_activations), _with_slot_axis(dev_activations)
    if train_acts.shape[1:] != dev_acts.shape[1:]:
        raise SkillNeuronError(
            f"Train and dev activations differ in shape: {tuple(train_acts.shape[1:])} vs "
            f"{tuple(dev_acts.shape[1:])}."
        )
    label_ids, names = split_label_ids({"train": train_labels, "dev": dev_labels}, label_names)
    train_list, dev_list = label_ids["train"], label_ids["dev"]
    n_classes = n_classes if n_classes is not None or names is None else len(names)
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
    site_name, model_layers = _named_site(hook, layers, n_layers)
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
        layers=model_layers,
        hook=site_name,
        slot_names=[f"slot {i}" for i in range(n_slots)],
        subtasks=targets.subtasks,
        config={"scheme": scheme, "balance": balance, "seed": seed, "n_classes": n_classes},
        fingerprint={},
    )


def _named_site(
    hook: str | None, layers: Sequence[int] | None, n_layers: int
) -> tuple[str, tuple[int, ...]]:
    """The site and model layers that in-memory activations are labelled with."""
    site = None if hook is None else NeuronSite.parse(hook)
    if layers is None:
        one_site = site is not None and not site.per_layer
        layers = (site.fixed_layer,) if one_site and site is not None else range(n_layers)
    chosen = tuple(int(layer) for layer in layers)
    if len(chosen) != n_layers or len(set(chosen)) != len(chosen):
        raise SkillNeuronError(
            f"layers={list(chosen)} must name {n_layers} different model layer(s), one per layer of the "
            "activations' layer axis."
        )
    if site is not None:
        site.hook_names(chosen, n_layers=max(chosen) + 1)  # a concrete hook has its one layer only
    return ("activations" if site is None else site.name), chosen


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
