"""Print saved perturbation curves as a Markdown table, the form docs/results.md shows them in.

For each fraction: the skill set's accuracy, the random draws' mean and range, the bottom set's accuracy,
the paired sign-flip p-value (skill vs the draws' mean) and the draw p-value (the skill set's rank among
the draws). Several files (modes of one run) are printed side by side.

    python examples/perturbation_table.py runs/paper/bbc-read-full/perturbation-{mean,zero}.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skillneuron_lens.analysis.curves import PerturbationCurve
from skillneuron_lens.errors import SkillNeuronError

COLUMNS = ("skill", "random", "draws", "bottom", "p", "draw p")


def cells(curve: PerturbationCurve, row: int) -> list[str]:
    """One fraction's cells: skill, random mean, draw range, bottom, p-value, draw p-value."""
    draws = curve.random[:, row]
    return [
        f"{float(curve.skill[row]):.3f}",
        f"{float(draws.mean()):.3f}",
        f"{float(draws.min()):.3f}-{float(draws.max()):.3f}",
        f"{float(curve.bottom[row]):.3f}",
        f"{float(curve.p_values[row]):.2g}",
        f"{float(curve.draw_p_values[row]):.2g}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("curves", nargs="+", type=Path, help="perturbation JSON files written by perturb")
    args = parser.parse_args()
    try:
        curves = [PerturbationCurve.load(path) for path in args.curves]
    except SkillNeuronError as error:
        raise SystemExit(str(error)) from None
    fractions = curves[0].fractions
    if any(curve.fractions != fractions for curve in curves):
        raise SystemExit("The curves use different fractions; give curves made with the same --fractions.")
    header = ["p"] + [
        f"{curve.mode}: {name}" if name == "skill" else name for curve in curves for name in COLUMNS
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    clean = [f"{curve.clean_accuracy:.3f}" if name == "skill" else "" for curve in curves for name in COLUMNS]
    print("| clean | " + " | ".join(clean) + " |")
    for row, fraction in enumerate(fractions):
        values = [cell for curve in curves for cell in cells(curve, row)]
        print(f"| {100 * fraction:g}% | " + " | ".join(values) + " |")
    for path, curve in zip(args.curves, curves, strict=True):
        config = curve.config
        print(f"{path}: {config.get('n_examples')} examples, {config.get('draws')} random draws, "
              f"mode options {config.get('mode_options')}")


if __name__ == "__main__":
    main()
