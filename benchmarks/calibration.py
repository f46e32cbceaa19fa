"""Calibration and power of the skill-neuron p-values, measured on the real packaged model.

Model: the packaged all-MiniLM-L6-v2 (frozen, ``snl.load_model("minilm")``); data: the packaged
Rotten Tomatoes snippets (``snl.load_task("rotten_tomatoes", seed=0)``); neurons: all 6 x 1,536
``blocks.{l}.mlp.hook_post`` at [CLS] (position 0). The activations of the first ``--n-train``
train examples and of the dev split (``--n-dev``, default all) are recorded ONCE
(``neuron_pool(..., positions=0)``, cached in ``--activations`` if given); everything after that
reuses them through ``snl.predictivity_from_activations``.

(a) Calibration. For each dev size in ``--dev-sizes`` and each of ``--seeds`` seeds, a random subset
    of the dev split of that size gets its labels shuffled; the exact p-values
    (``PredictivityResult.p_value``) are then null p-values. Reported per seed: the share of neurons
    with p < 0.05 and p < 0.01, the smallest p, and how many neurons pass BH, BY and Holm at
    ``--q``; the same numbers for the real labels (first subset of each size).

(b) Power. The train and dev labels are shuffled (no real signal remains) and ``--planted``
    neurons (spread evenly over the layers, numerically fragile neurons and constant neurons left
    out) get a known effect: their train and dev activations are shifted by
    ``delta * std * (label - 0.5)`` (``std`` of the neuron on the recorded train examples). Each
    ``delta`` is found by bisection so that, with the labels of the first shuffle, the planted
    neurons' mean dev accuracy on the whole dev split is a target of ``--targets``. Then, for every
    dev size and each of ``--repeats`` repeats (a fresh label shuffle and a fresh random dev subset),
    all neurons are scored and BH at ``--q`` selects: reported are the share of planted neurons
    recovered, the false discoveries (non-planted neurons selected), the false discovery proportion
    (false / all discoveries) and the share of non-planted neurons selected, next to
    ``significance.dev_size_for_effect`` for the target accuracy (as a single discovery, and as one of
    ``--planted`` discoveries).

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/calibration.py --json runs/calibration.json
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/calibration.py --quick   # CI-size run

The JSON holds every number (per seed, per repeat) and the printed Markdown tables.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from _common import begin, finish, timed
from jaxtyping import Bool, Float, Int

import skillneuron_lens as snl
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.record.activations import neuron_pool
from skillneuron_lens.stats.significance import FDR_METHODS, dev_size_for_effect, significant

FULL = {
    "n_train": 2000,
    "n_dev": None,
    "dev_sizes": [100, 320, 1000, 2000],
    "seeds": 10,
    "planted": 100,
    "targets": [0.55, 0.6, 0.65, 0.7],
    "repeats": 3,
}
"""Default sizes of the full run."""

QUICK = {
    "n_train": 400,
    "n_dev": 320,
    "dev_sizes": [100, 320],
    "seeds": 3,
    "planted": 30,
    "targets": [0.6, 0.7],
    "repeats": 1,
}
"""Default sizes with ``--quick`` (a CI-size run); options given explicitly still win."""


# ---- recording ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recorded:
    """Activations recorded once: ``[example, layer, neuron]`` float32, with integer labels."""

    train: Float[torch.Tensor, "train layer neuron"]
    train_labels: Int[torch.Tensor, " train"]
    dev: Float[torch.Tensor, "dev layer neuron"]
    dev_labels: Int[torch.Tensor, " dev"]

    @property
    def n_tested(self) -> int:
        """Neurons in the family (layers x neurons)."""
        return int(self.train.shape[1] * self.train.shape[2])


def record(
    model: Any,
    train: Any,
    dev: Any,
    *,
    n_train: int | None = None,
    n_dev: int | None = None,
    positions: Any = 0,
    batch_size: int = 32,
    max_length: int = 128,
) -> Recorded:
    """Record every neuron at ``positions`` on the first ``n_train`` train and ``n_dev`` dev examples.

    Args:
        model: A TransformerLens model.
        train: Train split (``.texts``, ``.labels``).
        dev: Dev split.
        n_train: Train examples to keep (``None``: all).
        n_dev: Dev examples to keep (``None``: all).
        positions: One slot to read (default [CLS], position 0).
        batch_size: Examples per forward pass.
        max_length: Truncate encodings to this many tokens.

    Returns:
        The activations and labels.
    """
    train_texts = list(train.texts)[:n_train]
    train_labels = list(train.labels)[: len(train_texts)]
    dev_texts = list(dev.texts)[:n_dev]
    dev_labels = list(dev.labels)[: len(dev_texts)]
    recording = snl.RecordingConfig(
        positions=positions, batch_size=batch_size, max_length=max_length, progress=False
    )
    train_acts = neuron_pool(model, train_texts, recording=recording)
    dev_acts = neuron_pool(model, dev_texts, recording=recording)
    for acts, n, name in ((train_acts, len(train_texts), "train"), (dev_acts, len(dev_texts), "dev")):
        if acts.shape[0] != n:
            raise SkillNeuronError(f"{name}: {acts.shape[0]} activation rows for {n} texts; use one slot.")
    return Recorded(train_acts, torch.tensor(train_labels), dev_acts, torch.tensor(dev_labels))


def cached_record(model: Any, task: Any, args: argparse.Namespace) -> Recorded:
    """:func:`record` with ``args``' sizes, through the ``--activations`` cache when one is given.

    Raises:
        SkillNeuronError: If the cache was recorded with other sizes.
    """
    settings = {"n_train": args.n_train, "n_dev": args.n_dev, "max_length": args.max_length}
    path = args.activations
    if path is not None and path.exists():
        stored = torch.load(path)
        if stored["settings"] != settings:
            raise SkillNeuronError(
                f"{path} holds activations recorded with {stored['settings']}, not {settings}; "
                "delete it or pass another --activations path."
            )
        print(f"activations loaded from {path}", flush=True)
        return Recorded(**stored["recorded"])
    recorded = record(
        model, task.train, task.dev, n_train=args.n_train, n_dev=args.n_dev, batch_size=args.batch_size,
        max_length=args.max_length,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"settings": settings, "recorded": vars(recorded)}, path)
    return recorded


# ---- shared pieces --------------------------------------------------------------------------------
def shuffled(labels: Int[torch.Tensor, " example"], seed: int) -> Int[torch.Tensor, " example"]:
    """The labels in a random order (a permutation, so the class counts are kept)."""
    generator = torch.Generator().manual_seed(seed)
    return labels[torch.randperm(len(labels), generator=generator)]


def dev_subset(n_examples: int, size: int, seed: int) -> Int[torch.Tensor, " size"]:
    """``size`` distinct random dev rows (sorted)."""
    if not 1 <= size <= n_examples:
        raise SkillNeuronError(f"A dev size of {size} does not fit the {n_examples} recorded dev examples.")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_examples, generator=generator)[:size].sort().values


def score(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    dev: torch.Tensor,
    dev_labels: torch.Tensor,
) -> snl.PredictivityResult:
    """The package's predictivity (with exact p-values) of activations in memory."""
    return snl.predictivity_from_activations(train, train_labels, dev, dev_labels, n_classes=2)


