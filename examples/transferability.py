"""Do skill neurons predict how well one task's soft prompt transfers to another? (the paper's indicator)

Run with ``.venv/bin/python examples/transferability.py OUT.json [--n 1000] [--steps 150]``.

1. Builds five binary tasks from the packaged data: rotten_tomatoes, tweets_binary, subjectivity, and two
   from BBC News (business vs tech, sports vs entertainment).
2. Prompt-tunes MiniLM on each (soft prompt + linear head) and computes every neuron's predictivity at the
   prompt slots.
3. Transfer, two ways, for every ordered pair (source, target):
   - zero-shot: the source's prompt and head classify the target's test set unchanged; the accuracy is
     polarity-free (``max(acc, 1 - acc)``, as the label orders of different tasks need not match);
   - head-only: the source's trained prompt is frozen and only a new linear head is trained on the
     target (``--head-steps``).
   Transfer = the target test accuracy so obtained divided by the target's own tuned accuracy.
4. Indicators for each pair: the paper's (Spearman correlation of the two tasks' per-neuron predictivity)
   and the baseline of Su et al. 2022 (Jaccard overlap of the neurons each task activates,
   :func:`skillneuron_lens.analysis.activated_overlap`).
5. Prints and saves the Spearman correlation of each indicator with each kind of transfer over all pairs
   (20 ordered pairs), with the one-sided p-value of a Mantel test
   (:func:`skillneuron_lens.stats.mantel_test`: the pairs share tasks, so the p-value comes from
   relabelling the tasks, all 120 ways for 5 tasks).

``--rescore`` reads a JSON file this script wrote and prints its statistics again, with the Mantel test
(files written before the test existed get it this way), without tuning anything.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import skillneuron_lens as snl


def binary_tasks(n: int, seed: int) -> dict[str, snl.Task]:
    """The five binary offline tasks (BBC News pairs built from its five topics)."""
    tasks = {
        name: snl.load_task(name, n=n, seed=seed)
        for name in ("rotten_tomatoes", "tweets_binary", "subjectivity")
    }
    bbc = snl.load_task("bbc_news", seed=seed)
    for first, second in (("business", "tech"), ("sports", "entertainment")):
        wanted = {bbc.label_names.index(first): 0, bbc.label_names.index(second): 1}
        texts, labels = [], []
        for split in bbc.splits.values():
            for text, label in zip(split.texts, split.labels, strict=True):
                if label in wanted:
                    texts.append(text)
                    labels.append(wanted[label])
        task = snl.task_from_lists(texts, labels, [first, second], name=f"bbc_{first}_vs_{second}", seed=seed)
        tasks[task.name] = task.subsample(min(n, len(texts)), seed=seed)
    return tasks


def indicator_vs_transfer(pairs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Spearman correlation and Mantel p-value of each indicator with each kind of transfer."""
    tasks = sorted({pair["source"] for pair in pairs} | {pair["target"] for pair in pairs})
    index = {task: i for i, task in enumerate(tasks)}

    def matrix(key: str) -> torch.Tensor:
        values = torch.full((len(tasks), len(tasks)), float("nan"), dtype=torch.float64)  # a gap fails
        for pair in pairs:
            values[index[pair["source"]], index[pair["target"]]] = pair[key]
        return values.round(decimals=12)  # ratios equal up to round-off tie

    summary: dict[str, dict[str, dict[str, float]]] = {}
    for transfer_kind in ("zero_shot_relative", "relative"):
        summary[transfer_kind] = {}
        for indicator in ("predictivity_spearman", "activated_overlap"):
            try:
                statistic, p_value, _ = snl.stats.mantel_test(matrix(indicator), matrix(transfer_kind))
            except snl.SkillNeuronError as error:  # e.g. every pair transfers equally well: undefined
                print(f"{indicator} vs {transfer_kind} transfer: {error}")
                summary[transfer_kind][indicator] = {"spearman": float("nan"), "mantel_p": float("nan")}
                continue
            summary[transfer_kind][indicator] = {"spearman": statistic, "mantel_p": p_value}
            print(
                f"{indicator} vs {transfer_kind} transfer: Spearman {statistic:.3f}, "
                f"one-sided Mantel p {p_value:.3f}"
            )
    return summary


