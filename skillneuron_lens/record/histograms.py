"""Per-class activation histograms of every neuron, and the AUROC they give without a threshold.

The paper's predictivity thresholds each neuron at its train-mean baseline. The threshold-free
view asks instead how well a neuron's activation *ranks* the positive examples of a binary
subtask above the negative ones: its AUROC (the Mann-Whitney probability that a random positive
activates more than a random negative, ties counted half). It is reported next to the paper's
predictivity, never instead of it.

:class:`ClassHistogramAccumulator` is fed during the dev pass like the other accumulators of
:mod:`skillneuron_lens.record.accumulators` and keeps, per (class, subtask, slot, layer, neuron), counts
over fixed bins; its memory does not depend on the number of examples, and two accumulators over
disjoint shards merge by adding. :meth:`ClassHistogramAccumulator.histograms` turns it into a
:class:`NeuronHistograms`, from which :meth:`NeuronHistograms.auroc` and the figures of
:mod:`skillneuron_lens.plot.distributions` are computed without running the model again.

Bins. They are fixed per neuron from the train split's minimum and maximum activation (the
train-mean baseline is only kept for the figures). With ``x = (a - min) / (max - min)``, the
``n_bins`` interior bins are equal steps of the increasing warp

    ``w(x) = x + c * (L(x) + L(x - 1) + L(x - z))``,  ``L(d) = sign(d) log(1 + |d| / eps)``,

where ``z`` is the position of activation zero, ``eps`` is :data:`RELATIVE_FLOOR` and
``c = 1 / (6 log(2 / eps))``: about half the bins are spread evenly over ``[min, max]`` and the
rest are logarithmic in the distance to the train minimum, the train maximum and zero, down to
``eps`` of the range. Activations pile up exactly there (the GELU floor at about -0.17, its tail
just below zero, saturating units), where equal-width bins would lump many examples together.
One underflow bin (below the train minimum) and one overflow bin (at or above the train maximum)
complete the histogram, so no dev example is lost. The bin of an activation is computed
arithmetically (a few element-wise operations, no search), and the edges are recovered by
inverting the warp only when a figure needs them (:meth:`NeuronHistograms.bin_edges`).

AUROC from the counts. Examples in different bins are ordered by their bins; two examples in the
same bin are counted as a tie (half), which is exactly the AUROC of two classes spread uniformly
inside each bin. The error against the exact AUROC is therefore at most half the share of
positive-negative pairs that share a bin (:meth:`NeuronHistograms.auroc_error_bound`) and in
practice far smaller. On the packaged Rotten Tomatoes sample with MiniLM ([CLS], 384 train and
96 dev examples, 1024 bins) every neuron whose train activations reach ``1e-5`` in absolute value
is within 0.005 of the exact AUROC (largest error 0.004, mean 0.0005; with 512 bins a few reach
0.0055). About 30 of the 9,216 neurons miss (by up to about 0.02): near-dead units whose
activations (about ``1e-7``) sit in clusters a few float32 steps wide, ordered by rounding, so
that their exact AUROC is itself noise. Dev activations outside the train range share the
underflow or overflow bin, so a dev split that drifts far from the train split loses resolution
there (the error bound shows it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.record.accumulators import _Accumulator, check_finite

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_MAX_BYTES",
    "MIN_BINS",
    "RELATIVE_FLOOR",
    "ClassHistogramAccumulator",
    "NeuronHistograms",
]

DEFAULT_BINS = 1024
"""Interior bins per neuron when memory allows (see :class:`ClassHistogramAccumulator`)."""

MIN_BINS = 32
"""The fewest interior bins the memory cap may leave; below this the accumulator refuses."""

DEFAULT_MAX_BYTES = 512 * 2**20
"""Default cap on the memory of the counts (512 MiB)."""

RELATIVE_FLOOR = 1e-7
"""Finest bin scale near the anchors, as a share of the neuron's train range (float32 resolution)."""

BYTES_PER_BIN = 2 * 4
"""Bytes per (subtask, slot, layer, neuron, bin): two int32 class counts."""

_CLASSES = 2
_WARP_WEIGHT = 1.0 / (6.0 * math.log(2.0 / RELATIVE_FLOOR))
_TENSOR_NAMES = ("counts", "minimum", "maximum", "baseline", "layers")


