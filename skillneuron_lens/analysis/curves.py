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

Statistics (all seeded, so the same inputs give the same numbers; the functions are
:func:`~skillneuron_lens.stats.resampling.bootstrap_ci` and
:func:`~skillneuron_lens.stats.resampling.sign_flip_test`):

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

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float
from tqdm.auto import tqdm

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.intervene.hooks import perturb, perturbation_hooks
from skillneuron_lens.intervene.modes import Mode
from skillneuron_lens.io import check_tensor_shape, json_safe, json_tensor, read_json, write_json
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.notebook import HtmlTable, format_number, html_repr, text_repr
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.stats.resampling import bootstrap_ci, sign_flip_test

__all__ = [
    "Evaluator",
    "DEFAULT_FRACTIONS",
    "FORMAT_VERSION",
    "evaluate_correctness",
    "PerturbationCurve",
    "load_perturbation",
    "perturbation_curve",
]

Evaluator = Callable[[], Any]
DEFAULT_FRACTIONS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.10, 0.15, 0.20)
FORMAT_VERSION = 1
_KIND = "perturbation_curve"
_OPTIONAL = ("bottom", "skill_ci", "random_ci", "bottom_ci", "p_values", "statistic")
_TABLE_COLUMNS = (
    ("fraction", "fraction"), ("neurons", "neurons"), ("skill", "skill"), ("skill_low", "skill low"),
    ("skill_high", "skill high"), ("random", "random"), ("random_low", "random low"),
    ("random_high", "random high"), ("bottom", "bottom"), ("random_minus_skill", "random - skill"),
    ("p_value", "p"), ("draw_p_value", "draw p"),
)
"""The columns of a curve's notebook table: ``(key of a table() row, header)``."""


# ---- evaluation -------------------------------------------------------------------------------
def evaluate_correctness(
    evaluate: Evaluator, expected: int | None, what: str
) -> Bool[torch.Tensor, " example"]:
    """Call an evaluator and check that it returned per-example correctness.

    Args:
        evaluate: No-argument callable returning per-example correctness ``[example]`` (bool, or 0/1
            integers).
        expected: The number of examples it must score (the clean model's), or ``None`` for the first
            call.
        what: The condition, for error messages (e.g. ``"skill neurons, p=0.02"``).

    Returns:
        A bool tensor ``[example]`` on the CPU.

    Raises:
        SkillNeuronError: If the output is not a non-empty 1-D bool or 0/1 tensor of ``expected``
            entries.
    """
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


# ---- the curve --------------------------------------------------------------------------------
def _listed(values: torch.Tensor | None) -> list[Any] | None:
    return None if values is None else values.tolist()


