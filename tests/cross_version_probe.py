"""Compute predictivity on the tiny GPT-2 and save it: run by tests under each TransformerLens.

Usage: python tests/cross_version_probe.py OUTPUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from tiny_models import tiny_gpt2, toy_texts  # noqa: E402

import skillneuron_lens as snl  # noqa: E402


def main(out: str) -> None:
    model = tiny_gpt2()
    for positions in (0, [1, -1], "mean", "max"):
        result = snl.compute_predictivity(
            model, toy_texts(60, 11, min_len=3), toy_texts(40, 12, min_len=3),
            positions=positions, prepend_bos=True, progress=False,
        )
        result.save(Path(out) / str(positions).replace(" ", ""))


if __name__ == "__main__":
    main(sys.argv[1])