def main() -> None:
    """Tune, transfer, correlate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="JSON file to create (never overwritten)")
    parser.add_argument("--n", type=int, default=1000, help="examples per task")
    parser.add_argument("--steps", type=int, default=150, help="prompt-tuning steps per task")
    parser.add_argument("--head-steps", type=int, default=60, help="head-only steps per transfer")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rescore", action="store_true", help="print the statistics of an existing OUT")
    args = parser.parse_args()
    out = Path(args.out)
    if args.rescore:
        indicator_vs_transfer(json.loads(out.read_text(encoding="utf-8"))["pairs"])
        return
    if out.exists():
        raise SystemExit(f"{out} exists: choose another file (nothing is overwritten)")
    started = time.perf_counter()
    model = snl.load_model("minilm")
    tasks = binary_tasks(args.n, args.seed)
    config = snl.ClassifierConfig(method="prompt", max_length=args.max_length, seed=args.seed)
    training = snl.TrainConfig(
        steps=args.steps,
        lr=args.lr,
        head_lr=args.lr,
        eval_every=max(1, args.steps // 3),
        patience=None,
        progress=False,
        seed=args.seed,
    )
    classifiers, results, own = {}, {}, {}
    for name, task in tasks.items():
        classifier = snl.TunedClassifier(model, config)
        snl.train_classifier(classifier, task.train, task.dev, training)
        classifiers[name] = classifier
        own[name] = classifier.accuracy(task.test, progress=False)
        quiet = snl.RecordingConfig(progress=False)
        results[name] = classifier.predictivity(task.train, task.dev, recording=quiet)
        print(f"{name}: tuned test accuracy {own[name]:.3f} ({time.perf_counter() - started:.0f} s)")
    head_only = snl.TrainConfig(
        steps=args.head_steps,
        lr=args.lr,
        eval_every=max(1, args.head_steps // 2),
        patience=None,
        progress=False,
        seed=args.seed,
    )
    pairs = []
    for source in tasks:
        for target, task in tasks.items():
            if source == target:
                continue
            zero_shot = float(classifiers[source].correct(task.test, progress=False).double().mean())
            zero_shot = max(zero_shot, 1.0 - zero_shot)
            transferred = snl.TunedClassifier(model, config)
            prompt, source_prompt = transferred.parts.prompt, classifiers[source].parts.prompt
            assert prompt is not None and source_prompt is not None  # method="prompt" has one
            with torch.no_grad():
                prompt.copy_(source_prompt)
            prompt.requires_grad_(False)  # the source prompt stays as it is
            snl.train_classifier(transferred, task.train, task.dev, head_only)
            accuracy = transferred.accuracy(task.test, progress=False)
            pairs.append(
                {
                    "source": source,
                    "target": target,
                    "zero_shot_accuracy": zero_shot,
                    "zero_shot_relative": zero_shot / own[target],
                    "accuracy": accuracy,
                    "relative": accuracy / own[target],
                    "predictivity_spearman": snl.stats.spearman(results[source], results[target]),
                    "activated_overlap": snl.analysis.activated_overlap(results[source], results[target]),
                }
            )
            print(
                f"{source} -> {target}: zero-shot {zero_shot:.3f}, head-only {accuracy:.3f} "
                f"(relative {pairs[-1]['zero_shot_relative']:.3f}, {pairs[-1]['relative']:.3f})"
            )
    summary = indicator_vs_transfer(pairs)
    record = {
        "arguments": vars(args),
        "tuned_accuracy": own,
        "pairs": pairs,
        "indicator_vs_transfer": summary,
        "seconds": round(time.perf_counter() - started, 1),
    }
    with out.open("x", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)


if __name__ == "__main__":
    main()
