"""Quickstart: skill-neuron predictivity of MiniLM on Rotten Tomatoes, fully offline.

Run with ``.venv/bin/python examples/quickstart.py [--n 2000] [--out runs/quickstart]``.
It loads the packaged MiniLM and the packaged Rotten Tomatoes reviews, computes the paper's
predictivity of all 9,216 MLP neurons at the [CLS] position (streaming, exact), selects the top 2%
per layer as skill neurons with layer-matched random controls, prints the best neurons, and saves
the result directory.
"""

from __future__ import annotations

import argparse
import time

import skillneuron_lens as snl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="examples to use (train + dev + test)")
    parser.add_argument("--out", default="runs/quickstart", help="result directory to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--positions", default="0", help="0 ([CLS]), 'mean', 'max' or 'last'")
    args = parser.parse_args()
    positions = int(args.positions) if args.positions.lstrip("-").isdigit() else args.positions

    model = snl.load_model("minilm")
    task = snl.load_task("rotten_tomatoes", n=args.n, seed=0)
    print(f"task {task.name}: train {len(task.train)}, dev {len(task.dev)} ({task.source})")

    start = time.perf_counter()
    result = snl.compute_predictivity(
        model, task.train, task.dev, positions=positions,
        recording=snl.RecordingConfig(batch_size=32, max_length=64),
    )
    print(f"predictivity of {result.n_layers} x {result.n_neurons} neurons in "
          f"{time.perf_counter() - start:.1f} s")

    skill = snl.NeuronSet.top(result, fraction=0.02)
    controls = skill.random_controls(n_draws=5, seed=0)
    control_mean = sum(float(c.scores(result).mean()) for c in controls) / len(controls)
    print(f"top 2% per layer: {len(skill)} neurons, mean predictivity "
          f"{float(skill.scores(result).mean()):.3f} (layer-matched random: {control_mean:.3f})")
    print("layer  best neuron  predictivity  polarity")
    for row, layer in enumerate(result.layers):
        neuron = int(result.predictivity[row].argmax())
        print(f"{layer:>5}  {neuron:>11}  {float(result.predictivity[row, neuron]):>12.3f}  "
              f"{int(result.polarity[row, neuron]):>+8d}")
    result.save(args.out, overwrite=args.overwrite)
    print(f"saved {args.out}/predictivity.safetensors and cfg.json")


if __name__ == "__main__":
    main()