def significance_counts(p_value: Float[torch.Tensor, "layer neuron"], q: float) -> dict[str, Any]:
    """Shares below 0.05 and 0.01, the smallest p, and the discoveries of each method at ``q``."""
    flat = p_value.flatten()
    return {
        "share_p_below_0.05": float((flat < 0.05).double().mean()),
        "share_p_below_0.01": float((flat < 0.01).double().mean()),
        "min_p": float(flat.min()),
        **{f"n_{method}": int(significant(p_value, q=q, method=method).sum()) for method in FDR_METHODS},
    }


# ---- (a) calibration ------------------------------------------------------------------------------
def calibration(recorded: Recorded, dev_sizes: Sequence[int], seeds: int, q: float) -> dict[str, Any]:
    """Null p-values from shuffled dev labels, per dev size and seed, and the real labels' numbers.

    Seed ``s`` draws the dev subset with seed ``s`` and shuffles its labels with seed ``1000 + s``;
    the real labels are scored on the seed-0 subset.

    Returns:
        ``{"real": [row per dev size], "shuffled": [row per dev size and seed], "summary": [...]}``.
    """
    real, null, summary = [], [], []
    for size in dev_sizes:
        rows = []
        for seed in range(seeds):
            subset = dev_subset(len(recorded.dev_labels), size, seed)
            labels = recorded.dev_labels[subset]
            if seed == 0:
                result = score(recorded.train, recorded.train_labels, recorded.dev[subset], labels)
                real.append({"n_dev": size, **significance_counts(result.p_value, q)})
            result = score(
                recorded.train, recorded.train_labels, recorded.dev[subset], shuffled(labels, 1000 + seed)
            )
            rows.append({"n_dev": size, "seed": seed, **significance_counts(result.p_value, q)})
        null.extend(rows)
        summary.append(_calibration_summary(size, rows))
    return {"q": q, "n_tested": recorded.n_tested, "real": real, "shuffled": null, "summary": summary}


