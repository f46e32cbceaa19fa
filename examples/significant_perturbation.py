"""Pre-registered test: does ablating the SIGNIFICANT skill neurons hurt more than random neurons?

Issue 15, item 7c. A 16-slot soft prompt with a linear head read at ``[CLS]`` is tuned on MiniLM for the
packaged Rotten Tomatoes snippets (the settings of the full-size perturbation runs in docs/results.md).
The skill neurons are chosen by significance, not by a fixed fraction: ``NeuronSet.significant(result,
q=0.05)`` (Benjamini-Hochberg over all 9,216 neurons, numerically fragile neurons left out) on the
prompt-slot predictivity of a *selection* dev split. That split is not the one the tuning run uses to
pick its checkpoint, so its labels are exchangeable and the exact p-values hold. The pre-registered
test ablates the significant neurons among the paper's top ``--skill-fraction`` (2%) per layer, mean-
and zero-ablated (at every position) on a held-out test split, against ``--draws`` layer-matched random
sets of the same size per layer drawn from the other neurons; the whole significant set (which can hold
a third of the neurons) is reported beside it against random sets that may overlap it, without a bar.
For each mode the script reports the clean accuracy, the significant
set's accuracy, every random draw's accuracy, the rank of the significant set among the draws, and the
one-sided paired sign-flip p-value (:func:`skillneuron_lens.stats.resampling.sign_flip_test`) of
``d_i = mean over draws of random_correct_i - significant_correct_i``.

    python examples/significant_perturbation.py runs/significant-perturbation/rt.json
    python examples/significant_perturbation.py --quick          # a smoke run at a tiny size

Splits (default sizes; all disjoint): the packaged pool's own test split (2,550 snippets, drawn with seed
0) gives the first ``--test`` examples; its train + dev pool (10,202) is re-split with
``Task.with_dev_share`` into the selection dev split (``--selection-dev``) and the rest, whose first
``--checkpoint-dev`` examples (in the seeded shuffled order) choose the checkpoint and whose next
``--train`` examples tune the prompt and give the neurons' baselines. Writes a JSON of every number
and prints a Markdown table. An empty significant set is reported as such and nothing is ablated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool

import skillneuron_lens as snl
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.io import atomic_write_text
from skillneuron_lens.tasks.task import Split, Task

MODES = ("mean", "zero")
DEFAULT_OUT = "runs/significant-perturbation/rt.json"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Examples in each of the four disjoint splits."""

    train: int = 4000
    checkpoint_dev: int = 800
    selection_dev: int = 3200
    test: int = 2000


QUICK_SIZES = Sizes(train=200, checkpoint_dev=50, selection_dev=400, test=100)


def carve_splits(task: Task, sizes: Sizes, seed: int = 0) -> dict[str, Split]:
    """Four disjoint splits of a task: train, checkpoint dev, selection dev and test.

    The selection dev split is carved out of the task's train + dev pool with
    :meth:`~skillneuron_lens.tasks.task.Task.with_dev_share` (stratified by label, seeded); the rest of the
    pool comes back in a seeded random order, and its first ``checkpoint_dev`` examples become the
    checkpoint dev split, the next ``train`` the train split. Test is the first ``test`` examples of
    the task's test split.

    Args:
        task: A task with train, dev and test splits (the packaged ones come shuffled).
        sizes: How many examples each split gets.
        seed: Seed of the re-split.

    Returns:
        ``{"train", "checkpoint_dev", "selection_dev", "test"}`` splits.

    Raises:
        SkillNeuronError: If a size is below 1 or the task has too few examples for them.
    """
    wanted = dataclasses.asdict(sizes)
    small = {name: size for name, size in wanted.items() if size < 1}
    if small:
        raise SkillNeuronError(f"Every split needs at least one example; got {small}.")
    pool = len(task.train) + len(task.dev)
    needed = sizes.train + sizes.checkpoint_dev + sizes.selection_dev
    if needed > pool or sizes.test > len(task.test):
        raise SkillNeuronError(
            f"Task {task.name!r} has {pool} train + dev and {len(task.test)} test examples; the sizes "
            f"ask for {needed} and {sizes.test}. Lower --train, --checkpoint-dev, --selection-dev or --test."
        )
    resplit = task.with_dev_share(sizes.selection_dev / pool, seed=seed)
    selection = resplit.dev.select(range(min(sizes.selection_dev, len(resplit.dev))))
    rest = resplit.train
    return {
        "train": rest.select(range(sizes.checkpoint_dev, sizes.checkpoint_dev + sizes.train)),
        "checkpoint_dev": rest.select(range(sizes.checkpoint_dev)),
        "selection_dev": selection,
        "test": task.test.select(range(sizes.test)),
    }