@dataclass(frozen=True)
class _BinScale:
    """Per-neuron bin geometry: the warp of the module docstring, evaluated element-wise."""

    low: torch.Tensor
    high: torch.Tensor
    span: torch.Tensor
    zero: torch.Tensor
    warp_low: torch.Tensor
    warp_range: torch.Tensor
    n_bins: int

    @classmethod
    def from_range(cls, minimum: torch.Tensor, maximum: torch.Tensor, n_bins: int) -> _BinScale:
        """Bins from train minima and maxima (a zero range is widened by a relative 1e-6)."""
        low, high = minimum.double(), maximum.double()
        check_finite(torch.stack([low, high]), "the train minimum/maximum")
        if bool((high < low).any()):
            raise SkillNeuronError(
                f"{int((high < low).sum())} neuron(s) have a train maximum below their minimum; pass "
                "the train split's minimum and maximum (in that order)."
            )
        pad = torch.where(high > low, torch.zeros_like(low), low.abs().clamp_min(1e-300) * 1e-6)
        low, high = low - pad, high + pad
        span = high - low
        zero = -low / span
        warp_low = _warp(torch.zeros_like(low), zero)
        return cls(low, high, span, zero, warp_low, _warp(torch.ones_like(low), zero) - warp_low, n_bins)

    def select_layer(self, layer: int) -> _BinScale:
        """The geometry of one layer slot, shaped ``[subtask, slot, neuron, 1]`` (broadcasts over a batch)."""

        def pick(part: torch.Tensor) -> torch.Tensor:
            return part[:, :, layer, :, None].contiguous()

        return _BinScale(
            pick(self.low),
            pick(self.high),
            pick(self.span),
            pick(self.zero),
            pick(self.warp_low),
            pick(self.warp_range),
            self.n_bins,
        )

    def bins(self, values: torch.Tensor) -> torch.Tensor:
        """Bin index of each value (broadcast against the geometry): 0 under, n_bins + 1 over."""
        share = (values - self.low) / self.span
        position = (_warp(share, self.zero) - self.warp_low) * (self.n_bins / self.warp_range)
        inner = position.floor_().clamp_(0, self.n_bins - 1).add_(1)
        inner = inner.masked_fill_(share < 0, 0.0).masked_fill_(share >= 1, float(self.n_bins + 1))
        return inner.long()


