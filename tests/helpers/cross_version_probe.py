"""Compute predictivity on the tiny GPT-2 and save it: run by tests under each TransformerLens.

Usage: python tests/helpers/cross_version_probe.py OUTPUT_DIR [minilm]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for tests.helpers

import skillneuron_lens as snl  # noqa: E402
from tests.helpers.tiny_models import tiny_gpt2, toy_texts  # noqa: E402


def minilm(out: str) -> None:
    """The packaged MiniLM at [CLS] on 2,000 packaged Rotten Tomatoes snippets (1,280 train / 320 dev)."""
    model = snl.load_model("minilm")
    task = snl.load_task("rotten_tomatoes", n=2000, seed=0)
    result = snl.compute_predictivity(
        model, task.train, task.dev, positions=0, n_permutations=0,
        recording=snl.RecordingConfig(max_length=64, progress=False),
    )
    result.save(Path(out) / "minilm")


def main(out: str) -> None:
    model = tiny_gpt2()
    for positions in (0, [1, -1], "mean", "max"):
        result = snl.compute_predictivity(
            model, toy_texts(60, 11, min_len=3), toy_texts(40, 12, min_len=3),
            positions=positions, recording=snl.RecordingConfig(prepend_bos=True, progress=False),
        )
        result.save(Path(out) / str(positions).replace(" ", ""))


if __name__ == "__main__":
    if sys.argv[2:] == ["minilm"]:
        minilm(sys.argv[1])
    else:
        main(sys.argv[1])