def _calibration_summary(size: int, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    shares = {level: [row[f"share_p_below_{level}"] for row in rows] for level in ("0.05", "0.01")}
    out: dict[str, Any] = {"n_dev": size, "n_seeds": len(rows)}
    for level, values in shares.items():
        out[f"mean_share_p_below_{level}"] = statistics.fmean(values)
        out[f"max_share_p_below_{level}"] = max(values)
    for method in FDR_METHODS:
        out[f"seeds_with_{method}_discovery"] = sum(row[f"n_{method}"] > 0 for row in rows)
    out["min_p"] = min(row["min_p"] for row in rows)
    return out


# ---- (b) power ------------------------------------------------------------------------------------
def choose_planted(
    usable: Bool[torch.Tensor, "layer neuron"], count: int, seed: int
) -> Bool[torch.Tensor, "layer neuron"]:
    """``count`` usable neurons at random, spread as evenly as possible over the layers.

    Raises:
        SkillNeuronError: If a layer has too few usable neurons.
    """
    n_layers = usable.shape[0]
    generator = torch.Generator().manual_seed(seed)
    planted = torch.zeros_like(usable)
    for layer in range(n_layers):
        wanted = count // n_layers + (1 if layer < count % n_layers else 0)
        candidates = usable[layer].nonzero().flatten()
        if len(candidates) < wanted:
            raise SkillNeuronError(
                f"Layer {layer} has {len(candidates)} usable neurons, fewer than the {wanted} to plant."
            )
        chosen = candidates[torch.randperm(len(candidates), generator=generator)[:wanted]]
        planted[layer, chosen] = True
    return planted


def plant(
    activations: Float[torch.Tensor, "example layer neuron"],
    labels: Int[torch.Tensor, " example"],
    planted: Bool[torch.Tensor, "layer neuron"],
    scale: Float[torch.Tensor, "layer neuron"],
    delta: float,
) -> Float[torch.Tensor, "example layer neuron"]:
    """Float64 activations with ``delta * scale * (label - 0.5)`` added to the planted neurons."""
    direction = labels.double()[:, None, None] - 0.5
    return activations.double() + delta * direction * (scale * planted.double())[None]


@dataclass(frozen=True)
class PowerSetup:
    """Shuffled labels, the planted neurons and each neuron's scale (train std)."""

    train_labels: Int[torch.Tensor, " train"]
    dev_labels: Int[torch.Tensor, " dev"]
    planted: Bool[torch.Tensor, "layer neuron"]
    scale: Float[torch.Tensor, "layer neuron"]


def with_shuffled_labels(recorded: Recorded, setup: PowerSetup, seed: int) -> PowerSetup:
    """``setup`` with the train and dev labels shuffled afresh (seeds ``seed`` and ``seed + 1``)."""
    return replace(
        setup,
        train_labels=shuffled(recorded.train_labels, seed),
        dev_labels=shuffled(recorded.dev_labels, seed + 1),
    )


def power_setup(recorded: Recorded, n_planted: int, seed: int) -> PowerSetup:
    """Shuffle train and dev labels (:func:`with_shuffled_labels` with ``seed``), pick the planted neurons.

    Neurons the package marks numerically fragile on the real labels, and neurons constant on the
    recorded train examples, are never planted (a shift of a near-dead unit's tiny spread would
    be decided by float rounding).
    """
    fragile = score(recorded.train, recorded.train_labels, recorded.dev, recorded.dev_labels).fragile
    scale = recorded.train.double().std(dim=0)
    usable = scale > 0
    if fragile is not None:
        usable &= ~fragile
    unshuffled = PowerSetup(
        recorded.train_labels, recorded.dev_labels, choose_planted(usable, n_planted, seed), scale
    )
    return with_shuffled_labels(recorded, unshuffled, seed)


def planted_accuracy(recorded: Recorded, setup: PowerSetup, delta: float) -> Float[torch.Tensor, " planted"]:
    """Dev accuracy (label 1 = fires) of each planted neuron on the whole dev split, at ``delta``."""
    mask = setup.planted
    everywhere = torch.ones(1, int(mask.sum()), dtype=torch.bool)
    scale = setup.scale[mask][None]
    # Only the planted columns, as a one-layer model: the same numbers as planting everywhere.
    train = plant(recorded.train[:, mask][:, None], setup.train_labels, everywhere, scale, delta)
    dev = plant(recorded.dev[:, mask][:, None], setup.dev_labels, everywhere, scale, delta)
    result = score(train, setup.train_labels, dev, setup.dev_labels)
    return result.accuracy[0, 0, 0, 0]


def delta_for_accuracy(recorded: Recorded, setup: PowerSetup, target: float, steps: int = 30) -> float:
    """The shift (in train stds) at which the planted neurons' mean dev accuracy reaches ``target``.

    Bisection between 0 and an upper end doubled until it reaches the target.

    Raises:
        SkillNeuronError: If ``target`` is not in (0.5, 1) or is never reached.
    """
    if not 0.5 < target < 1.0:
        raise SkillNeuronError(f"A target accuracy must lie in (0.5, 1), got {target}.")

    def mean_accuracy(delta: float) -> float:
        return float(planted_accuracy(recorded, setup, delta).mean())

    low, high = 0.0, 0.25
    while mean_accuracy(high) < target:
        low, high = high, 2 * high
        if high > 1e3:
            raise SkillNeuronError(f"No shift gives the planted neurons a mean accuracy of {target}.")
    for _ in range(steps):
        middle = (low + high) / 2
        if mean_accuracy(middle) < target:
            low = middle
        else:
            high = middle
    return high


def power_cell(
    recorded: Recorded, setup: PowerSetup, delta: float, size: int, seed: int, q: float
) -> dict[str, Any]:
    """Plant at ``delta``, score a random dev subset of ``size``, select with BH (and BY) at ``q``.

    Keys without a suffix are BH's, keys ending in ``_by`` Benjamini-Yekutieli's.
    """
    subset = dev_subset(len(setup.dev_labels), size, seed)
    train = plant(recorded.train, setup.train_labels, setup.planted, setup.scale, delta)
    dev = plant(recorded.dev[subset], setup.dev_labels[subset], setup.planted, setup.scale, delta)
    result = score(train, setup.train_labels, dev, setup.dev_labels[subset])
    cell: dict[str, Any] = {
        "n_dev": size,
        "seed": seed,
        "planted_dev_accuracy": float(result.accuracy[0, 0, 0][setup.planted].mean()),
    }
    n_planted = int(setup.planted.sum())
    n_other = setup.planted.numel() - n_planted
    for method, suffix in (("bh", ""), ("by", "_by")):
        selected = significant(result.p_value, q=q, method=method)
        true_hits = int((selected & setup.planted).sum())
        false_hits = int((selected & ~setup.planted).sum())
        cell[f"recovered{suffix}"] = true_hits / n_planted
        cell[f"false_discoveries{suffix}"] = false_hits
        cell[f"fdp{suffix}"] = false_hits / max(1, true_hits + false_hits)
        cell[f"share_null_selected{suffix}"] = false_hits / n_other
    return cell


def power(
    recorded: Recorded,
    *,
    n_planted: int,
    targets: Sequence[float],
    dev_sizes: Sequence[int],
    repeats: int,
    q: float,
    seed: int = 0,
) -> dict[str, Any]:
    """Recovery of planted neurons at each target accuracy and dev size (see the module docstring)."""
    setup = power_setup(recorded, n_planted, seed)
    strengths, cells = [], []
    for target in targets:
        delta = delta_for_accuracy(recorded, setup, target)
        accuracy = planted_accuracy(recorded, setup, delta)
        strengths.append(
            {
                "target": target,
                "delta": delta,
                "mean_accuracy": float(accuracy.mean()),
                "min_accuracy": float(accuracy.min()),
                "max_accuracy": float(accuracy.max()),
                "dev_size_single_discovery": dev_size_for_effect(target, recorded.n_tested, q),
                "dev_size_all_planted": dev_size_for_effect(
                    target, max(1, recorded.n_tested // n_planted), q
                ),
            }
        )
        for size in dev_sizes:
            for repeat in range(repeats):
                label_seed = seed + 2 * repeat
                relabelled = with_shuffled_labels(recorded, setup, label_seed)
                cell = power_cell(recorded, relabelled, delta, size, 2000 + repeat, q)
                cells.append({"target": target, "delta": delta, "label_seed": label_seed, **cell})
    summary = []
    for target in targets:
        for size in dev_sizes:
            rows = [c for c in cells if c["target"] == target and c["n_dev"] == size]
            summary.append(
                {
                    "target": target,
                    "n_dev": size,
                    **{
                        key: statistics.fmean(row[key] for row in rows)
                        for key in cells[0]
                        if key.startswith(("recovered", "false_discoveries", "fdp", "share_null"))
                    },
                }
            )
    return {
        "q": q,
        "method": "bh",
        "n_planted": int(setup.planted.sum()),
        "n_tested": recorded.n_tested,
        "planted_per_layer": setup.planted.sum(dim=1).tolist(),
        "strengths": strengths,
        "cells": cells,
        "summary": summary,
    }


# ---- tables ---------------------------------------------------------------------------------------
def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _count(value: float) -> str:
    return f"{value:.1f}"


def markdown_tables(results: dict[str, Any]) -> str:
    """The Markdown tables of docs/statistics.md, from the results dict."""
    lines: list[str] = []
    cal = results["calibration"]
    q = cal["q"]
    lines += [
        f"Calibration: shuffled dev labels, {cal['summary'][0]['n_seeds']} seeds per dev size, "
        f"{cal['n_tested']:,} neurons; discoveries at q = {q}.",
        "",
        "| dev examples | labels | p < 0.05 (mean, max) | p < 0.01 (mean, max) | smallest p "
        "| seeds with a BH / BY / Holm discovery |",
        "|---|---|---|---|---|---|",
    ]
    for real, row in zip(cal["real"], cal["summary"], strict=True):
        seeds = row["n_seeds"]
        lines.append(
            f"| {row['n_dev']} | shuffled | {_pct(row['mean_share_p_below_0.05'])}, "
            f"{_pct(row['max_share_p_below_0.05'])} | {_pct(row['mean_share_p_below_0.01'])}, "
            f"{_pct(row['max_share_p_below_0.01'])} | {row['min_p']:.2g} | "
            + " / ".join(f"{row[f'seeds_with_{m}_discovery']} of {seeds}" for m in FDR_METHODS)
            + " |"
        )
        lines.append(
            f"| {real['n_dev']} | real | {_pct(real['share_p_below_0.05'])} | "
            f"{_pct(real['share_p_below_0.01'])} | {real['min_p']:.2g} | "
            + " / ".join(f"{real[f'n_{m}']} neurons" for m in FDR_METHODS)
            + " |"
        )
    largest = max(row["n_dev"] for row in cal["summary"])
    lines += [
        "",
        f"Per seed, {largest} dev examples, shuffled labels:",
        "",
        "| seed | p < 0.05 | p < 0.01 | smallest p | BH | BY | Holm |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in cal["shuffled"]:
        if row["n_dev"] == largest:
            lines.append(
                f"| {row['seed']} | {_pct(row['share_p_below_0.05'])} | {_pct(row['share_p_below_0.01'])} | "
                f"{row['min_p']:.2g} | {row['n_bh']} | {row['n_by']} | {row['n_holm']} |"
            )
    pw = results["power"]
    sizes = sorted({cell["n_dev"] for cell in pw["summary"]})
    lines += [
        "",
        f"Power: {pw['n_planted']} planted neurons (per layer {pw['planted_per_layer']}) in "
        f"{pw['n_tested']:,}, labels shuffled, BH at q = {pw['q']}. Strengths (dev accuracy of the planted "
        "neurons on the whole dev split) and the dev size `dev_size_for_effect` gives:",
        "",
        "| target | delta (train stds) | measured accuracy: mean (min-max) | n for a single discovery "
        f"| n for {pw['n_planted']} discoveries |",
        "|---|---|---|---|---|",
    ]
    for row in pw["strengths"]:
        lines.append(
            f"| {row['target']:.2f} | {row['delta']:.3f} | {row['mean_accuracy']:.3f} "
            f"({row['min_accuracy']:.3f}-{row['max_accuracy']:.3f}) | {row['dev_size_single_discovery']:,} "
            f"| {row['dev_size_all_planted']:,} |"
        )
    header = "| target | " + " | ".join(f"n_dev {size}" for size in sizes) + " |"
    rule = "|---|" + "---|" * len(sizes)
    by_cell = {(row["target"], row["n_dev"]): row for row in pw["summary"]}
    targets = [row["target"] for row in pw["strengths"]]
    for title, key, fmt in (
        ("Share of planted neurons recovered (BH):", "recovered", _pct),
        ("False discovery proportion (false / all discoveries):", "fdp", _pct),
        ("False discoveries (non-planted neurons selected, mean count):", "false_discoveries", _count),
        ("Benjamini-Yekutieli instead of BH: share of planted neurons recovered:", "recovered_by", _pct),
        ("Benjamini-Yekutieli: false discovery proportion:", "fdp_by", _pct),
    ):
        lines += ["", title, "", header, rule]
        for target in targets:
            cells = [fmt(by_cell[(target, size)][key]) for size in sizes]
            lines.append(f"| {target:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_results(results: dict[str, Any]) -> None:
    """The Markdown tables, stored in the results too."""
    results["markdown"] = markdown_tables(results)
    print()
    print(results["markdown"])


# ---- command line ---------------------------------------------------------------------------------
def int_list(text: str) -> list[int]:
    """``"100,320"`` -> ``[100, 320]``."""
    return [int(part) for part in text.split(",") if part.strip()]


def float_list(text: str) -> list[float]:
    """``"0.55,0.6"`` -> ``[0.55, 0.6]``."""
    return [float(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; sizes not given default to :data:`FULL` (or :data:`QUICK` with ``--quick``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-train", type=int, help="train examples recorded (baselines)")
    parser.add_argument("--n-dev", type=int, help="dev examples recorded (default: all)")
    parser.add_argument("--dev-sizes", type=int_list, help="dev subset sizes, e.g. 100,320,1000,2000")
    parser.add_argument("--seeds", type=int, help="label shuffles per dev size (calibration)")
    parser.add_argument("--planted", type=int, help="neurons given a known effect (power)")
    parser.add_argument("--targets", type=float_list, help="planted accuracies, e.g. 0.55,0.6,0.65,0.7")
    parser.add_argument("--repeats", type=int, help="random dev subsets per power cell")
    parser.add_argument("--q", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0, help="label shuffle and planting seed (power)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--quick", action="store_true", help=f"CI-size defaults {QUICK} (full: {FULL})")
    parser.add_argument(
        "--activations", type=Path, default=None,
        help="cache of the recorded activations: loaded when it exists (same sizes), else written",
    )
    parser.add_argument("--json", type=Path, default=None, help="write every number as JSON here")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.n = None  # load the whole packaged task
    return args


def measure(recorded: Recorded, args: argparse.Namespace) -> dict[str, Any]:
    """Calibration and power on recorded activations: ``data``, ``calibration``, ``power`` and timings.

    Dev sizes larger than the recorded dev split are left out.
    """
    sizes = [size for size in args.dev_sizes if size <= len(recorded.dev_labels)]
    results: dict[str, Any] = {
        "data": {
            "n_train": len(recorded.train_labels),
            "n_dev_recorded": len(recorded.dev_labels),
            "train_positive_share": float(recorded.train_labels.double().mean()),
            "dev_positive_share": float(recorded.dev_labels.double().mean()),
            "dev_sizes": sizes,
        }
    }
    print(f"data: {results['data']}", flush=True)
    results["calibration"], results["calibration_s"] = timed(
        lambda: calibration(recorded, sizes, args.seeds, args.q)
    )
    print(f"calibration: {results['calibration_s']:.0f} s", flush=True)
    results["power"], results["power_s"] = timed(
        lambda: power(
            recorded, n_planted=args.planted, targets=args.targets, dev_sizes=sizes,
            repeats=args.repeats, q=args.q, seed=args.seed,
        )
    )
    print(f"power: {results['power_s']:.0f} s", flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Record once, then measure calibration and power; print and save the results."""
    args = parse_args(argv)
    results, model, task = begin(args)
    recorded, seconds = timed(lambda: cached_record(model, task, args))
    results.update(measure(recorded, args))
    results["data"]["record_s"] = seconds
    results["data"]["activations"] = None if args.activations is None else str(args.activations)
    finish(results, args, print_results)
    return results


if __name__ == "__main__":
    main()