def _warp(share: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    """The increasing map whose equal steps are the bins (see the module docstring)."""
    anchors = _log_distance(share) + _log_distance(share - 1) + _log_distance(share - zero)
    return share + _WARP_WEIGHT * anchors.double()


def _log_distance(offset: torch.Tensor) -> torch.Tensor:
    """``sign(d) * log(1 + |d| / eps)``: linear within ``eps`` of an anchor, logarithmic beyond.

    Computed in float32 (a few times cheaper than float64 on CPUs): its rounding moves a warp of
    range about 50 by at most about 1e-5, far below one bin step.
    """
    scaled = (offset / RELATIVE_FLOOR).float()
    return torch.copysign(torch.log1p(scaled.abs()), scaled)


def _capped_bins(requested: int, n_cells: int, max_bytes: int) -> int:
    """Interior bins that fit ``max_bytes`` for ``n_cells`` (subtask, slot, layer, neuron) cells."""
    if isinstance(requested, bool) or int(requested) < MIN_BINS:
        raise SkillNeuronError(f"n_bins must be at least {MIN_BINS}, got {requested!r}.")
    affordable = max_bytes // (BYTES_PER_BIN * max(n_cells, 1)) - 2
    bins = min(int(requested), int(affordable))
    if bins < MIN_BINS:
        raise SkillNeuronError(
            f"Histograms for {n_cells:,} (subtask, slot, layer, neuron) cells need at least "
            f"{BYTES_PER_BIN * (MIN_BINS + 2) * n_cells / 2**20:,.0f} MiB with {MIN_BINS} bins, over "
            f"the cap of {max_bytes / 2**20:,.0f} MiB. Raise max_bytes, record fewer layers or slots, "
            "or skip the histograms."
        )
    return bins


@dataclass
class ClassHistogramAccumulator(_Accumulator):
    """Per-class histograms of dev activations over bins fixed from the train pass.

    Memory: ``8 * subtask * slot * layer * neuron * (n_bins + 2)`` bytes for the counts (two
    int32 classes per bin), plus six float64 numbers per (subtask, slot, layer, neuron) for the
    bin geometry, whatever the number of examples: MiniLM's 6 x 1536 neurons at one slot with
    1024 bins take 72 MiB. When the counts would exceed ``max_bytes``, ``n_bins`` is lowered to fit
    (read it back from :attr:`n_bins`), down to :data:`MIN_BINS`; below that the constructor
    raises. Each :meth:`add_layer` is a few element-wise operations and one ``index_add_``, with
    no loop over neurons or subtasks.

    Args:
        n_subtasks: Binary subtasks (targets columns).
        n_slots: Position slots.
        n_layers: Recorded layers.
        n_neurons: Neurons per layer.
        device: Where the counts live.
        minimum: Train minimum activation ``[subtask, slot, layer, neuron]``.
        maximum: Train maximum activation, same shape.
        baseline: Train mean activation (the paper's threshold), same shape; kept for the figures.
        n_bins: Interior bins requested per neuron.
        max_bytes: Memory cap for the counts.
    """

    minimum: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    maximum: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    baseline: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    n_bins: int = DEFAULT_BINS
    max_bytes: int = DEFAULT_MAX_BYTES
    class_counts: torch.Tensor = field(init=False)
    _layer_scales: list[_BinScale] = field(init=False, repr=False)
    _cell_offsets: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Check the train statistics, choose the bins and allocate zeroed counts."""
        expected = (self.n_subtasks, self.n_slots, self.n_layers, self.n_neurons)
        for name in ("minimum", "maximum", "baseline"):
            statistic = getattr(self, name)
            if tuple(statistic.shape) != expected:
                raise SkillNeuronError(
                    f"The train {name} has shape {tuple(statistic.shape)}, expected {expected} "
                    "(subtask, slot, layer, neuron)."
                )
            setattr(self, name, statistic.to(device=self.device, dtype=torch.float64))
        self.n_bins = _capped_bins(self.n_bins, math.prod(expected), self.max_bytes)
        scale = _BinScale.from_range(self.minimum, self.maximum, self.n_bins)
        # One geometry per layer, shaped [subtask, slot, neuron, 1] to broadcast over the batch.
        self._layer_scales = [scale.select_layer(layer) for layer in range(self.n_layers)]
        total_bins = self.n_bins + 2
        self.class_counts = torch.zeros(
            (self.n_layers, _CLASSES, self.n_subtasks, self.n_slots, self.n_neurons, total_bins),
            dtype=torch.int32,
            device=self.device,
        )
        cells = torch.arange(self.n_subtasks * self.n_slots * self.n_neurons, device=self.device)
        self._cell_offsets = (cells * total_bins).view(self.n_subtasks, self.n_slots, self.n_neurons, 1)
        self.counts = self._new_counts()

    def _tensors(self) -> list[torch.Tensor]:
        return [self.class_counts, self.counts]

    def merge(self, other: _Accumulator) -> None:
        """Add another accumulator's counts; both must use the same bins."""
        if isinstance(other, ClassHistogramAccumulator) and not (
            other.n_bins == self.n_bins
            and torch.equal(other.minimum.to(self.device), self.minimum)
            and torch.equal(other.maximum.to(self.device), self.maximum)
        ):
            raise SkillNeuronError(
                "Cannot merge histograms with different bins; build both accumulators from the same "
                "train minimum and maximum, n_bins and max_bytes."
            )
        super().merge(other)

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Count one layer's reduced activations of the batch into its class histograms."""
        check_finite(values, where)
        batch = values.shape[0]
        by_neuron = values.to(device=self.device, dtype=torch.float64).permute(1, 2, 0).contiguous()
        bins = self._layer_scales[layer_slot].bins(by_neuron.unsqueeze(0))
        targets = targets.to(self.device)
        label = targets.clamp(min=0).T.reshape(self.n_subtasks, 1, 1, batch)
        included = (targets >= 0).T.reshape(self.n_subtasks, 1, 1, batch)
        class_stride = self.class_counts[layer_slot, 0].numel()
        flat = label * class_stride + self._cell_offsets + bins
        weights = included.to(torch.int32).expand_as(flat)
        self.class_counts[layer_slot].view(-1).index_add_(0, flat.reshape(-1), weights.reshape(-1))

    def histograms(
        self,
        layers: tuple[int, ...] | None = None,
        subtask_names: tuple[str, ...] | None = None,
        slot_names: tuple[str, ...] | None = None,
    ) -> NeuronHistograms:
        """The accumulated histograms with their bins and names (a CPU copy).

        Args:
            layers: Model layer of each recorded layer slot; default ``0 .. n_layers - 1``.
            subtask_names: Name of each subtask; default ``"subtask 0"``, ...
            slot_names: Name of each position slot; default ``"slot 0"``, ...

        Returns:
            The histograms.
        """
        return NeuronHistograms(
            counts=self.class_counts.permute(1, 2, 3, 0, 4, 5).to(device="cpu", dtype=torch.int64),
            minimum=self.minimum.cpu(),
            maximum=self.maximum.cpu(),
            baseline=self.baseline.cpu(),
            layers=tuple(range(self.n_layers)) if layers is None else tuple(int(x) for x in layers),
            subtask_names=_names(subtask_names, "subtask", self.n_subtasks),
            slot_names=_names(slot_names, "slot", self.n_slots),
        )


def _names(names: tuple[str, ...] | list[str] | None, kind: str, count: int) -> tuple[str, ...]:
    return tuple(f"{kind} {index}" for index in range(count)) if names is None else tuple(names)


def _index(value: int, size: int, what: str) -> int:
    if isinstance(value, bool) or not 0 <= int(value) < size:
        raise SkillNeuronError(f"{what} {value!r} is out of range 0..{size - 1}.")
    return int(value)


@dataclass(frozen=True)
class NeuronHistograms:
    """Per-class dev activation histograms of every neuron, over bins fixed from the train split.

    Bin ``0`` holds activations below the train minimum, bins ``1 .. n_bins`` split
    ``[minimum, maximum)`` as described in :mod:`skillneuron_lens.record.histograms` (their edges:
    :meth:`bin_edges`), and bin ``n_bins + 1`` holds activations at or above the train maximum.

    Attributes:
        counts: Int64 ``[class, subtask, slot, layer, neuron, bin]``; class 0 are the negatives
            (target 0) and class 1 the positives (target 1) of each subtask.
        minimum: Float64 train minimum activation ``[subtask, slot, layer, neuron]``.
        maximum: Float64 train maximum activation, same shape.
        baseline: Float64 train-mean activation (the paper's threshold), same shape.
        layers: Model layer of each layer slot.
        subtask_names: Name of each subtask.
        slot_names: Name of each position slot.
    """

    counts: Int[torch.Tensor, "class subtask slot layer neuron bin"]
    minimum: Float[torch.Tensor, "subtask slot layer neuron"]
    maximum: Float[torch.Tensor, "subtask slot layer neuron"]
    baseline: Float[torch.Tensor, "subtask slot layer neuron"]
    layers: tuple[int, ...]
    subtask_names: tuple[str, ...]
    slot_names: tuple[str, ...]

    def __post_init__(self) -> None:
        """Check that the shapes and names agree."""
        if self.counts.ndim != 6 or self.counts.shape[0] != _CLASSES or self.counts.shape[5] < 3:
            raise SkillNeuronError(
                "Histogram counts must be [class=2, subtask, slot, layer, neuron, bin] with at least 3 "
                f"bins, got shape {tuple(self.counts.shape)}."
            )
        cells = tuple(self.counts.shape[1:5])
        for name in ("minimum", "maximum", "baseline"):
            shape = tuple(getattr(self, name).shape)
            if shape != cells:
                raise SkillNeuronError(f"Histogram {name} has shape {shape}, expected {cells}.")
        for what, names, size in (
            ("subtask names", self.subtask_names, cells[0]),
            ("slot names", self.slot_names, cells[1]),
            ("layers", self.layers, cells[2]),
        ):
            if len(names) != size:
                raise SkillNeuronError(f"Histograms have {size} entries but {len(names)} {what}.")

    @property
    def n_neurons(self) -> int:
        """Neurons per layer."""
        return int(self.counts.shape[4])

    @property
    def n_bins(self) -> int:
        """Interior bins per neuron (without the underflow and overflow bins)."""
        return int(self.counts.shape[5]) - 2

    def locate(self, layer: int, neuron: int, subtask: int = 0, slot: int = 0) -> tuple[int, int, int, int]:
        """Indices ``(subtask, slot, layer_slot, neuron)`` of one neuron, checked.

        Args:
            layer: Model layer (one of :attr:`layers`).
            neuron: Neuron index.
            subtask: Subtask index.
            slot: Position-slot index.

        Raises:
            SkillNeuronError: For a layer that was not recorded or an index out of range.
        """
        if isinstance(layer, bool) or layer not in self.layers:
            raise SkillNeuronError(
                f"Layer {layer!r} was not recorded; the histograms have layers {list(self.layers)}."
            )
        return (
            _index(subtask, len(self.subtask_names), "Subtask"),
            _index(slot, len(self.slot_names), "Slot"),
            self.layers.index(layer),
            _index(neuron, self.n_neurons, "Neuron"),
        )

    def bin_edges(
        self, layer: int, neuron: int, subtask: int = 0, slot: int = 0
    ) -> Float[torch.Tensor, " edge"]:
        """The ``n_bins + 1`` edges of one neuron's interior bins (the warp inverted by bisection).

        Args:
            layer: Model layer.
            neuron: Neuron index.
            subtask: Subtask index.
            slot: Position-slot index.

        Returns:
            Float64 edges, increasing, from the train minimum to the train maximum.

        Raises:
            SkillNeuronError: For a layer that was not recorded or an index out of range.
        """
        cell = self.locate(layer, neuron, subtask, slot)
        scale = _BinScale.from_range(
            self.minimum[cell].reshape(1), self.maximum[cell].reshape(1), self.n_bins
        )
        targets = scale.warp_low + scale.warp_range * torch.linspace(
            0.0, 1.0, self.n_bins + 1, dtype=torch.float64
        )
        below, above = torch.zeros_like(targets), torch.ones_like(targets)
        for _ in range(60):
            middle = (below + above) / 2
            too_low = _warp(middle, scale.zero) < targets
            below, above = torch.where(too_low, middle, below), torch.where(too_low, above, middle)
        edges = scale.low + scale.span * (below + above) / 2
        edges[0], edges[-1] = scale.low, scale.high
        return edges

    def class_sizes(self) -> Int[torch.Tensor, "class subtask"]:
        """Dev examples of each class in each subtask."""
        return self.counts[:, :, 0, 0, 0, :].sum(dim=-1)

    def _class_shares(self) -> tuple[torch.Tensor, torch.Tensor]:
        sizes = self.class_sizes()
        empty = (sizes == 0).nonzero().tolist()
        if empty:
            which, subtask = empty[0]
            kind = "positive" if which == 1 else "negative"
            raise SkillNeuronError(
                f"Subtask {self.subtask_names[subtask]!r} has no {kind} dev examples, so its AUROC is "
                "undefined; use a dev split with both classes."
            )
        shares = self.counts.double() / sizes.double()[:, :, None, None, None, None]
        return shares[0], shares[1]

    def auroc(self) -> Float[torch.Tensor, "subtask slot layer neuron"]:
        """AUROC of "the activation ranks positives above negatives", from the histograms.

        Pairs in different bins are ordered by their bins and pairs in the same bin count half
        (uniform mass inside a bin). ``1.0``: every positive above every negative; ``0.0``: the
        reverse; ``0.5``: no ranking.

        Returns:
            Float64 AUROC ``[subtask, slot, layer, neuron]``.

        Raises:
            SkillNeuronError: If a subtask lacks positive or negative dev examples.
        """
        negative, positive = self._class_shares()
        negatives_below = negative.cumsum(dim=-1) - negative
        return (positive * (negatives_below + 0.5 * negative)).sum(dim=-1)

    def auroc_error_bound(self) -> Float[torch.Tensor, "subtask slot layer neuron"]:
        """Largest possible gap between :meth:`auroc` and the exact AUROC of the same examples.

        Half the share of positive-negative pairs that fall in the same bin: only their order is
        unknown.

        Raises:
            SkillNeuronError: If a subtask lacks positive or negative dev examples.
        """
        negative, positive = self._class_shares()
        return 0.5 * (positive * negative).sum(dim=-1)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors to store in a safetensors file (names go in :meth:`metadata`)."""
        return {
            "counts": self.counts.contiguous(),
            "minimum": self.minimum.contiguous(),
            "maximum": self.maximum.contiguous(),
            "baseline": self.baseline.contiguous(),
            "layers": torch.tensor(self.layers, dtype=torch.int64),
        }

    def metadata(self) -> dict[str, Any]:
        """JSON-friendly names to store next to :meth:`to_tensors`."""
        return {"subtask_names": list(self.subtask_names), "slot_names": list(self.slot_names)}

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None
    ) -> NeuronHistograms:
        """Rebuild histograms from :meth:`to_tensors` and (optionally) :meth:`metadata`.

        Args:
            tensors: The stored tensors.
            metadata: The stored names; default names when ``None``.

        Returns:
            The histograms.

        Raises:
            SkillNeuronError: For missing tensors or inconsistent shapes.
        """
        missing = [name for name in _TENSOR_NAMES if name not in tensors]
        if missing:
            raise SkillNeuronError(
                f"Stored histograms lack tensor(s) {missing}; save them with NeuronHistograms.to_tensors."
            )
        counts = tensors["counts"].to(torch.int64)
        metadata = metadata or {}
        return cls(
            counts=counts,
            minimum=tensors["minimum"].double(),
            maximum=tensors["maximum"].double(),
            baseline=tensors["baseline"].double(),
            layers=tuple(int(layer) for layer in tensors["layers"].tolist()),
            subtask_names=_names(metadata.get("subtask_names"), "subtask", int(counts.shape[1])),
            slot_names=_names(metadata.get("slot_names"), "slot", int(counts.shape[2])),
        )