def ablation_test(
    model: Any,
    correct_on_test: Any,
    significant: snl.NeuronSet,
    clean: Bool[torch.Tensor, " example"],
    *,
    mode: str,
    mean: torch.Tensor,
    draws: int,
    seed: int,
    n_permutations: int,
    exclude_self: bool = False,
) -> dict[str, Any]:
    """Test accuracy with the significant set ablated vs layer-matched random sets of the same size.

    Args:
        model: The model the evaluator runs.
        correct_on_test: No-argument callable giving per-example test correctness under active hooks.
        significant: The significant neurons.
        clean: Per-example test correctness without ablation.
        mode: ``"mean"`` (train-mean baselines written in) or ``"zero"``.
        mean: The ``[layer, neuron]`` means of the mean mode.
        draws: Number of random sets.
        seed: Seed of the random sets and of the sign-flip test.
        n_permutations: Sign vectors of the Monte Carlo sign-flip test.
        exclude_self: Draw the random sets from neurons outside the tested set (no overlap).

    Returns:
        Accuracies, the paired test and the rank of the significant set among the draws.
    """
    options: dict[str, Any] = {"mean": mean} if mode == "mean" else {}

    def ablated(neurons: snl.NeuronSet) -> torch.Tensor:
        with snl.perturb(model, neurons, mode, **options):
            return torch.as_tensor(correct_on_test()).bool().cpu()

    significant_correct = ablated(significant).double()
    controls = significant.random_controls(draws, seed, exclude_self=exclude_self)
    random_correct = torch.stack([ablated(control) for control in controls]).double()  # [draw, example]
    statistic, p_value, method = snl.stats.sign_flip_test(
        random_correct.mean(dim=0) - significant_correct, n_permutations=n_permutations, seed=seed
    )
    accuracy = float(significant_correct.mean())
    draw_accuracies = random_correct.mean(dim=1)
    return {
        "mode": mode,
        "n_neurons": len(significant),
        "controls_exclude_the_set": exclude_self,
        "clean_accuracy": float(clean.double().mean()),
        "significant_accuracy": accuracy,
        "random_accuracies": [float(value) for value in draw_accuracies],
        "random_mean_accuracy": float(draw_accuracies.mean()),
        "random_min_accuracy": float(draw_accuracies.min()),
        "random_max_accuracy": float(draw_accuracies.max()),
        "random_minus_significant": statistic,
        "p_value": p_value,
        "p_value_method": method,
        "rank": 1 + int((draw_accuracies < accuracy).sum()),  # 1: no draw is lower (ties share it)
        "draws_at_most_significant": int((draw_accuracies <= accuracy).sum()),
        "below_all_draws": bool((draw_accuracies > accuracy).all()),
        "draw_p_value": (1 + int((draw_accuracies <= accuracy).sum())) / (1 + draws),
    }


def verdict(modes: dict[str, dict[str, Any]], alpha: float = 0.01) -> str:
    """The pre-registered outcome: success, partial or failure.

    A mode meets the bar when the significant set's accuracy is below every random draw and the paired
    p-value is below ``alpha``; success when both modes meet it, partial when one does.
    """
    met = [m for m, row in modes.items() if row["below_all_draws"] and row["p_value"] < alpha]
    if len(met) == len(MODES):
        return "success"
    return f"partial ({met[0]} only)" if met else "failure"


