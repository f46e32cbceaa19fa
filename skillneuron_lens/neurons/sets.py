"""Neuron sets: skill neurons, layer-matched random controls, and set operations.

A :class:`NeuronSet` is a boolean mask ``[layer, neuron]`` over the recorded layers of a hook,
plus the model layer each row stands for. Selection follows the paper: per layer, the top ``p`` of
each layer's neurons by predictivity (ties broken by lower index). Controls draw the same number of
neurons per layer uniformly at random, with a seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.notebook import HtmlTable, html_repr, text_repr
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.stats.significance import FdrMethod

__all__ = [
    "fraction_to_count",
    "smallest_fraction",
    "checked_count",
    "NeuronSet",
]

_LISTED_MEMBERS = 20
"""A set this small lists its members in its notebook table."""


def fraction_to_count(fraction: float, n_neurons: int) -> int:
    """Neurons kept by a fraction: ``floor(fraction * n)``, as the paper (robust to float error).

    Raises:
        SkillNeuronError: If the fraction is outside ``(0, 1]``.
    """
    if isinstance(fraction, bool) or not 0.0 < float(fraction) <= 1.0:
        raise SkillNeuronError(f"fraction must be in (0, 1], got {fraction!r}.")
    return int(math.floor(float(fraction) * n_neurons + 1e-9))


def smallest_fraction(n_neurons: int) -> float:
    """The smallest three-significant-digit fraction that selects at least one of ``n_neurons``."""
    exact = 1.0 / n_neurons
    scale = 10.0 ** (2 - math.floor(math.log10(exact)))
    return math.ceil(exact * scale) / scale


def checked_count(fraction: float, n_neurons: int, option: str = "fraction") -> int:
    """Neurons a fraction keeps of ``n_neurons``, refusing a fraction that keeps none.

    Args:
        fraction: Share of neurons, in ``(0, 1]``.
        n_neurons: Neurons it is a share of (a layer's width, or all neurons).
        option: How the user gave the fraction, for the message (e.g. ``"--fraction"``).

    Returns:
        ``floor(fraction * n_neurons)``, at least 1.

    Raises:
        SkillNeuronError: If the fraction is outside ``(0, 1]`` or selects no neuron; the message
            names the smallest fraction that selects one.
    """
    count = fraction_to_count(fraction, n_neurons)
    if count < 1:
        raise SkillNeuronError(
            f"{option} {float(fraction):g} selects no neuron of {n_neurons} (floor({float(fraction):g} x "
            f"{n_neurons}) = 0), so its results would be empty or NaN. The smallest fraction that "
            f"selects one neuron per layer is {smallest_fraction(n_neurons):g}."
        )
    return count


def _ranked(scores: torch.Tensor) -> torch.Tensor:
    """Indices from best to worst; ties keep index order."""
    return torch.sort(scores, descending=True, stable=True).indices


def _merge_ranked(primary: torch.Tensor, secondary: torch.Tensor, count: int) -> torch.Tensor:
    """The paper's multi-class merge: top ``count // 2`` by ``primary``, then fill by ``secondary``."""
    chosen = torch.zeros_like(primary, dtype=torch.bool)
    chosen[_ranked(primary)[: count // 2]] = True
    for index in _ranked(secondary):
        if int(chosen.sum()) >= count:
            break
        chosen[index] = True
    return chosen


@dataclass(frozen=True, repr=False)
class NeuronSet:
    """A set of neurons at one hook.

    Attributes:
        mask: ``True`` for members, ``[layer, neuron]`` over the recorded layers.
        layers: The model layer of each row.
        hook: Hook-name template the neurons live at.
    """

    mask: Bool[torch.Tensor, "layer neuron"]
    layers: tuple[int, ...]
    hook: str = "blocks.{layer}.mlp.hook_post"

    def __post_init__(self) -> None:
        """Check the mask against the layers."""
        if self.mask.ndim != 2 or self.mask.dtype != torch.bool:
            raise SkillNeuronError("mask must be a bool tensor [layer, neuron].")
        if self.mask.shape[0] != len(self.layers):
            raise SkillNeuronError(
                f"mask has {self.mask.shape[0]} rows but {len(self.layers)} layers are named."
            )

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def top(
        cls,
        result: PredictivityResult,
        *,
        fraction: float | None = None,
        k: int | None = None,
        per_layer: bool = True,
        merge_subtasks: bool | None = None,
        lowest: bool = False,
        exclude_fragile: bool = True,
    ) -> NeuronSet:
        """The most (or least) predictive neurons.

        Args:
            result: Predictivity to rank by.
            fraction: Share of neurons to keep, in ``(0, 1]`` (per layer or overall).
            k: Number of neurons to keep instead (per layer or overall).
            per_layer: Select within each layer (the paper) or across all layers.
            merge_subtasks: For the paper's 2-subtask scheme, take half by the first subtask and
                fill up by the second (the paper). Default: on when the result has exactly the
                subtasks ``pn`` and ``neu``.
            lowest: Select the least predictive instead (a "bottom" control).
            exclude_fragile: Rank numerically fragile neurons (:attr:`PredictivityResult.fragile`:
                their ``a > baseline`` comparisons are decided by float rounding) last, so that they
                are chosen only when a layer has too few other neurons. No effect on results saved
                before fragility was recorded.

        Returns:
            The selected set.

        Raises:
            SkillNeuronError: If neither or both of ``fraction`` and ``k`` are given, or they
                are out of range, or the fraction selects no neuron.
        """
        if (fraction is None) == (k is None):
            raise SkillNeuronError("Give exactly one of fraction= or k=.")
        scores = result.subtask_predictivity
        if lowest:
            scores = -scores
        fragile = result.fragile if exclude_fragile else None
        if fragile is not None:
            scores = scores.masked_fill(fragile[None], -torch.inf)
        if merge_subtasks is None:
            merge_subtasks = result.subtask_names == ("pn", "neu")
        pool = result.n_neurons if per_layer else result.n_neurons * result.n_layers
        count = checked_count(fraction, pool) if fraction is not None else int(k)  # type: ignore[arg-type]
        if not 0 <= count <= pool:
            raise SkillNeuronError(
                f"k={count} is more than the {pool} neurons {'per layer' if per_layer else 'in all'}."
            )
        if k is not None and count < 1:
            raise SkillNeuronError(f"k must be at least 1, got {k}.")

        def select(rows: torch.Tensor) -> torch.Tensor:
            if merge_subtasks and rows.shape[0] == 2:
                return _merge_ranked(rows[0], rows[1], count)
            chosen = torch.zeros(rows.shape[1], dtype=torch.bool)
            chosen[_ranked(rows.mean(dim=0))[:count]] = True
            return chosen

        if per_layer:
            mask = torch.stack([select(scores[:, layer]) for layer in range(result.n_layers)])
        else:
            mask = select(scores.flatten(1)).reshape(result.n_layers, result.n_neurons)
        return cls(mask, result.layers, result.hook)

    @classmethod
    def significant(
        cls,
        result: PredictivityResult,
        *,
        q: float = 0.05,
        method: FdrMethod = "bh",
        exclude_fragile: bool = True,
    ) -> NeuronSet:
        """The neurons whose predictivity is significant after multiple-testing control.

        Each neuron's exact p-value (:attr:`PredictivityResult.p_value`) is adjusted over all recorded
        neurons (Benjamini-Hochberg ``"bh"`` by default, Benjamini-Yekutieli ``"by"`` or Holm's
        family-wise ``"holm"``), and neurons with adjusted p at most ``q`` are kept.

        Args:
            result: Predictivity with significance recorded.
            q: The false discovery rate (or family-wise error rate for ``"holm"``).
            method: ``"bh"``, ``"by"`` or ``"holm"``.
            exclude_fragile: Leave out numerically fragile neurons (they still count in the family).

        Returns:
            The significant neurons (possibly none).

        Raises:
            SkillNeuronError: For a result without significance, or a bad ``q`` or ``method``.
        """
        mask = result.significant_mask(q, method, exclude_fragile=exclude_fragile)
        return cls(mask, result.layers, result.hook)

    @classmethod
    def from_list(
        cls,
        neurons: Iterable[tuple[int, int]],
        *,
        layers: Sequence[int],
        n_neurons: int,
        hook: str = "blocks.{layer}.mlp.hook_post",
    ) -> NeuronSet:
        """Build a set from ``(layer, neuron)`` pairs (model layer numbers).

        Raises:
            SkillNeuronError: For a layer not in ``layers`` or a neuron out of range.
        """
        row_of = {layer: row for row, layer in enumerate(layers)}
        mask = torch.zeros(len(layers), n_neurons, dtype=torch.bool)
        for layer, neuron in neurons:
            if layer not in row_of:
                raise SkillNeuronError(f"Layer {layer} is not among the set's layers {list(layers)}.")
            if not 0 <= neuron < n_neurons:
                raise SkillNeuronError(f"Neuron {neuron} is out of range 0..{n_neurons - 1}.")
            mask[row_of[layer], neuron] = True
        return cls(mask, tuple(layers), hook)

    def random_like(self, seed: int = 0, *, exclude_self: bool = False) -> NeuronSet:
        """A layer-matched random control: as many neurons per layer, drawn uniformly.

        Args:
            seed: Seed of the draw.
            exclude_self: Draw only from neurons outside this set.

        Returns:
            The control set.
        """
        generator = torch.Generator().manual_seed(seed)
        mask = torch.zeros_like(self.mask)
        for row, count in enumerate(self.counts_per_layer().tolist()):
            pool = (~self.mask[row] if exclude_self else torch.ones_like(self.mask[row])).nonzero()
            pool = pool.flatten()
            if count > len(pool):
                raise SkillNeuronError(
                    f"Layer {self.layers[row]} has only {len(pool)} neurons outside the set; cannot "
                    f"draw {count}."
                )
            mask[row, pool[torch.randperm(len(pool), generator=generator)[:count]]] = True
        return NeuronSet(mask, self.layers, self.hook)

    def random_controls(
        self, n_draws: int = 5, seed: int = 0, *, exclude_self: bool = False
    ) -> list[NeuronSet]:
        """Several independent layer-matched random controls (seeds ``seed .. seed+n_draws-1``)."""
        if n_draws < 1:
            raise SkillNeuronError(f"n_draws must be at least 1, got {n_draws}.")
        return [self.random_like(seed + draw, exclude_self=exclude_self) for draw in range(n_draws)]

    # ---- inspection ---------------------------------------------------------------------------
    def counts_per_layer(self) -> torch.Tensor:
        """Members per recorded layer."""
        return self.mask.sum(dim=1)

    def to_list(self) -> list[tuple[int, int]]:
        """Members as ``(layer, neuron)`` pairs, sorted."""
        return [(self.layers[int(r)], int(n)) for r, n in self.mask.nonzero().tolist()]

    def __len__(self) -> int:
        """Number of members."""
        return int(self.mask.sum())

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """Iterate over ``(layer, neuron)`` pairs."""
        return iter(self.to_list())

    def __contains__(self, item: object) -> bool:
        """Whether ``(layer, neuron)`` is a member."""
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        layer, neuron = item
        if layer not in self.layers or not 0 <= int(neuron) < self.mask.shape[1]:
            return False
        return bool(self.mask[self.layers.index(layer), int(neuron)])

    def scores(self, result: PredictivityResult) -> Float[torch.Tensor, " member"]:
        """The members' predictivity in ``result``, in :meth:`to_list` order."""
        self._check_compatible_shape(result.layers, result.n_neurons)
        return result.predictivity[self.mask]

    def held_out_scores(self, result: PredictivityResult) -> Float[torch.Tensor, " member"]:
        """The members' held-out (test) scores (:attr:`PredictivityResult.held_out_predictivity`).

        Raises:
            SkillNeuronError: If the result has no held-out split scored.
        """
        self._check_compatible_shape(result.layers, result.n_neurons)
        held_out = result.held_out_predictivity
        if held_out is None:
            raise SkillNeuronError(
                "This result has no held-out scores: pass test= to compute_predictivity (find does so "
                "when the task has a test split)."
            )
        return held_out[self.mask]

    def n_significant(self, result: PredictivityResult, *, q: float = 0.05, method: FdrMethod = "bh") -> int:
        """How many members are significant (see :meth:`significant`; fragile neurons do not count)."""
        self._check_compatible_shape(result.layers, result.n_neurons)
        return len(self & NeuronSet.significant(result, q=q, method=method))

    # ---- display ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        """One line: size, hook, members per layer and layer width (never the mask)."""
        per_layer = dict(zip(self.layers, self.counts_per_layer().tolist(), strict=True))
        parts = [("size", len(self)), ("hook", self.hook), ("per_layer", per_layer)]
        return text_repr(type(self).__name__, [*parts, ("neurons/layer", self.mask.shape[1])])

    def _repr_html_(self) -> str:
        """A notebook table: size, hook, width, and the members of each layer (listed when few)."""
        width = self.mask.shape[1]
        facts: list[tuple[str, object]] = [
            ("size", len(self)),
            ("hook", self.hook),
            ("neurons/layer", width),
            ("share of all neurons", len(self) / max(1, self.mask.numel())),
        ]
        if 0 < len(self) <= _LISTED_MEMBERS:
            facts.append(("members", [f"({layer}, {neuron})" for layer, neuron in self.to_list()]))
        counts = zip(self.layers, self.counts_per_layer().tolist(), strict=True)
        rows = [[layer, n, n / max(1, width)] for layer, n in counts]
        table = HtmlTable(["layer", "members", "share"], rows, "per layer")
        return html_repr(type(self).__name__, facts, [table])

    # ---- set algebra --------------------------------------------------------------------------
    def _check_compatible_shape(self, layers: tuple[int, ...], n_neurons: int) -> None:
        if layers != self.layers or n_neurons != self.mask.shape[1]:
            raise SkillNeuronError(
                f"Neuron sets differ in layers ({list(self.layers)} vs {list(layers)}) or width "
                f"({self.mask.shape[1]} vs {n_neurons})."
            )

    def _combine(self, other: NeuronSet, mask: torch.Tensor) -> NeuronSet:
        if other.hook != self.hook:
            raise SkillNeuronError(f"Neuron sets are at different hooks: {self.hook} vs {other.hook}.")
        return NeuronSet(mask, self.layers, self.hook)

    def __or__(self, other: NeuronSet) -> NeuronSet:
        """Union."""
        other._check_compatible_shape(self.layers, self.mask.shape[1])
        return self._combine(other, self.mask | other.mask)

    def __and__(self, other: NeuronSet) -> NeuronSet:
        """Intersection."""
        other._check_compatible_shape(self.layers, self.mask.shape[1])
        return self._combine(other, self.mask & other.mask)

    def __sub__(self, other: NeuronSet) -> NeuronSet:
        """Difference."""
        other._check_compatible_shape(self.layers, self.mask.shape[1])
        return self._combine(other, self.mask & ~other.mask)

    def __xor__(self, other: NeuronSet) -> NeuronSet:
        """Symmetric difference."""
        other._check_compatible_shape(self.layers, self.mask.shape[1])
        return self._combine(other, self.mask ^ other.mask)

    def jaccard(self, other: NeuronSet) -> float:
        """Intersection over union.

        Raises:
            SkillNeuronError: If both sets are empty (the overlap of nothing is undefined).
        """
        union = len(self | other)
        if union == 0:
            raise SkillNeuronError(
                "Both neuron sets are empty, so their Jaccard overlap is undefined; select at least "
                "one neuron (a larger fraction or k)."
            )
        return len(self & other) / union
