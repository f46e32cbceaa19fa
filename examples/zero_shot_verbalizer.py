"""Zero-shot verbalizer accuracy of the packaged SmolLM2 on Rotten Tomatoes (offline).

Run with ``.venv/bin/python examples/zero_shot_verbalizer.py [--n 2000]``: it reads the label words
"negative" / "positive" from SmolLM2's LM head after the template ``Review: {text}\\nSentiment:`` at the
last token, and prints the accuracy on the task's test split.
"""

from __future__ import annotations

import argparse
import time

import skillneuron_lens as snl
from skillneuron_lens.tuning.readouts import VerbalizerReadout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="examples in all (the test split is 20%%)")
    parser.add_argument("--template", default="Review: {text}\nSentiment:")
    args = parser.parse_args()
    model = snl.load_model("smollm2")
    task = snl.load_task("rotten_tomatoes", n=args.n, seed=0)
    start = time.perf_counter()
    readout = VerbalizerReadout(model, args.template, ["negative", "positive"], progress=False)
    accuracy = readout.accuracy(task.test)
    print(f"zero-shot verbalizer test accuracy {accuracy:.3f} on {len(task.test)} examples "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