def run_experiment(
    model: Any,
    splits: dict[str, Split],
    *,
    classifier_config: snl.ClassifierConfig,
    train_config: snl.TrainConfig,
    q: float = 0.05,
    draws: int = 20,
    seed: int = 0,
    n_permutations: int = 10000,
    progress: bool = True,
    skill_fraction: float = 0.02,
) -> dict[str, Any]:
    """Tune, select the significant neurons on the selection dev split, ablate them on test.

    The pre-registered test (``"modes"``) ablates the significant neurons among the paper's top
    ``skill_fraction`` per layer, against random sets drawn from the other neurons; the whole
    significant set, against random sets that may overlap it, is reported too (``"secondary_modes"``).

    Args:
        model: A TransformerLens model (stays frozen).
        splits: The four splits of :func:`carve_splits`.
        classifier_config: The classifier (soft prompt) settings.
        train_config: The tuning settings (the checkpoint is chosen on ``checkpoint_dev``).
        q: Benjamini-Hochberg false discovery rate of the significant set.
        draws: Layer-matched random sets per mode.
        seed: Seed of the random sets, the class balancing and the sign-flip tests.
        n_permutations: Sign vectors of the Monte Carlo sign-flip test.
        progress: Show progress bars.
        skill_fraction: Share of each layer's neurons in the paper's skill set.

    Returns:
        A JSON-friendly record of every number; ``"modes"`` is empty when no neuron is significant.
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    classifier = snl.TunedClassifier(model, classifier_config)
    history = snl.train_classifier(classifier, splits["train"], splits["checkpoint_dev"], train_config)
    seconds["tuning"] = time.perf_counter() - started

    started = time.perf_counter()
    result = classifier.predictivity(
        splits["train"], splits["selection_dev"], seed=seed, n_permutations=0,
        recording=snl.RecordingConfig(progress=progress),
    )
    significant = snl.NeuronSet.significant(result, q=q)
    primary = snl.NeuronSet.top(result, fraction=skill_fraction) & significant
    with_fragile = snl.NeuronSet.significant(result, q=q, exclude_fragile=False)
    seconds["selection"] = time.perf_counter() - started

    started = time.perf_counter()
    test = splits["test"]

    def correct_on_test() -> torch.Tensor:
        return classifier.correct(test, progress=False)

    clean = correct_on_test()
    modes: dict[str, dict[str, Any]] = {}
    secondary_modes: dict[str, dict[str, Any]] = {}
    means = result.mean_baselines().float()
    for tested, rows, exclude_self in ((primary, modes, True), (significant, secondary_modes, False)):
        if not len(tested):
            continue
        for mode in MODES:
            rows[mode] = ablation_test(
                model, correct_on_test, tested, clean, mode=mode, mean=means, draws=draws, seed=seed,
                n_permutations=n_permutations, exclude_self=exclude_self,
            )
    seconds["ablation"] = time.perf_counter() - started
    fragile = result.fragile
    return {
        "kind": "significant_perturbation",
        "sizes": {name: len(split) for name, split in splits.items()},
        "classifier": classifier_config.to_dict(),
        "training": train_config.to_dict(),
        "tuning_history": history,
        "clean_test_accuracy": float(clean.double().mean()),
        "selection": {
            "q": q,
            "method": "bh",
            "exclude_fragile": True,
            "n_tested": int(result.p_value.numel()),
            "n_fragile": None if fragile is None else int(fragile.sum()),
            "n_significant": len(significant),
            "n_significant_with_fragile": len(with_fragile),
            "per_layer": [int(count) for count in significant.counts_per_layer()],
            "layers": list(result.layers),
            "neurons": [list(pair) for pair in significant.to_list()],
            "best_predictivity": float(result.predictivity.max()),
            "significant_mean_predictivity": (
                float(significant.scores(result).mean()) if len(significant) else None
            ),
            "skill_fraction": skill_fraction,
            "n_primary": len(primary),
            "primary_per_layer": [int(count) for count in primary.counts_per_layer()],
            "primary_neurons": [list(pair) for pair in primary.to_list()],
        },
        "draws": draws,
        "seed": seed,
        "n_permutations": n_permutations,
        "modes": modes,
        "secondary_modes": secondary_modes,
        "outcome": verdict(modes) if modes else "no significant skill neurons: nothing was ablated",
        "seconds": seconds,
    }


def _mode_rows(rows: dict[str, dict[str, Any]], draws: int) -> list[str]:
    lines = [
        "| mode | neurons | clean | ablated | random mean | random range "
        f"| rank (1 = lowest, of {draws + 1}) | below all draws | paired p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, row in rows.items():
        below = "yes" if row["below_all_draws"] else "no"
        ties = row["draws_at_most_significant"] - (row["rank"] - 1)
        rank = f"{row['rank']} ({ties} tied)" if ties else str(row["rank"])
        lines.append(
            f"| {mode} | {row['n_neurons']} | {row['clean_accuracy']:.3f} | "
            f"{row['significant_accuracy']:.3f} | "
            f"{row['random_mean_accuracy']:.3f} | {row['random_min_accuracy']:.3f}-"
            f"{row['random_max_accuracy']:.3f} | {rank} | {below} | {row['p_value']:.2g} |"
        )
    return lines


def markdown_table(record: dict[str, Any]) -> str:
    """The record's headline numbers as Markdown tables (one row per ablation mode)."""
    selection = record["selection"]
    lines = [
        f"Significant set: {selection['n_significant']} of {selection['n_tested']} neurons at q = "
        f"{selection['q']} (per layer {selection['per_layer']}); of them in the top "
        f"{selection['skill_fraction']:.0%} per layer: {selection['n_primary']} (per layer "
        f"{selection['primary_per_layer']}); clean test accuracy {record['clean_test_accuracy']:.3f} on "
        f"{record['sizes']['test']} examples.",
        "",
    ]
    if not record["secondary_modes"]:
        return "\n".join([*lines, "No neuron is significant: nothing was ablated."])
    if record["modes"]:
        lines += ["Pre-registered test: significant skill neurons vs random sets from the other neurons", ""]
        lines += [*_mode_rows(record["modes"], record["draws"]), ""]
    lines += ["Whole significant set vs random sets of the same size (may overlap it; no bar)", ""]
    lines += _mode_rows(record["secondary_modes"], record["draws"])
    return "\n".join([*lines, "", f"Outcome (pre-registered bar): {record['outcome']}"])


