"""Task specificity: perturb one task's skill neurons and measure every task (the cross-task matrix).

The paper's evidence that skill neurons are task-specific: perturbing a task's own skill neurons should
hurt it more than perturbing another task's, and more than perturbing layer-matched random neurons.
:func:`cross_task_matrix` evaluates every (neuron set, task) pair once, keeps each evaluation's
per-example correctness, and :meth:`CrossTaskMatrix.paired_test` compares two rows of the matrix on one
task's examples with the paired sign-flip test of :mod:`skillneuron_lens.stats.resampling`.

Rows may be more than tasks: extra neuron sets (e.g. ``"random 1"``, from
:meth:`~skillneuron_lens.neurons.sets.NeuronSet.random_controls`) named in ``controls`` are the random
baseline of :meth:`CrossTaskMatrix.specificity`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float
from tqdm.auto import tqdm

from skillneuron_lens.analysis.curves import FORMAT_VERSION, Evaluator, evaluate_correctness
from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.intervene.hooks import perturb, perturbation_hooks
from skillneuron_lens.intervene.modes import Mode, check_options
from skillneuron_lens.io import check_tensor_shape, json_safe, json_tensor, read_json, write_json
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.stats.resampling import sign_flip_test
from skillneuron_lens.stats.significance import adjust_p_values

__all__ = [
    "KIND",
    "CrossTaskMatrix",
    "cross_task_matrix",
]

KIND = "cross_task_matrix"
_GENERIC = ("where", "layers")  # perturbation_hooks arguments that are not mode options


def _bits(row: torch.Tensor) -> str:
    """Per-example correctness as a string of ``0`` and ``1`` (compact in JSON)."""
    return "".join("1" if bit else "0" for bit in row.tolist())


def _from_bits(text: Any, name: str) -> Bool[torch.Tensor, " example"]:
    if not isinstance(text, str) or set(text) - {"0", "1"}:
        raise SkillNeuronError(f"{name} must be a string of 0 and 1.")
    return torch.tensor([char == "1" for char in text], dtype=torch.bool)


def _check_controls(controls: Sequence[str], rows: Sequence[str], tasks: Sequence[str]) -> None:
    """Controls must be rows of the matrix and must not be evaluated tasks."""
    unknown = [name for name in controls if name not in rows]
    if unknown:
        raise SkillNeuronError(f"controls {unknown} are not among the neuron sets {list(rows)}.")
    clash = [name for name in controls if name in tasks]
    if clash:
        raise SkillNeuronError(
            f"controls {clash} are also evaluated tasks: a task's own set cannot be its random control; "
            "rename the control sets."
        )


@dataclass(frozen=True)
class CrossTaskMatrix:
    """Accuracy on each task when another task's skill neurons are perturbed.

    Attributes:
        perturbed_tasks: Whose neurons were perturbed (rows); may include random control sets.
        evaluated_tasks: Whose accuracy was measured (columns).
        accuracy: ``[perturbed, evaluated]`` accuracies.
        clean_accuracy: ``[evaluated]`` accuracies without perturbation.
        mode: The perturbation mode.
        config: Settings.
        correct: Per evaluated task, the per-example correctness ``[perturbed, example]`` behind
            ``accuracy`` (empty for matrices saved without it).
        clean_correct: Per evaluated task, the clean per-example correctness ``[example]``.
        controls: Rows that are random control sets, not tasks.
    """

    perturbed_tasks: tuple[str, ...]
    evaluated_tasks: tuple[str, ...]
    accuracy: Float[torch.Tensor, "perturbed evaluated"]
    clean_accuracy: Float[torch.Tensor, " evaluated"]
    mode: str
    config: dict[str, Any] = field(default_factory=dict)
    correct: tuple[Bool[torch.Tensor, "perturbed example"], ...] = ()
    clean_correct: tuple[Bool[torch.Tensor, " example"], ...] = ()
    controls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the shapes against the task names."""
        rows, columns = len(self.perturbed_tasks), len(self.evaluated_tasks)
        check_tensor_shape("accuracy", self.accuracy, (rows, columns))
        check_tensor_shape("clean_accuracy", self.clean_accuracy, (columns,))
        _check_controls(self.controls, self.perturbed_tasks, self.evaluated_tasks)
        if not self.correct and not self.clean_correct:
            return
        if len(self.correct) != columns or len(self.clean_correct) != columns:
            raise SkillNeuronError(
                f"correct and clean_correct need one entry per evaluated task ({columns}), got "
                f"{len(self.correct)} and {len(self.clean_correct)}."
            )
        for task, rows_correct, clean in zip(
            self.evaluated_tasks, self.correct, self.clean_correct, strict=True
        ):
            check_tensor_shape(f"clean_correct[{task!r}]", clean, (int(clean.numel()),))
            check_tensor_shape(f"correct[{task!r}]", rows_correct, (rows, int(clean.numel())))
        implied = torch.stack([rows_correct.double().mean(dim=1) for rows_correct in self.correct], dim=1)
        implied_clean = torch.stack([clean.double().mean() for clean in self.clean_correct])
        if not (
            torch.allclose(implied, self.accuracy.double(), atol=1e-9)
            and torch.allclose(implied_clean, self.clean_accuracy.double(), atol=1e-9)
        ):
            raise SkillNeuronError(
                "accuracy or clean_accuracy does not match the per-example correctness it was computed from."
            )

    @property
    def drop(self) -> Float[torch.Tensor, "perturbed evaluated"]:
        """Accuracy lost: clean minus perturbed accuracy."""
        return self.clean_accuracy[None, :] - self.accuracy

    def table(self) -> list[dict[str, Any]]:
        """One row per (perturbed, evaluated) pair, for printing."""
        return [
            {
                "perturbed": source,
                "evaluated": target,
                "clean": float(self.clean_accuracy[j]),
                "accuracy": float(self.accuracy[i, j]),
                "drop": float(self.drop[i, j]),
            }
            for i, source in enumerate(self.perturbed_tasks)
            for j, target in enumerate(self.evaluated_tasks)
        ]

    def _row(self, name: str) -> int:
        if name not in self.perturbed_tasks:
            raise SkillNeuronError(
                f"{name!r} is not a row of the matrix ({', '.join(self.perturbed_tasks)})."
            )
        return self.perturbed_tasks.index(name)

    def paired_test(
        self,
        target: str,
        source: str,
        against: Sequence[str],
        *,
        n_permutations: int = 10000,
        seed: int = 0,
    ) -> tuple[float, float]:
        """Does perturbing ``source``'s neurons hurt ``target`` more than perturbing the ``against`` sets?

        One-sided paired sign-flip test over ``target``'s examples on ``d_i = mean over against of
        correct_i - source's correct_i`` (see :func:`skillneuron_lens.stats.resampling.sign_flip_test`).

        Args:
            target: The evaluated task.
            source: The row whose damage is tested.
            against: The rows it is compared with (their correctness averaged per example).
            n_permutations: Random sign vectors when exact enumeration needs more.
            seed: Seed of the sign vectors.

        Returns:
            ``(statistic, p_value)``: the mean paired difference (accuracy points) and the p-value.

        Raises:
            SkillNeuronError: For unknown names, an empty ``against``, or a matrix without per-example
                correctness.
        """
        if not self.correct:
            raise SkillNeuronError("This matrix was saved without per-example correctness; re-run it.")
        if target not in self.evaluated_tasks:
            raise SkillNeuronError(
                f"{target!r} is not an evaluated task ({', '.join(self.evaluated_tasks)})."
            )
        if not against:
            raise SkillNeuronError("against is empty: name the rows to compare with.")
        if source in against:
            raise SkillNeuronError(f"against includes {source!r} itself: compare it with other rows.")
        rows = self.correct[self.evaluated_tasks.index(target)].double()
        others = rows[[self._row(name) for name in against]].mean(dim=0)
        statistic, p_value, _ = sign_flip_test(
            others - rows[self._row(source)], n_permutations=n_permutations, seed=seed
        )
        return statistic, p_value

    def specificity(self, *, n_permutations: int = 10000, seed: int = 0) -> list[dict[str, Any]]:
        """For each task that is both a row and a column: its own set's damage against the others'.

        One entry per (task, comparison): ``against`` is ``"random"`` (the control rows, averaged per
        example) or another task's row. ``difference`` is how many more accuracy points the task loses
        to its own set than to the compared one, ``p_value`` the one-sided paired test of
        :meth:`paired_test`, and ``p_holm`` that p-value adjusted for all the tests in the list (Holm):
        the list holds many tests, so read a single unadjusted p-value with care.
        """
        tests: list[dict[str, Any]] = []
        p_values: list[float] = []
        tasks = [name for name in self.evaluated_tasks if name in self.perturbed_tasks]
        for target in tasks:
            comparisons: list[tuple[str, list[str]]] = []
            if self.controls:
                comparisons.append(("random", list(self.controls)))
            comparisons += [
                (other, [other]) for other in self.perturbed_tasks if other not in (target, *self.controls)
            ]
            for label, rows in comparisons:
                difference, p_value = self.paired_test(
                    target, target, rows, n_permutations=n_permutations, seed=seed
                )
                tests.append({"task": target, "against": label, "difference": difference, "p_value": p_value})
                p_values.append(p_value)
        adjusted = adjust_p_values(torch.tensor(p_values, dtype=torch.float64), "holm").tolist()
        for test, p_holm in zip(tests, adjusted, strict=True):
            test["p_holm"] = p_holm
        return tests

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict that :meth:`from_dict` reads back (``tests`` is recomputed, not read)."""
        payload: dict[str, Any] = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "perturbed_tasks": list(self.perturbed_tasks),
            "evaluated_tasks": list(self.evaluated_tasks),
            "controls": list(self.controls),
            "accuracy": self.accuracy.tolist(),
            "clean_accuracy": self.clean_accuracy.tolist(),
            "mode": self.mode,
            "config": self.config,
        }
        if self.correct:
            payload["correct"] = {
                task: [_bits(row) for row in rows]
                for task, rows in zip(self.evaluated_tasks, self.correct, strict=True)
            }
            payload["clean_correct"] = {
                task: _bits(row) for task, row in zip(self.evaluated_tasks, self.clean_correct, strict=True)
            }
            payload["tests"] = self.specificity(seed=int(self.config.get("seed", 0)))
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> CrossTaskMatrix:
        """Rebuild a matrix from :meth:`to_dict`'s output."""
        if payload.get("kind", KIND) != KIND:
            raise SkillNeuronError(f"The dict holds a {payload.get('kind')!r}, not a cross-task matrix.")
        try:
            rows = tuple(str(t) for t in payload["perturbed_tasks"])
            columns = tuple(str(t) for t in payload["evaluated_tasks"])
            mode = str(payload["mode"])
            controls = tuple(str(t) for t in payload.get("controls", ()))
            correct = (
                tuple(
                    torch.stack([_from_bits(bits, f"correct[{task!r}]") for bits in payload["correct"][task]])
                    for task in columns
                )
                if "correct" in payload
                else ()
            )
            clean_correct = (
                tuple(
                    _from_bits(payload["clean_correct"][task], f"clean_correct[{task!r}]") for task in columns
                )
                if "clean_correct" in payload
                else ()
            )
        except (KeyError, TypeError, RuntimeError) as error:
            raise SkillNeuronError(f"The dict lacks task names, mode or correctness: {error}") from error
        accuracy = json_tensor(payload, "accuracy")
        return cls(
            rows,
            columns,
            accuracy,
            json_tensor(payload, "clean_accuracy"),
            mode,
            dict(payload.get("config", {})),
            correct,
            clean_correct,
            controls,
        )

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write to a JSON file, atomically; never replaces a file unless ``overwrite``."""
        return write_json(path, self.to_dict(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CrossTaskMatrix:
        """Read a matrix written by :meth:`save`."""
        payload = read_json(path, KIND)
        try:
            return cls.from_dict(payload)
        except SkillNeuronError as error:
            raise ResultFileError(f"{path} is not a valid cross-task matrix: {error}") from error


def cross_task_matrix(
    model: Any,
    neuron_sets: Mapping[str, NeuronSet],
    evaluators: Mapping[str, Evaluator],
    *,
    mode: Mode | str = "gaussian",
    seed: int = 0,
    progress: bool = True,
    controls: Sequence[str] = (),
    target_options: Mapping[str, Mapping[str, Any]] | None = None,
    **mode_kwargs: Any,
) -> CrossTaskMatrix:
    """Perturb each task's skill neurons and measure every task's accuracy: task specificity.

    The paper's evidence that skill neurons are task-specific: perturbing a task's own skill neurons
    (the diagonal) should hurt it more than perturbing another (dissimilar) task's. Costs one
    evaluation per evaluator for the clean model plus one per (set, evaluator) pair. Every condition
    uses the same noise ``seed``.

    Args:
        model: The model the evaluators run.
        neuron_sets: Name -> neuron set (rows of the matrix): each task's skill neurons, plus any
            control sets named in ``controls``.
        evaluators: Task name -> no-argument callable returning per-example correctness (columns).
        mode: Perturbation mode.
        seed: Seed of the noise.
        progress: Show a progress bar.
        controls: Rows of ``neuron_sets`` that are random controls (the baseline of
            :meth:`CrossTaskMatrix.specificity`).
        target_options: Evaluated task -> mode options used when that task is measured, on top of
            ``mode_kwargs`` (e.g. each task's own baseline as ``mean`` in ``"mean"`` mode).
        **mode_kwargs: Options of the mode for every condition (see
            :func:`skillneuron_lens.intervene.hooks.perturbation_hooks`); tensors in them (``mean``,
            ``pool``) must fit every set's layers.

    Returns:
        The :class:`CrossTaskMatrix`, with per-example correctness.

    Raises:
        SkillNeuronError: For empty inputs, a non-callable evaluator, unknown names in ``controls``
            or ``target_options``, or bad mode options (checked before any evaluation).
    """
    if not neuron_sets or not evaluators:
        raise SkillNeuronError("cross_task_matrix needs at least one neuron set and one evaluator.")
    bad = [name for name, evaluate in evaluators.items() if not callable(evaluate)]
    if bad:
        raise SkillNeuronError(f"evaluators[{bad[0]!r}] is not callable.")
    per_target = dict(target_options or {})
    unknown = [name for name in per_target if name not in evaluators]
    if unknown:
        raise SkillNeuronError(
            f"target_options names {unknown}, which are not evaluated tasks {list(evaluators)}."
        )
    _check_controls(controls, tuple(neuron_sets), tuple(evaluators))
    for name, extra in per_target.items():
        if not isinstance(extra, Mapping) or "seed" in extra:
            raise SkillNeuronError(
                f"target_options[{name!r}] must be a dict of mode options without seed (pass seed= once)."
            )
    options = {name: {**mode_kwargs, **per_target.get(name, {})} for name in evaluators}
    for name, target_kwargs in options.items():
        try:
            check_options(mode, {key: value for key, value in target_kwargs.items() if key not in _GENERIC})
        except SkillNeuronError as error:
            raise SkillNeuronError(f"Bad mode options for task {name!r}: {error}") from None
    for neurons in neuron_sets.values():
        for target_kwargs in options.values():  # fail early on bad values
            perturbation_hooks(model, neurons, mode, seed=seed, **target_kwargs)
    rows, columns = tuple(neuron_sets), tuple(evaluators)
    total = len(columns) * (1 + len(rows))
    with tqdm(total=total, desc=f"cross-task ({mode})", disable=not progress, unit="eval") as bar:
        clean = []
        for name in columns:
            clean.append(evaluate_correctness(evaluators[name], None, f"task {name!r}, clean"))
            bar.update()
        correct = [torch.zeros(len(rows), int(c.numel()), dtype=torch.bool) for c in clean]
        for i, source in enumerate(rows):
            for j, target in enumerate(columns):
                what = f"task {target!r} with {source!r} neurons perturbed"
                with perturb(model, neuron_sets[source], mode, seed=seed, **options[target]):
                    correct[j][i] = evaluate_correctness(evaluators[target], int(clean[j].numel()), what)
                bar.update()
    accuracy = torch.stack([c.double().mean(dim=1) for c in correct], dim=1)
    config = {
        "mode": mode,
        "mode_options": json_safe(mode_kwargs),
        "target_options": json_safe(per_target),
        "seed": seed,
        "set_sizes": {name: len(neurons) for name, neurons in neuron_sets.items()},
        "n_examples": {name: int(c.numel()) for name, c in zip(columns, clean, strict=True)},
        "test": "paired sign-flip permutation, one-sided (the own set hurts more)",
    }
    return CrossTaskMatrix(
        perturbed_tasks=rows,
        evaluated_tasks=columns,
        accuracy=accuracy,
        clean_accuracy=torch.stack([c.double().mean() for c in clean]),
        mode=str(mode),
        config=config,
        correct=tuple(correct),
        clean_correct=tuple(clean),
        controls=tuple(controls),
    )