@dataclass(frozen=True, repr=False)
class PerturbationCurve:
    """Task accuracy under perturbation of skill, random and bottom neuron sets, per fraction.

    :func:`perturbation_curve` fills every attribute. A curve read from a file written by hand (or by
    an older tool, see :func:`load_perturbation`) may lack the bottom set, the intervals, the p-values
    and the statistic: those are then ``None``.

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
        mode: The perturbation mode (``""`` if not recorded).
        config: Settings, set sizes, test methods and the model fingerprint.
        name: A label (e.g. the task) when several curves share a file; ``""`` otherwise.
    """

    fractions: tuple[float, ...]
    clean_accuracy: float
    skill: Float[torch.Tensor, " fraction"]
    random: Float[torch.Tensor, "draw fraction"]
    bottom: Float[torch.Tensor, " fraction"] | None = None
    skill_ci: Float[torch.Tensor, "fraction 2"] | None = None
    random_ci: Float[torch.Tensor, "fraction 2"] | None = None
    bottom_ci: Float[torch.Tensor, "fraction 2"] | None = None
    p_values: Float[torch.Tensor, " fraction"] | None = None
    statistic: Float[torch.Tensor, " fraction"] | None = None
    mode: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        """Check that every tensor has one entry (or column) per fraction."""
        n = len(self.fractions)
        check_tensor_shape("skill", self.skill, (n,))
        for name, shape in zip(_OPTIONAL, ((n,), (n, 2), (n, 2), (n, 2), (n,), (n,)), strict=True):
            if getattr(self, name) is not None:
                check_tensor_shape(name, getattr(self, name), shape)
        random = self.random
        if not isinstance(random, torch.Tensor):
            raise SkillNeuronError(f"random must be a tensor, got {type(random).__name__}.")
        if random.ndim != 2 or random.shape[1] != n or random.shape[0] < 1:
            raise SkillNeuronError(f"random has shape {tuple(random.shape)}, expected [draw, {n}].")

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
        """One row per fraction, for printing (e.g. ``pandas.DataFrame(curve.table())``).

        Entries the curve lacks (see the class docstring) are ``None``.
        """

        def entry(values: torch.Tensor | None, *index: int) -> float | None:
            return None if values is None else float(values[index])

        sizes = self.config.get("set_sizes", [None] * len(self.fractions))
        rows = []
        for i, fraction in enumerate(self.fractions):
            rows.append(
                {
                    "fraction": fraction,
                    "neurons": sizes[i] if i < len(sizes) else None,
                    "clean": self.clean_accuracy,
                    "skill": float(self.skill[i]),
                    "skill_low": entry(self.skill_ci, i, 0),
                    "skill_high": entry(self.skill_ci, i, 1),
                    "random": float(self.random[:, i].mean()),
                    "random_low": entry(self.random_ci, i, 0),
                    "random_high": entry(self.random_ci, i, 1),
                    "bottom": entry(self.bottom, i),
                    "bottom_low": entry(self.bottom_ci, i, 0),
                    "bottom_high": entry(self.bottom_ci, i, 1),
                    "random_minus_skill": entry(self.statistic, i),
                    "p_value": entry(self.p_values, i),
                    "draw_p_value": float(self.draw_p_values[i]),
                }
            )
        return rows

    def _headline(self) -> str:
        """Skill against random accuracy at the largest fraction, with the paired p-value if recorded."""
        last = len(self.fractions) - 1
        text = (
            f"at {self.fractions[last]:g}: skill {format_number(float(self.skill[last]))} vs random "
            f"{format_number(float(self.random_mean[last]))}"
        )
        return text if self.p_values is None else f"{text}, p={format_number(float(self.p_values[last]))}"

    def _facts(self) -> list[tuple[str, object]]:
        named = [("name", self.name), ("mode", self.mode)]
        return [(key, value) for key, value in named if value] + [("fractions", list(self.fractions))]

    def __repr__(self) -> str:
        """One line: name, mode, fractions, clean accuracy and the largest fraction's skill vs random."""
        parts: list[str | tuple[str, object]] = list(self._facts())
        clean = format_number(self.clean_accuracy)
        parts += [f"clean={clean}", f"draws={self.random.shape[0]}", self._headline()]
        return text_repr(type(self).__name__, parts)

    def _repr_html_(self) -> str:
        """A notebook table: the settings, then one row per fraction with intervals and p-values."""
        facts = [
            *self._facts(),
            ("clean accuracy", self.clean_accuracy),
            ("random draws", int(self.random.shape[0])),
            ("largest fraction", self._headline()),
        ]
        if self.config:
            facts.append(("settings", self.config))
        table = HtmlTable.from_records(self.table(), _TABLE_COLUMNS, "accuracy per fraction")
        return html_repr(type(self).__name__, facts, [table])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict that :meth:`from_dict` reads back (missing entries as ``None``)."""
        payload = {
            "kind": _KIND,
            "format_version": FORMAT_VERSION,
            "fractions": list(self.fractions),
            "clean_accuracy": self.clean_accuracy,
            "skill": self.skill.tolist(),
            "random": self.random.tolist(),
            **{name: _listed(getattr(self, name)) for name in _OPTIONAL},
            "mode": self.mode,
            "config": self.config,
        }
        if self.name:
            payload["name"] = self.name
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any], *, name: str = "") -> PerturbationCurve:
        """Rebuild a curve from :meth:`to_dict`'s output, or from a curve object written by hand.

        Needs ``fractions``, ``clean_accuracy``, ``skill`` and ``random`` (``[draw, fraction]``, or one
        row ``[fraction]``); ``bottom``, ``skill_ci``, ``random_ci``, ``bottom_ci``, ``p_values``,
        ``statistic``, ``mode``, ``config`` and ``name`` (or ``task``) may be missing or ``null``.
        Unknown entries are ignored.

        Args:
            payload: The dict.
            name: The label when the dict has no ``name`` or ``task`` entry.

        Raises:
            SkillNeuronError: If a needed entry is missing, or an entry is not numbers of the right shape.
        """
        if not isinstance(payload, Mapping):
            raise SkillNeuronError(f"A curve must be a JSON object, got {type(payload).__name__}.")
        if payload.get("kind", _KIND) != _KIND:
            raise SkillNeuronError(f"The dict holds a {payload.get('kind')!r}, not a perturbation curve.")
        missing = [key for key in ("fractions", "clean_accuracy", "skill", "random") if key not in payload]
        if missing:
            raise SkillNeuronError(f"The curve is missing {', '.join(missing)}.")
        try:
            fractions = tuple(float(f) for f in payload["fractions"])
            clean = float(payload["clean_accuracy"])
            config = dict(payload.get("config") or {})
        except (TypeError, ValueError) as error:
            raise SkillNeuronError(f"fractions, clean_accuracy or config is malformed: {error}") from error
        random = json_tensor(payload, "random")
        return cls(
            fractions=fractions,
            clean_accuracy=clean,
            skill=json_tensor(payload, "skill"),
            random=random[None] if random.ndim == 1 else random,
            **{key: None if payload.get(key) is None else json_tensor(payload, key) for key in _OPTIONAL},
            mode=str(payload.get("mode") or ""),
            config=config,
            name=str(payload.get("name") or payload.get("task") or name),
        )

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the curve to a JSON file, atomically (a temporary file renamed into place).

        Raises:
            FileExistsError: If the file exists and ``overwrite`` is false.
        """
        return write_json(path, self.to_dict(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PerturbationCurve:
        """Read a curve written by :meth:`save` (for files with several curves: :func:`load_perturbation`).

        Raises:
            ResultFileError: If the file is missing, damaged or holds something else.
        """
        payload = read_json(path, _KIND)
        try:
            return cls.from_dict(payload)
        except SkillNeuronError as error:
            raise ResultFileError(f"{path} is not a valid perturbation curve: {error}") from error


def load_perturbation(path: str | os.PathLike[str]) -> list[PerturbationCurve]:
    """Read one or several perturbation curves from a JSON file.

    Accepted layouts: one curve object (what :meth:`PerturbationCurve.save` writes, or a hand-written
    object, see :meth:`PerturbationCurve.from_dict`); a list of them; ``{"curves": [...]}`` or
    ``{"curves": {name: curve}}``; or ``{name: curve, ...}``. A curve without its own ``name`` (or
    ``task``) is named by its key, or ``"curve N"`` in a list.

    Args:
        path: The JSON file.

    Returns:
        The curves, in file order.

    Raises:
        SkillNeuronError: If the file cannot be read, is not JSON or holds no well-formed curve
            (:class:`~skillneuron_lens.errors.ResultFileError` for an unreadable file).
    """
    data = read_json(path)
    if isinstance(data, dict) and "curves" in data:
        data = data["curves"]
    if isinstance(data, dict) and "fractions" in data:
        items: list[tuple[str, Any]] = [("", data)]
    elif isinstance(data, list):
        items = [(f"curve {index + 1}", entry) for index, entry in enumerate(data)]
    elif isinstance(data, dict) and data and all(isinstance(entry, dict) for entry in data.values()):
        items = [(str(name), entry) for name, entry in data.items()]
    else:
        raise SkillNeuronError(f"{path} holds no perturbation curve (expected an object with 'fractions').")
    if not items:
        raise SkillNeuronError(f"{path} holds an empty list of curves.")
    curves = []
    for name, entry in items:
        try:
            curves.append(PerturbationCurve.from_dict(entry, name=name))
        except SkillNeuronError as error:
            raise SkillNeuronError(f"{path} ({name or 'curve'}): {error}") from error
    return curves


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
            out = evaluate_correctness(evaluate, None, what)
        elif len(neurons) == 0:
            out = clean
        else:
            with perturb(model, neurons, mode, seed=noise_seed, **options):
                out = evaluate_correctness(evaluate, int(clean.numel()), what)
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
        "mode_options": json_safe(mode_kwargs),
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
