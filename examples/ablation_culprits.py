"""Which neurons of a skill set do the damage when it is ablated? Layer by layer, then by halving.

A perturbation curve says that ablating a skill set hurts; this script asks whether the whole set does it
or a few neurons of it. On a tuned run it ablates the top-``fraction`` skill set one layer at a time on a
sample of the evaluation split, then halves the worst layer's set while the accuracy stays at most
``tolerance`` above the whole set's, and prints the neurons left with their baseline (the value the mean
mode writes) next to their activation at the read-out slot.

    python examples/ablation_culprits.py runs/scale/tweets-read --mode mean --fraction 0.02 --n 300
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import torch

from skillneuron_lens import NeuronSet, Run
from skillneuron_lens.intervene.hooks import perturb
from skillneuron_lens.models.adapter import DEFAULT_HOOK


def accuracy(
    classifier: Any, split: Any, model: Any, neurons: NeuronSet | None, mode: str, mean: Any
) -> float:
    """Accuracy on ``split`` with ``neurons`` perturbed (``None``: clean)."""
    if neurons is None or len(neurons) == 0:
        return float(classifier.correct(split, progress=False).float().mean())
    options = {"mean": mean} if mode == "mean" else {}
    with perturb(model, neurons, mode, **options):
        return float(classifier.correct(split, progress=False).float().mean())


def only(neurons: NeuronSet, pairs: list[tuple[int, int]]) -> NeuronSet:
    """The neurons of ``pairs``, on ``neurons``' layers and width."""
    return NeuronSet.from_list(pairs, layers=neurons.layers, n_neurons=neurons.mask.shape[1])


def read_slot_activations(
    classifier: Any, split: Any, model: Any, pairs: list[tuple[int, int]]
) -> list[float]:
    """Mean activation of each neuron at position 0 (the ``[CLS]`` slot) over ``split``."""
    store: dict[int, torch.Tensor] = {}

    def keep(layer: int) -> Any:
        def hook(activations: torch.Tensor, hook: Any) -> None:
            store.setdefault(layer, activations.new_zeros(activations.shape[-1]))
            store[layer] += activations[:, 0].sum(0).detach()

        return hook

    layers = sorted({layer for layer, _ in pairs})
    with model.hooks(fwd_hooks=[(DEFAULT_HOOK.format(layer=layer), keep(layer)) for layer in layers]):
        classifier.correct(split, progress=False)
    return [float(store[layer][neuron]) / len(split) for layer, neuron in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="tuned run directory (find --tune ...)")
    parser.add_argument("--mode", default="mean", choices=["mean", "zero"])
    parser.add_argument("--fraction", type=float, default=0.02)
    parser.add_argument("--n", type=int, default=300, help="evaluation examples sampled from the split")
    parser.add_argument("--split", default="test")
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run = Run(args.run)
    model = run.model(args.device)
    classifier = run.classifier(model)
    full = run.split(run.task(), args.split)
    rows = sorted(random.Random(args.seed).sample(range(len(full)), min(args.n, len(full))))
    split = full.select(rows)
    mean = run.result.mean_baselines().float()  # what the mean mode writes
    skill = NeuronSet.top(run.result, fraction=args.fraction)
    clean = accuracy(classifier, split, model, None, args.mode, mean)
    whole = accuracy(classifier, split, model, skill, args.mode, mean)
    print(f"{len(split)} examples; clean {clean:.3f}; {len(skill)} skill neurons, {args.mode}: {whole:.3f}")
    pairs_by_layer = {layer: [pair for pair in skill.to_list() if pair[0] == layer] for layer in skill.layers}
    by_layer = {}
    for layer, pairs in pairs_by_layer.items():
        by_layer[layer] = accuracy(classifier, split, model, only(skill, pairs), args.mode, mean)
        print(f"  layer {layer}: {len(pairs)} neurons -> {by_layer[layer]:.3f}")
    worst = min(by_layer, key=by_layer.__getitem__)
    suspects, score = pairs_by_layer[worst], by_layer[worst]
    while len(suspects) > 1:
        half = len(suspects) // 2
        for part in (suspects[:half], suspects[half:]):
            part_score = accuracy(classifier, split, model, only(skill, part), args.mode, mean)
            if part_score <= whole + args.tolerance:
                suspects, score = part, part_score
                break
        else:
            break
    read = read_slot_activations(classifier, split, model, suspects)
    print(f"{len(suspects)} neuron(s) of layer {worst} alone -> {score:.3f}:")
    for (layer, neuron), at_read in zip(suspects, read, strict=True):
        print(f"  L{layer}.N{neuron}: predictivity {float(run.result.predictivity[layer, neuron]):.3f}, "
              f"baseline {float(mean[layer, neuron]):+.3f}, mean at the read-out slot {at_read:+.3f}")


if __name__ == "__main__":
    main()