def write_record(record: dict[str, Any], out: str | Path, *, overwrite: bool = False) -> Path:
    """Write the record as JSON (atomically; an existing file only with ``overwrite``)."""
    target = Path(out)
    if target.exists() and not overwrite:
        raise SkillNeuronError(f"{target} already exists; pass --overwrite to replace it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(target, json.dumps(record, indent=2, sort_keys=True))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=None, help=f"JSON to write (default {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test sizes (not a result)")
    sizes = Sizes()
    parser.add_argument("--train", type=int, default=None, help=f"train examples (default {sizes.train})")
    parser.add_argument("--checkpoint-dev", type=int, default=None,
                        help=f"dev examples that choose the checkpoint (default {sizes.checkpoint_dev})")
    parser.add_argument("--selection-dev", type=int, default=None,
                        help=f"dev examples that select the neurons (default {sizes.selection_dev})")
    parser.add_argument("--test", type=int, default=None, help=f"test examples (default {sizes.test})")
    parser.add_argument("--steps", type=int, default=None, help="tuning steps (default 450; quick 30)")
    parser.add_argument("--draws", type=int, default=None, help="random sets per mode (default 20; quick 5)")
    parser.add_argument("--skill-fraction", type=float, default=0.02,
                        help="the paper's skill set per layer, intersected with the significant set (0.02)")
    parser.add_argument("--q", type=float, default=0.05, help="BH false discovery rate (default 0.05)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--permutations", type=int, default=10000, help="sign flips of the paired test")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing JSON")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the test and write the JSON; returns the exit status."""
    args = parse_args(argv)
    base = QUICK_SIZES if args.quick else Sizes()
    chosen = {name: getattr(args, name) for name in ("train", "checkpoint_dev", "selection_dev", "test")}
    sizes = dataclasses.replace(base, **{name: size for name, size in chosen.items() if size is not None})
    steps = args.steps if args.steps is not None else (30 if args.quick else 450)
    draws = args.draws if args.draws is not None else (5 if args.quick else 20)
    out = Path(args.out or (DEFAULT_OUT.replace(".json", "-quick.json") if args.quick else DEFAULT_OUT))
    if out.exists() and not args.overwrite:
        raise SystemExit(f"{out} already exists; pass --overwrite to replace it.")
    started = time.perf_counter()
    splits = carve_splits(snl.load_task("rotten_tomatoes", seed=args.seed), sizes, seed=args.seed)
    model = snl.load_model("minilm", device=args.device)
    classifier_config = snl.ClassifierConfig(
        method="prompt", head="linear", pooling="read", n_classes=2, prompt_length=16, max_length=64,
        batch_size=args.batch_size, seed=args.seed,
    )
    train_config = snl.TrainConfig(
        steps=steps, lr=3e-3, head_lr=3e-3, batch_size=16, eval_every=steps, patience=None,
        seed=args.seed, progress=not args.quiet,
    )
    record = run_experiment(
        model, splits, classifier_config=classifier_config, train_config=train_config, q=args.q,
        draws=draws, seed=args.seed, n_permutations=args.permutations, progress=not args.quiet,
        skill_fraction=args.skill_fraction,
    )
    record["seconds"]["total"] = time.perf_counter() - started
    record["command"] = " ".join(["python", "examples/significant_perturbation.py", *sys.argv[1:]])
    record["quick"] = bool(args.quick)
    record["device"] = args.device
    record["versions"] = {"torch": torch.__version__, "skillneuron_lens": snl.__version__}
    write_record(record, out, overwrite=args.overwrite)
    print(markdown_table(record))
    print(f"\nwrote {out} ({record['seconds']['total']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
