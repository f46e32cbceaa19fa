"""Comparing tasks by their neurons (the paper's finding 3 and transferability indicator, 6b).

* :func:`spearman`: Spearman rank correlation of per-neuron predictivity (average ranks for ties),
  over all neurons or per layer (:func:`spearman_per_layer`). The paper: similar tasks have similar
  predictivity rankings, and this similarity predicts how well one task's prompt transfers to the other.
* :func:`skill_overlap`: Jaccard index of two tasks' skill-neuron sets, against a layer-matched
  permutation baseline (random sets with the same number of neurons per layer), with a Monte-Carlo
  p-value from seeded draws and the exact p-value from the hypergeometric distribution.
* :func:`activated_overlap`: the baseline indicator of Su et al. (2022), overlap of "activated"
  neurons. See its docstring for what "activated" means with the data a result holds.
* :func:`compare_runs`: all of the above for every pair of tasks, as a :class:`TaskComparison` that
  saves to ``compare.json`` (+ tensors).

Neurons are matched by (layer, index), so results must come from the same model (same weights
fingerprint), hook, layers and width.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Bool, Float

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.files import COMPARE_SUMMARY, COMPARE_TENSORS
from skillneuron_lens.io import dumps_strict, load_result_dir, save_result_dir
from skillneuron_lens.models.fingerprint import same_model
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.notebook import HtmlTable, format_number, html_repr, text_repr
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.stats.correlation import spearman, spearman_per_layer

__all__ = [
    "TENSOR_FILE",
    "JSON_FILE",
    "ScoresLike",
    "OverlapResult",
    "hypergeometric_pmf",
    "skill_overlap",
    "activated_overlap",
    "TaskComparison",
    "compare_runs",
]

TENSOR_FILE = COMPARE_TENSORS
JSON_FILE = COMPARE_SUMMARY

ScoresLike = PredictivityResult | torch.Tensor


# ---- skill-set overlap ------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class OverlapResult:
    """Jaccard index of two neuron sets and how it compares with chance.

    Attributes:
        jaccard: Observed ``|A & B| / |A | B|``.
        per_layer: Observed Jaccard within each layer (NaN where both sets are empty there).
        null_mean: Mean Jaccard of ``a`` with ``n_draws`` layer-matched random sets of ``b``'s sizes.
        null_std: Their standard deviation.
        p_value: Monte-Carlo p-value ``(1 + #{draws >= observed}) / (1 + n_draws)``.
        p_value_exact: Exact ``P(J >= observed)`` for uniform random sets of the same sizes per
            layer (the intersection per layer is hypergeometric; layers are independent).
        expected_intersection: Exact mean size of the intersection of such random sets.
        n_draws: Number of random draws.
        seed: Seed of the first draw.
    """

    jaccard: float
    per_layer: Float[torch.Tensor, " layer"]
    null_mean: float
    null_std: float
    p_value: float
    p_value_exact: float
    expected_intersection: float
    n_draws: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "jaccard": self.jaccard,
            "per_layer": _json_floats(self.per_layer),
            "null_mean": self.null_mean,
            "null_std": self.null_std,
            "p_value": self.p_value,
            "p_value_exact": self.p_value_exact,
            "expected_intersection": self.expected_intersection,
            "n_draws": self.n_draws,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        """One line: the observed Jaccard against chance and both p-values (not the per-layer tensor)."""
        names = ("jaccard", "null_mean", "p_value", "p_value_exact")
        parts = [f"{name}={format_number(getattr(self, name))}" for name in names]
        return text_repr(type(self).__name__, [*parts, f"n_draws={self.n_draws}"])


def _log_binomial(n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return torch.lgamma(n + 1) - torch.lgamma(k + 1) - torch.lgamma(n - k + 1)


def hypergeometric_pmf(total: int, size_a: int, size_b: int) -> Float[torch.Tensor, " k"]:
    """``P(|A & B| = k)`` for ``k = 0..min(size_a, size_b)`` when ``B`` is a uniform random subset.

    Args:
        total: Neurons to draw from (a layer's width).
        size_a: Size of the fixed set.
        size_b: Size of the random set.
    """
    if not (0 <= size_a <= total and 0 <= size_b <= total):
        raise SkillNeuronError(f"Set sizes {size_a}, {size_b} must lie in 0..{total}.")
    k = torch.arange(min(size_a, size_b) + 1, dtype=torch.float64)
    n, a, b = (torch.tensor(float(v), dtype=torch.float64) for v in (total, size_a, size_b))
    valid = (b - k >= 0) & (n - a - (b - k) >= 0)
    log_p = _log_binomial(a, k) + _log_binomial(n - a, (b - k).clamp(min=0)) - _log_binomial(n, b)
    pmf = torch.where(valid, log_p.exp(), torch.zeros_like(log_p))
    return pmf / pmf.sum()


def _intersection_pmf(total: int, sizes_a: list[int], sizes_b: list[int]) -> torch.Tensor:
    """Distribution of the total intersection over independent layers (convolution)."""
    pmf = torch.ones(1, dtype=torch.float64)
    for size_a, size_b in zip(sizes_a, sizes_b, strict=True):
        layer = hypergeometric_pmf(total, size_a, size_b)
        out = torch.zeros(len(pmf) + len(layer) - 1, dtype=torch.float64)
        for k, p in enumerate(layer.tolist()):
            out[k : k + len(pmf)] += p * pmf
        pmf = out
    return pmf


def _as_set(value: PredictivityResult | NeuronSet, fraction: float | None, name: str) -> NeuronSet:
    if isinstance(value, NeuronSet):
        return value
    if isinstance(value, PredictivityResult):
        if fraction is None:
            raise SkillNeuronError(f"{name} is a PredictivityResult: give fraction= to select its skill set.")
        return NeuronSet.top(value, fraction=fraction)
    raise SkillNeuronError(f"{name} must be a PredictivityResult or a NeuronSet, got {type(value).__name__}.")


def _layer_jaccard(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    union = (a | b).sum(dim=-1).double()
    inter = (a & b).sum(dim=-1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(union, float("nan")))


def _random_intersections(
    fixed: Bool[torch.Tensor, "layer neuron"], counts: list[int], n_draws: int, generator: torch.Generator
) -> Float[torch.Tensor, " draw"]:
    """``|fixed & R|`` for ``n_draws`` uniform random sets ``R`` with ``counts[layer]`` members per layer."""
    total = torch.zeros(n_draws, dtype=torch.float64)
    for row, count in enumerate(counts):
        if count == 0:
            continue
        members = torch.rand(n_draws, fixed.shape[1], generator=generator).argsort(dim=-1)[:, :count]
        total += fixed[row].cpu()[members].sum(dim=-1).double()
    return total


def skill_overlap(
    a: PredictivityResult | NeuronSet,
    b: PredictivityResult | NeuronSet,
    fraction: float | None = 0.02,
    *,
    n_draws: int = 1000,
    seed: int = 0,
) -> OverlapResult:
    """Jaccard index of two tasks' skill sets, against layer-matched random sets.

    The permutation baseline keeps ``a`` and draws, ``n_draws`` times (seeded), a uniform random set
    with as many neurons per layer as ``b`` (a layer-matched control; by symmetry the same null as two
    random sets), and records the Jaccard index; the p-value is the share of draws at least as large
    as the observed index (with the usual ``+1`` correction). The exact p-value comes from the
    hypergeometric distribution of each layer's intersection.

    Args:
        a: A result (its top ``fraction`` per layer is the skill set, as the paper) or a NeuronSet.
        b: The same for the other task.
        fraction: Share of neurons per layer for results.
        n_draws: Random draws for the baseline (at least 1).
        seed: Seed of the draws.

    Returns:
        An :class:`OverlapResult`.

    Raises:
        SkillNeuronError: If the sets are at different hooks, layers or widths.
    """
    if n_draws < 1:
        raise SkillNeuronError(f"n_draws must be at least 1, got {n_draws}.")
    set_a, set_b = _as_set(a, fraction, "a"), _as_set(b, fraction, "b")
    if set_a.hook != set_b.hook or set_a.layers != set_b.layers or set_a.mask.shape != set_b.mask.shape:
        raise SkillNeuronError(
            f"The sets describe different neurons: hook {set_a.hook!r} vs {set_b.hook!r}, layers "
            f"{list(set_a.layers)} vs {list(set_b.layers)}, width {set_a.mask.shape[1]} vs "
            f"{set_b.mask.shape[1]}. Compare results recorded at the same hook and layers."
        )
    observed = set_a.jaccard(set_b)
    counts_a = [int(c) for c in set_a.counts_per_layer().tolist()]
    counts_b = [int(c) for c in set_b.counts_per_layer().tolist()]
    width = int(set_a.mask.shape[1])
    generator = torch.Generator().manual_seed(seed)
    size_sum = sum(counts_a) + sum(counts_b)

    def jaccard_of(intersection: torch.Tensor) -> torch.Tensor:
        union = size_sum - intersection
        return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(intersection))

    chunks = [
        _random_intersections(set_a.mask, counts_b, min(250, n_draws - start), generator)
        for start in range(0, n_draws, 250)  # chunks keep memory flat
    ]
    null = jaccard_of(torch.cat(chunks))
    pmf = _intersection_pmf(width, counts_a, counts_b)
    k = torch.arange(len(pmf), dtype=torch.float64)
    jaccard_k = jaccard_of(k)
    tolerance = 1e-12
    return OverlapResult(
        jaccard=observed,
        per_layer=_layer_jaccard(set_a.mask, set_b.mask),
        null_mean=float(null.mean()),
        null_std=float(null.std()) if n_draws > 1 else 0.0,
        p_value=(1 + int((null >= observed - tolerance).sum())) / (1 + n_draws),
        p_value_exact=min(1.0, float(pmf[jaccard_k >= observed - tolerance].sum())),
        expected_intersection=float((k * pmf).sum()),
        n_draws=n_draws,
        seed=seed,
    )


# ---- activated-neuron overlap (Su et al. 2022) -------------------------------------------------
def activated_overlap(
    a: PredictivityResult | torch.Tensor, b: PredictivityResult | torch.Tensor, *, threshold: float = 0.0
) -> float:
    """Jaccard index of the neurons two tasks "activate": the baseline indicator of Su et al. (2022).

    Su et al. ("On Transferability of Prompt Tuning", NAACL 2022) call a neuron activated when its
    value at the prompt is positive and measure the overlap of the activated sets of two prompts.
    A :class:`PredictivityResult` keeps no per-example activations, only each neuron's mean over the
    train split at the probed slots (its baselines). Here a neuron is activated when that mean,
    averaged over runs, subtasks and slots (:meth:`PredictivityResult.mean_baselines`), is above
    ``threshold``. With
    GELU-like activations this differs from "positive on most examples" (a rarely but strongly
    firing neuron has a positive mean); pass your own ``[layer, neuron]`` means or activation
    rates (e.g. the share of examples with a positive value, with ``threshold=0.5``) to use another
    definition.

    Args:
        a: A result or a ``[layer, neuron]`` tensor of mean activations.
        b: The same for the other task.
        threshold: A neuron is activated when its value is strictly above this.

    Returns:
        ``|A & B| / |A | B|`` (1.0 when neither task activates any neuron).
    """
    values = [v.mean_baselines() if isinstance(v, PredictivityResult) else v for v in (a, b)]
    for value in values:
        if not isinstance(value, torch.Tensor):
            raise SkillNeuronError(
                f"activated_overlap needs PredictivityResults or tensors, got {type(value).__name__}."
            )
    if values[0].shape != values[1].shape:
        raise SkillNeuronError(
            f"Activation means differ in shape: {tuple(values[0].shape)} vs {tuple(values[1].shape)}."
        )
    active_a, active_b = values[0] > threshold, values[1] > threshold
    union = int((active_a | active_b).sum())
    return 1.0 if union == 0 else int((active_a & active_b).sum()) / union


# ---- all pairs --------------------------------------------------------------------------------
def _json_floats(values: torch.Tensor) -> Any:
    """Nested lists with NaN as None (JSON has no NaN)."""
    if values.ndim == 0:
        number = float(values)
        return None if math.isnan(number) else number
    return [_json_floats(row) for row in values]


@dataclass(frozen=True, repr=False)
class TaskComparison:
    """Pairwise similarity of tasks by their neurons.

    Matrices are ``[task, task]`` in the order of ``names`` (symmetric, float64).

    Attributes:
        names: Task names.
        spearman: Spearman correlation of per-neuron predictivity over all neurons.
        spearman_per_layer: The same within each layer, ``[task, task, layer]``.
        jaccard: Jaccard index of the skill sets (top ``fraction`` per layer).
        jaccard_null_mean: Mean Jaccard of layer-matched random sets of the same sizes.
        jaccard_p_value: Monte-Carlo p-value of the observed Jaccard (diagonal: NaN).
        jaccard_p_value_exact: Exact (hypergeometric) p-value (diagonal: NaN).
        activated_jaccard: Overlap of activated neurons (:func:`activated_overlap`).
        layers: The model layer of each layer index.
        hook: Hook-name template of the neurons.
        fraction: Share of neurons per layer in a skill set.
        n_draws: Random draws per pair for the permutation baseline.
        seed: Seed of the draws.
        fingerprint: The model's fingerprint (shared by all results).
    """

    names: tuple[str, ...]
    spearman: Float[torch.Tensor, "task task"]
    spearman_per_layer: Float[torch.Tensor, "task task layer"]
    jaccard: Float[torch.Tensor, "task task"]
    jaccard_null_mean: Float[torch.Tensor, "task task"]
    jaccard_p_value: Float[torch.Tensor, "task task"]
    jaccard_p_value_exact: Float[torch.Tensor, "task task"]
    activated_jaccard: Float[torch.Tensor, "task task"]
    layers: tuple[int, ...]
    hook: str
    fraction: float
    n_draws: int
    seed: int
    fingerprint: dict[str, Any] = field(default_factory=dict)

    _MATRICES = (
        "spearman",
        "spearman_per_layer",
        "jaccard",
        "jaccard_null_mean",
        "jaccard_p_value",
        "jaccard_p_value_exact",
        "activated_jaccard",
    )

    def matrix(self, name: str) -> dict[str, dict[str, float | None]]:
        """One ``[task, task]`` matrix as nested dicts by task name (NaN as ``None``)."""
        if name not in self._MATRICES or name == "spearman_per_layer":
            raise SkillNeuronError(f"No [task, task] matrix {name!r}; choose one of {list(self._MATRICES)}.")
        values = getattr(self, name)
        return {
            row: {col: _json_floats(values[i, j]) for j, col in enumerate(self.names)}
            for i, row in enumerate(self.names)
        }

    def _most_similar(self) -> str | None:
        """The pair of different tasks with the highest Spearman correlation (None if there is none)."""
        pairs = self.spearman.double().clone().fill_diagonal_(torch.nan).nan_to_num(nan=-torch.inf)
        if bool(torch.isinf(pairs).all()):
            return None
        row, col = divmod(int(pairs.argmax()), len(self.names))
        return f"{self.names[row]} ~ {self.names[col]} (spearman {format_number(float(pairs[row, col]))})"

    def _matrix_table(self, caption: str, values: torch.Tensor) -> HtmlTable:
        rows = [[name, *values[index].tolist()] for index, name in enumerate(self.names)]
        return HtmlTable(["", *self.names], rows, caption)

    def __repr__(self) -> str:
        """One line: the tasks, where their neurons were compared, and the most similar pair."""
        parts: list[str | tuple[str, object]] = [("tasks", list(self.names)), ("hook", self.hook)]
        parts += [("layers", len(self.layers)), ("fraction", self.fraction)]
        most_similar = self._most_similar()
        if most_similar is not None:
            parts.append(f"most similar: {most_similar}")
        return text_repr(type(self).__name__, parts)

    def _repr_html_(self) -> str:
        """A notebook table: the settings, then the Spearman, skill-set Jaccard and p-value matrices."""
        facts: list[tuple[str, object]] = [
            ("tasks", list(self.names)),
            ("model", self.fingerprint.get("model_name") or self.fingerprint.get("class")),
            ("hook", self.hook),
            ("layers", list(self.layers)),
            ("skill set", f"top {self.fraction:g} of each layer"),
            ("random draws", f"{self.n_draws} (seed {self.seed})"),
            ("most similar", self._most_similar()),
        ]
        tables = [
            self._matrix_table("Spearman correlation of predictivity", self.spearman),
            self._matrix_table("Jaccard overlap of skill sets", self.jaccard),
            self._matrix_table("exact p-value of the overlap", self.jaccard_p_value_exact),
            self._matrix_table("Jaccard overlap of activated neurons", self.activated_jaccard),
        ]
        return html_repr(type(self).__name__, facts, tables)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (matrices as nested lists, NaN as ``None``)."""
        out: dict[str, Any] = {
            "kind": "compare",
            "names": list(self.names),
            "layers": list(self.layers),
            "hook": self.hook,
            "fraction": self.fraction,
            "n_draws": self.n_draws,
            "seed": self.seed,
            "fingerprint": self.fingerprint,
        }
        for name in self._MATRICES:
            out[name] = _json_floats(getattr(self, name))
        return out

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        extra_files: dict[str, str] | None = None,
    ) -> None:
        """Save to a new directory, atomically: ``compare.json``, ``compare.safetensors``, ``cfg.json``.

        ``compare.json`` holds everything in readable form; the other two let :meth:`load` check
        the files and read the tensors back. ``extra_files`` (name -> text, e.g. ``compare.html``)
        are written in the same atomic step.

        Raises:
            FileExistsError: If the directory exists and ``overwrite`` is false.
            SkillNeuronError: If the directory exists but is not a comparison this tool wrote.
        """
        tensors = {name: getattr(self, name).double().contiguous() for name in self._MATRICES}
        cfg = {key: value for key, value in self.to_dict().items() if key not in self._MATRICES}
        extra = {JSON_FILE: dumps_strict(self.to_dict()), **(extra_files or {})}
        save_result_dir(path, TENSOR_FILE, tensors, cfg, overwrite=overwrite, extra_files=extra)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TaskComparison:
        """Load a comparison saved by :meth:`save`.

        Raises:
            ResultFileError: If the directory is damaged or holds another kind of result.
        """
        tensors, cfg = load_result_dir(path, TENSOR_FILE, cls._MATRICES)
        if cfg.get("kind") != "compare":
            raise ResultFileError(f"{path} holds a {cfg.get('kind')!r} result, not a task comparison.")
        try:
            return cls(
                names=tuple(cfg["names"]),
                layers=tuple(cfg["layers"]),
                hook=cfg["hook"],
                fraction=float(cfg["fraction"]),
                n_draws=int(cfg["n_draws"]),
                seed=int(cfg["seed"]),
                fingerprint=cfg.get("fingerprint", {}),
                **{name: tensors[name] for name in cls._MATRICES},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ResultFileError(f"{path}/cfg.json does not match its tensors: {error}") from error


def _check_comparable(results: Mapping[str, PredictivityResult], allow_different_models: bool) -> None:
    names = list(results)
    first_name, first = names[0], results[names[0]]
    for name in names[1:]:
        other = results[name]
        for attribute in ("hook", "layers"):
            if getattr(other, attribute) != getattr(first, attribute):
                raise SkillNeuronError(
                    f"Results {first_name!r} and {name!r} differ in {attribute}: "
                    f"{getattr(first, attribute)!r} vs {getattr(other, attribute)!r}. Neurons are "
                    "matched by (layer, index), so record every task at the same hook and layers."
                )
        if other.n_neurons != first.n_neurons:
            raise SkillNeuronError(
                f"Results {first_name!r} and {name!r} differ in width: {first.n_neurons} vs "
                f"{other.n_neurons} neurons per layer."
            )
        prints = (first.fingerprint, other.fingerprint)
        if (prints[0] or prints[1]) and not same_model(*prints) and not allow_different_models:
            hashes = [str(p.get("weights_sha256"))[:12] for p in prints]
            raise SkillNeuronError(
                f"Results {first_name!r} and {name!r} come from different models (weights "
                f"{hashes[0]}… vs {hashes[1]}…). "
                "Neuron n of one model is unrelated to neuron n of another, so the comparison would be "
                "meaningless. Compare results of one model, or pass allow_different_models=True if the "
                "models share their neurons (e.g. checkpoints of one training run)."
            )


def compare_runs(
    results: Mapping[str, PredictivityResult],
    fraction: float = 0.02,
    *,
    n_draws: int = 1000,
    seed: int = 0,
    allow_different_models: bool = False,
) -> TaskComparison:
    """Compare every pair of tasks: rank correlation, skill-set overlap and activated-neuron overlap.

    Args:
        results: Task name -> its :class:`PredictivityResult` (at least two), all from one model.
        fraction: Share of neurons per layer in a skill set (the paper: 0.01 to 0.2).
        n_draws: Random draws per pair for the permutation baseline of the Jaccard index.
        seed: Seed of the draws (each pair uses it, so results do not depend on the order of pairs).
        allow_different_models: Compare results whose model fingerprints differ (only meaningful
            when the models share neurons, e.g. checkpoints of one training run).

    Returns:
        The :class:`TaskComparison`.

    Raises:
        SkillNeuronError: For fewer than two results, or results at different hooks, layers or
            widths, or (unless allowed) from different models.
    """
    if not isinstance(results, Mapping) or len(results) < 2:
        raise SkillNeuronError("compare_runs needs a dict of at least two results: {task name: result}.")
    for name, result in results.items():
        if not isinstance(result, PredictivityResult):
            raise SkillNeuronError(
                f"results[{name!r}] is a {type(result).__name__}, not a PredictivityResult."
            )
    _check_comparable(results, allow_different_models)
    names = tuple(str(name) for name in results)
    items = list(results.values())
    n_tasks, n_layers = len(items), items[0].n_layers
    matrices = {
        name: torch.full((n_tasks, n_tasks), float("nan"), dtype=torch.float64)
        for name in (
            "spearman",
            "jaccard",
            "jaccard_null_mean",
            "jaccard_p_value",
            "jaccard_p_value_exact",
            "activated_jaccard",
        )
    }
    per_layer = torch.full((n_tasks, n_tasks, n_layers), float("nan"), dtype=torch.float64)
    sets = [NeuronSet.top(result, fraction=fraction) for result in items]
    for i in range(n_tasks):
        for j in range(i, n_tasks):
            overlap = skill_overlap(sets[i], sets[j], n_draws=n_draws, seed=seed)
            values = {
                "spearman": spearman(items[i], items[j]),
                "jaccard": overlap.jaccard,
                "jaccard_null_mean": overlap.null_mean,
                "jaccard_p_value": overlap.p_value if i != j else float("nan"),
                "jaccard_p_value_exact": overlap.p_value_exact if i != j else float("nan"),
                "activated_jaccard": activated_overlap(items[i], items[j]),
            }
            for key, value in values.items():
                matrices[key][i, j] = matrices[key][j, i] = value
            per_layer[i, j] = per_layer[j, i] = spearman_per_layer(items[i], items[j])
    return TaskComparison(
        names=names,
        spearman_per_layer=per_layer,
        layers=items[0].layers,
        hook=items[0].hook,
        fraction=float(fraction),
        n_draws=n_draws,
        seed=seed,
        fingerprint=items[0].fingerprint,
        **matrices,
    )
