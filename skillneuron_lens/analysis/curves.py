"""Perturbation curves: how much accuracy falls when skill neurons are perturbed, against controls.

The causal test of the paper: for growing fractions ``p`` of each layer's neurons, perturb the top-``p``
skill neurons, ``draws`` layer-matched random sets of the same size, and the ``p`` least predictive
neurons ("bottom"), and compare task accuracy. Everything here is independent of how the classifier
is built: the caller passes an *evaluator*, a function with no arguments that runs the task's fixed
evaluation split through the model (under whatever hooks are active) and returns per-example
correctness, a bool tensor ``[example]`` in a fixed example order. The evaluator must be
deterministic apart from the perturbation (same examples, same order, same batches). Each condition
gets a fresh perturbation context, so its random draws do not depend on the conditions before it.

Cost: one evaluation for the clean model plus one per perturbed condition (``len(fractions) * (2 +
draws)``); no other forward pass is run. A fraction too small to select one neuron per layer is
refused before the first evaluation.

Statistics (all seeded, so the same inputs give the same numbers):

* Confidence intervals are percentile bootstrap intervals over examples (``n_bootstrap`` resamples;
  the same resampled example sets for every condition). For the random control the per-example
  correctness is first averaged over the draws, so its interval is conditional on the drawn sets;
  the spread between draws is in :attr:`PerturbationCurve.random`.
* The test of "skill neurons hurt more than random ones" is a paired sign-flip permutation test per
  fraction on ``d_i = mean over draws of random_correct_i - skill_correct_i``, statistic
  ``mean(d)``, one-sided (large values favour the hypothesis). When ``2**(number of nonzero d_i)``
  is at most ``n_permutations`` the null distribution is enumerated exactly (``p = #{T* >= T} /
  2**m``); otherwise ``n_permutations`` random sign vectors are drawn and ``p = (1 + #{T* >= T}) /
  (1 + n_permutations)``, which is never zero and valid at any number of permutations.
  This test is conditional on the random sets that were drawn: it asks whether the skill set hurts
  more than *these* sets, on these examples.
* :attr:`PerturbationCurve.draw_p_values` asks the other question, whether the skill set hurts more
  than layer-matched random sets in general: the rank of the skill accuracy among the random draws,
  ``p = (1 + #{draws with accuracy <= skill}) / (1 + draws)`` (valid when the skill set is treated as
  one more exchangeable draw under the null). Its smallest value is ``1 / (1 + draws)``, so a level of
  0.01 needs at least 99 draws.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float
from tqdm.auto import tqdm

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.intervene.hooks import Mode, perturb, perturbation_hooks
from skillneuron_lens.io import atomic_write_text, dumps_strict
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.predictivity.result import PredictivityResult

__all__ = [
    "Evaluator",
    "DEFAULT_FRACTIONS",
    "FORMAT_VERSION",
    "bootstrap_ci",
    "sign_flip_test",
    "PerturbationCurve",
    "perturbation_curve",
]

Evaluator = Callable[[], Any]
DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10, 0.15, 0.20)
FORMAT_VERSION = 1
_CHUNK_ELEMENTS = 1 << 22  # bound on temporary tensors in the bootstrap and the permutation test


# ---- evaluation -------------------------------------------------------------------------------
def _correctness(evaluate: Evaluator, expected: int | None, what: str) -> Bool[torch.Tensor, " example"]:
    """Call the evaluator and check it returned per-example correctness."""
    out = evaluate()
    tensor = torch.as_tensor(out).detach().cpu()
    if tensor.ndim != 1 or tensor.numel() == 0:
        raise SkillNeuronError(
            f"The evaluator must return per-example correctness, a non-empty bool tensor [example]; "
            f"for {what} it returned shape {tuple(tensor.shape)}."
        )
    if tensor.dtype != torch.bool:
        if (
            tensor.is_floating_point()
            or tensor.is_complex()
            or not bool(((tensor == 0) | (tensor == 1)).all())
        ):
            raise SkillNeuronError(
                f"The evaluator must return bool (or 0/1) per-example correctness; for {what} it returned "
                f"{tensor.dtype} values."
            )
        tensor = tensor.bool()
    if expected is not None and tensor.numel() != expected:
        raise SkillNeuronError(
            f"The evaluator scored {tensor.numel()} examples for {what} but {expected} for the clean "
            "model: it must score the same examples, in the same order, every time."
        )
    return tensor


# ---- statistics -------------------------------------------------------------------------------
def bootstrap_ci(
    values: Float[torch.Tensor, "condition example"],
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> Float[torch.Tensor, "condition 2"]:
    """Percentile bootstrap intervals of per-condition means, resampling examples (paired).

    Every condition is averaged over the same resampled example sets.

    Args:
        values: Per-example values (e.g. 0/1 correctness) of each condition.
        confidence: Coverage of the interval, in ``(0, 1)``.
        n_bootstrap: Number of resamples.
        seed: Seed of the resampling.

    Returns:
        ``[low, high]`` per condition (float64).
    """
    if not 0.0 < confidence < 1.0:
        raise SkillNeuronError(f"confidence must be in (0, 1), got {confidence!r}.")
    if n_bootstrap < 1:
        raise SkillNeuronError(f"n_bootstrap must be at least 1, got {n_bootstrap}.")
    data = values.double()
    n_conditions, n_examples = data.shape
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n_conditions * n_examples))
    means = []
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        index = torch.randint(n_examples, (size, n_examples), generator=generator)
        means.append(data[:, index].mean(dim=2))  # [condition, size]
    draws = torch.cat(means, dim=1)
    alpha = (1.0 - confidence) / 2.0
    quantiles = torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64)
    return torch.quantile(draws, quantiles, dim=1).T.contiguous()


def sign_flip_test(
    differences: Float[torch.Tensor, " example"],
    *,
    n_permutations: int = 10000,
    seed: int = 0,
) -> tuple[float, float, str]:
    """One-sided paired sign-flip permutation test that the mean difference is above zero.

    Under the null hypothesis each paired difference is symmetric around zero, so flipping its sign
    leaves the distribution unchanged. Differences of exactly zero do not change under a flip and are
    left out of the enumeration.

    Args:
        differences: Paired differences ``d_i`` (e.g. random-set correctness minus skill-set
            correctness of example ``i``).
        n_permutations: Random sign vectors when exact enumeration would need more than this many.
        seed: Seed of the random sign vectors.

    Returns:
        ``(statistic, p_value, method)``: ``mean(d)``, the one-sided p-value, and ``"exact"`` or
        ``"monte carlo"``.
    """
    if n_permutations < 1:
        raise SkillNeuronError(f"n_permutations must be at least 1, got {n_permutations}.")
    d = differences.double().flatten()
    if d.numel() == 0:
        raise SkillNeuronError("differences is empty: the test needs at least one example.")
    statistic = float(d.mean())
    nonzero = d[d != 0]
    m = int(nonzero.numel())
    observed = float(nonzero.sum())
    tolerance = 1e-9 * (float(nonzero.abs().sum()) + 1.0)
    if m == 0:
        return statistic, 1.0, "exact"
    if 2**m <= n_permutations:
        codes = torch.arange(2**m, dtype=torch.int64)
        bits = (codes[:, None] >> torch.arange(m, dtype=torch.int64)) & 1
        totals = ((1 - 2 * bits).double() * nonzero).sum(dim=1)
        return statistic, float((totals >= observed - tolerance).sum()) / 2**m, "exact"
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, _CHUNK_ELEMENTS // m)
    hits = 0
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        signs = torch.randint(2, (size, m), generator=generator).double() * 2 - 1
        hits += int(((signs * nonzero).sum(dim=1) >= observed - tolerance).sum())
    return statistic, (1 + hits) / (1 + n_permutations), "monte carlo"


# ---- saving -----------------------------------------------------------------------------------
def _json_safe(value: Any) -> Any:
    """Config values as JSON: tensors by shape, callables by name, the rest as is or by repr."""
    if isinstance(value, torch.Tensor):
        return {"tensor": {"shape": list(value.shape), "dtype": str(value.dtype)}}
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        return {"callable": getattr(value, "__qualname__", repr(value))}
    return repr(value)


def _write_json(path: str | os.PathLike[str], payload: dict[str, Any], overwrite: bool) -> Path:
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists; nothing was written. Choose another file name or pass "
            "overwrite=True to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(target, dumps_strict(payload, sort_keys=True))


def _read_json(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    source = Path(path)
    if not source.is_file():
        raise ResultFileError(f"{source} does not exist or is not a file.")
    try:
        payload = json.loads(source.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultFileError(
            f"{source} is not a readable JSON file ({error}); it may be damaged."
        ) from error
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise ResultFileError(f"{source} holds a {found!r} result, not a {kind!r}.")
    return payload


def _tensor(payload: Mapping[str, Any], name: str) -> torch.Tensor:
    try:
        return torch.tensor(payload[name], dtype=torch.float64)
    except KeyError as error:
        raise SkillNeuronError(f"The dict has no {name!r} entry.") from error
    except (TypeError, ValueError) as error:
        raise SkillNeuronError(f"{name!r} is not a rectangular list of numbers: {error}") from error


def _check_shape(name: str, tensor: Any, shape: tuple[int, ...]) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise SkillNeuronError(f"{name} must be a tensor, got {type(tensor).__name__}.")
    if tuple(tensor.shape) != shape:
        raise SkillNeuronError(f"{name} has shape {tuple(tensor.shape)}, expected {shape}.")


# ---- the curve --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerturbationCurve:
    """Task accuracy under perturbation of skill, random and bottom neuron sets, per fraction.

    Attributes:
        fractions: Fraction ``p`` of each layer's neurons perturbed, one entry per column.
        clean_accuracy: Accuracy without perturbation.
        skill: Accuracy with the top-``p`` skill neurons perturbed.
        random: Accuracy with each layer-matched random set perturbed (one row per draw).
        bottom: Accuracy with the ``p`` least predictive neurons perturbed.
        skill_ci: Bootstrap interval ``[low, high]`` of ``skill``.
        random_ci: Bootstrap interval of the accuracy averaged over the random draws.
        bottom_ci: Bootstrap interval of ``bottom``.
        p_values: One-sided paired sign-flip p-value that skill neurons hurt more than random ones.
        statistic: Mean paired difference, random-draw-averaged accuracy minus skill accuracy.
        mode: The perturbation mode.
        config: Settings, set sizes, test methods and the model fingerprint.
    """

    fractions: tuple[float, ...]
    clean_accuracy: float
    skill: Float[torch.Tensor, " fraction"]
    random: Float[torch.Tensor, "draw fraction"]
    bottom: Float[torch.Tensor, " fraction"]
    skill_ci: Float[torch.Tensor, "fraction 2"]
    random_ci: Float[torch.Tensor, "fraction 2"]
    bottom_ci: Float[torch.Tensor, "fraction 2"]
    p_values: Float[torch.Tensor, " fraction"]
    statistic: Float[torch.Tensor, " fraction"]
    mode: str
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check that every tensor has one entry (or column) per fraction."""
        n = len(self.fractions)
        for name in ("skill", "bottom", "p_values", "statistic"):
            _check_shape(name, getattr(self, name), (n,))
        for name in ("skill_ci", "random_ci", "bottom_ci"):
            _check_shape(name, getattr(self, name), (n, 2))
        if (
            not isinstance(self.random, torch.Tensor)
            or self.random.ndim != 2
            or self.random.shape[1] != n
            or self.random.shape[0] < 1
        ):
            raise SkillNeuronError(f"random has shape {tuple(self.random.shape)}, expected [draw, {n}].")

    @property
    def random_mean(self) -> Float[torch.Tensor, " fraction"]:
        """Accuracy averaged over the random draws."""
        return self.random.mean(dim=0)

    @property
    def draw_p_values(self) -> Float[torch.Tensor, " fraction"]:
        """Rank p-value of the skill accuracy among the random draws, per fraction.

        ``(1 + number of draws whose accuracy is at most the skill accuracy) / (1 + draws)``: small
        when the skill set hurts more than every random set. Ties count against the hypothesis.
        """
        at_most_skill = (self.random <= self.skill.unsqueeze(0)).sum(dim=0).double()
        return (1.0 + at_most_skill) / (1.0 + self.random.shape[0])

    def table(self) -> list[dict[str, Any]]:
        """One row per fraction, for printing (e.g. ``pandas.DataFrame(curve.table())``)."""
        sizes = self.config.get("set_sizes", [None] * len(self.fractions))
        rows = []
        for i, fraction in enumerate(self.fractions):
            rows.append(
                {
                    "fraction": fraction,
                    "neurons": sizes[i] if i < len(sizes) else None,
                    "clean": self.clean_accuracy,
                    "skill": float(self.skill[i]),
                    "skill_low": float(self.skill_ci[i, 0]),
                    "skill_high": float(self.skill_ci[i, 1]),
                    "random": float(self.random[:, i].mean()),
                    "random_low": float(self.random_ci[i, 0]),
                    "random_high": float(self.random_ci[i, 1]),
                    "bottom": float(self.bottom[i]),
                    "bottom_low": float(self.bottom_ci[i, 0]),
                    "bottom_high": float(self.bottom_ci[i, 1]),
                    "random_minus_skill": float(self.statistic[i]),
                    "p_value": float(self.p_values[i]),
                    "draw_p_value": float(self.draw_p_values[i]),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict that :meth:`from_dict` reads back."""
        return {
            "kind": "perturbation_curve",
            "format_version": FORMAT_VERSION,
            "fractions": list(self.fractions),
            "clean_accuracy": self.clean_accuracy,
            **{
                name: getattr(self, name).tolist()
                for name in (
                    "skill",
                    "random",
                    "bottom",
                    "skill_ci",
                    "random_ci",
                    "bottom_ci",
                    "p_values",
                    "statistic",
                )
            },
            "mode": self.mode,
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> PerturbationCurve:
        """Rebuild a curve from :meth:`to_dict`'s output.

        Raises:
            SkillNeuronError: If an entry is missing or has the wrong shape.
        """
        if payload.get("kind", "perturbation_curve") != "perturbation_curve":
            raise SkillNeuronError(f"The dict holds a {payload.get('kind')!r}, not a perturbation curve.")
        try:
            fractions = tuple(float(f) for f in payload["fractions"])
            clean, mode = float(payload["clean_accuracy"]), str(payload["mode"])
        except (KeyError, TypeError, ValueError) as error:
            raise SkillNeuronError(f"The dict lacks fractions, clean_accuracy or mode: {error}") from error
        random = _tensor(payload, "random")
        return cls(
            fractions=fractions,
            clean_accuracy=clean,
            skill=_tensor(payload, "skill"),
            random=random,
            bottom=_tensor(payload, "bottom"),
            skill_ci=_tensor(payload, "skill_ci"),
            random_ci=_tensor(payload, "random_ci"),
            bottom_ci=_tensor(payload, "bottom_ci"),
            p_values=_tensor(payload, "p_values"),
            statistic=_tensor(payload, "statistic"),
            mode=mode,
            config=dict(payload.get("config", {})),
        )

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the curve to a JSON file, atomically (a temporary file renamed into place).

        Raises:
            FileExistsError: If the file exists and ``overwrite`` is false.
        """
        return _write_json(path, self.to_dict(), overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PerturbationCurve:
        """Read a curve written by :meth:`save`.

        Raises:
            ResultFileError: If the file is missing, damaged or holds something else.
        """
        payload = _read_json(path, "perturbation_curve")
        try:
            return cls.from_dict(payload)
        except SkillNeuronError as error:
            raise ResultFileError(f"{path} is not a valid perturbation curve: {error}") from error


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(f) for f in fractions)
    if not values:
        raise SkillNeuronError("fractions is empty: give at least one fraction in (0, 1].")
    bad = [f for f in values if not 0.0 < f <= 1.0]
    if bad:
        raise SkillNeuronError(f"fractions must lie in (0, 1]; got {bad}.")
    if len(set(values)) != len(values):
        raise SkillNeuronError(f"fractions has repeated entries: {list(values)}.")
    return values


def perturbation_curve(
    model: Any,
    evaluate: Evaluator,
    result: PredictivityResult,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    mode: Mode | str = "gaussian",
    draws: int = 5,
    seed: int = 0,
    n_permutations: int = 10000,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    progress: bool = True,
    **mode_kwargs: Any,
) -> PerturbationCurve:
    """Accuracy when skill, random and bottom neurons are perturbed, for each fraction ``p``.

    For each ``p``: the skill set is ``NeuronSet.top(result, fraction=p)``, the controls are
    ``draws`` layer-matched random sets (``skill.random_controls(draws, seed)``; the same seeds at
    every ``p``, so a draw's sets are nested as ``p`` grows, like the skill sets), and the bottom set
    is ``NeuronSet.top(result, fraction=p, lowest=True)``. Noise (``"gaussian"``, ``"resample"``) is
    seeded with ``seed`` for the skill and bottom sets and ``seed + 1 + draw`` for random draw
    ``draw``. With ``mode="mean"`` and no ``mean=``, the result's baseline (the train-split mean at the
    probed slots, averaged over runs, subtasks and slots) is used, as the paper.

    Args:
        model: The model the evaluator runs (hooks are attached to it).
        evaluate: No-argument callable returning per-example correctness ``[example]`` (bool) on a
            fixed evaluation split; see the module docstring.
        result: Predictivity that ranks the neurons.
        fractions: Fractions of each layer's neurons to perturb.
        mode: Perturbation mode (see :func:`skillneuron_lens.intervene.hooks.perturb`).
        draws: Random control sets per fraction.
        seed: Seed of the random sets, the noise, the bootstrap and the permutation test.
        n_permutations: Sign vectors of the Monte Carlo permutation test (exact enumeration is used
            when it needs no more than this many).
        n_bootstrap: Bootstrap resamples for the confidence intervals.
        confidence: Coverage of the confidence intervals.
        progress: Show a progress bar over the evaluations.
        **mode_kwargs: Options of the mode: ``std``, ``mean``, ``value``, ``factor``, ``pool``,
            ``per_position``, ``where``, ``layers`` (see
            :func:`skillneuron_lens.intervene.hooks.perturbation_hooks`).

    Returns:
        The :class:`PerturbationCurve`.

    Raises:
        SkillNeuronError: For bad settings (checked before any evaluation) or an evaluator that
            does not return per-example correctness for the same examples every time.
    """
    values = _check_fractions(fractions)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise SkillNeuronError(f"draws must be an int of at least 1, got {draws!r}.")
    if n_permutations < 1:
        raise SkillNeuronError(f"n_permutations must be at least 1, got {n_permutations}.")
    if not 0.0 < confidence < 1.0:
        raise SkillNeuronError(f"confidence must be in (0, 1), got {confidence!r}.")
    if n_bootstrap < 1:
        raise SkillNeuronError(f"n_bootstrap must be at least 1, got {n_bootstrap}.")
    if not callable(evaluate):
        raise SkillNeuronError("evaluate must be a callable with no arguments returning correctness.")
    if "seed" in mode_kwargs:
        raise SkillNeuronError("Pass seed= once: it seeds the sets, the noise and the statistics.")
    options = dict(mode_kwargs)
    mean_source = None
    if mode == "mean" and options.get("mean") is None:
        options["mean"] = result.mean_baselines().float()
        mean_source = "result.baseline averaged over runs, subtasks and slots"

    skills = [NeuronSet.top(result, fraction=f) for f in values]
    bottoms = [NeuronSet.top(result, fraction=f, lowest=True) for f in values]
    controls = [skill.random_controls(draws, seed) for skill in skills]
    perturbation_hooks(model, skills[-1], mode, seed=seed, **options)  # fail early on bad options

    conditions = 1 + len(values) * (2 + draws)
    bar = tqdm(total=conditions, desc=f"perturbation ({mode})", disable=not progress, unit="eval")
    clean = torch.zeros(0, dtype=torch.bool)

    def run(neurons: NeuronSet | None, noise_seed: int, what: str) -> torch.Tensor:
        if neurons is None:
            out = _correctness(evaluate, None, what)
        elif len(neurons) == 0:
            out = clean
        else:
            with perturb(model, neurons, mode, seed=noise_seed, **options):
                out = _correctness(evaluate, int(clean.numel()), what)
        bar.update()
        return out

    skill_rows, bottom_rows, random_rows = [], [], []
    with bar:
        clean = run(None, seed, "the clean model")
        n = int(clean.numel())
        for i, fraction in enumerate(values):
            skill_rows.append(run(skills[i], seed, f"skill neurons, p={fraction}"))
            random_rows.append(
                torch.stack(
                    [
                        run(control, seed + 1 + d, f"random draw {d}, p={fraction}")
                        for d, control in enumerate(controls[i])
                    ]
                )
            )
            bottom_rows.append(run(bottoms[i], seed, f"bottom neurons, p={fraction}"))
    skill_correct = torch.stack(skill_rows).double()  # [fraction, example]
    random_correct = torch.stack(random_rows).double()  # [fraction, draw, example]
    bottom_correct = torch.stack(bottom_rows).double()
    random_mean = random_correct.mean(dim=1)

    intervals = bootstrap_ci(
        torch.cat([skill_correct, random_mean, bottom_correct]),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    f = len(values)
    tests = [
        sign_flip_test(random_mean[i] - skill_correct[i], n_permutations=n_permutations, seed=seed + i)
        for i in range(f)
    ]
    config = {
        "fractions": list(values),
        "mode": mode,
        "mode_options": _json_safe(mode_kwargs),
        "mean_source": mean_source,
        "draws": draws,
        "seed": seed,
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "confidence": confidence,
        "n_examples": n,
        "set_sizes": [len(s) for s in skills],
        "test": "paired sign-flip permutation, one-sided (skill hurts more than random)",
        "test_methods": [method for _, _, method in tests],
        "ci": "percentile bootstrap over examples",
        "hook": result.hook,
        "layers": list(result.layers),
        "fingerprint": result.fingerprint,
    }
    return PerturbationCurve(
        fractions=values,
        clean_accuracy=float(clean.double().mean()),
        skill=skill_correct.mean(dim=1),
        random=random_correct.mean(dim=2).T.contiguous(),
        bottom=bottom_correct.mean(dim=1),
        skill_ci=intervals[:f],
        random_ci=intervals[f : 2 * f],
        bottom_ci=intervals[2 * f :],
        p_values=torch.tensor([p for _, p, _ in tests], dtype=torch.float64),
        statistic=torch.tensor([s for s, _, _ in tests], dtype=torch.float64),
        mode=str(mode),
        config=config,
    )
