"""Prompt tuning of the packaged SmolLM2 with a verbalizer, against its zero-shot accuracy (offline).

Run with ``.venv/bin/python examples/tune_smollm2.py [--n 2000] [--steps 100]``. The soft prompt goes
AFTER the review (a decoder's prompt before the input could not see it) and is initialised from the
token embeddings of ``--init-text`` (default ``"\\nSentiment:"``, the end of the zero-shot template), so
before training it reads like ``{review}\\nSentiment:``. The label is read at the last position from
SmolLM2's own LM head, restricted to the words "negative" / "positive". The script prints the test
accuracy before training (zero-shot with the initial prompt) and after, a one-sided paired sign-flip test
that tuning helped (on the same test examples; with 0/1 differences this is an exact McNemar-type test
when few examples disagree), and the trainable parameter count; the model's weights never change.
"""

from __future__ import annotations

import argparse
import json
import time

import skillneuron_lens as snl


def main() -> None:
    """Tune and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="examples in all (test 20%%, dev 16%%)")
    parser.add_argument("--steps", type=int, default=100, help="training steps")
    parser.add_argument("--batch-size", type=int, default=8, help="examples per step")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--eval-every", type=int, default=50, help="dev evaluation interval")
    parser.add_argument("--init-text", default="\nSentiment:", help="text whose embeddings start the prompt")
    parser.add_argument("--max-length", type=int, default=64, help="truncate reviews to this many tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    model = snl.load_model("smollm2")
    task = snl.load_task("rotten_tomatoes", n=args.n, seed=args.seed)
    length = len(model.tokenizer(args.init_text, add_special_tokens=False)["input_ids"])
    config = snl.ClassifierConfig(
        method="prompt", head="verbalizer", label_words=("negative", "positive"), prompt_length=length,
        prompt_init="text", prompt_init_text=args.init_text, max_length=args.max_length, batch_size=32,
        seed=args.seed,
    )
    classifier = snl.TunedClassifier(model, config)
    right_before = classifier.correct(task.test, progress=False).double()
    before = float(right_before.mean())
    print(f"before tuning (prompt = embeddings of {args.init_text!r}, {length} slots): test {before:.3f}")
    training = snl.TrainConfig(
        steps=args.steps, lr=args.lr, batch_size=args.batch_size, eval_every=args.eval_every, patience=None,
        seed=args.seed,
    )
    tuning_started = time.perf_counter()
    history = snl.train_classifier(classifier, task.train, task.dev, training)
    tuning_seconds = time.perf_counter() - tuning_started
    right_after = classifier.correct(task.test, progress=False).double()
    after = float(right_after.mean())
    gain, p_value, method = snl.stats.sign_flip_test(right_after - right_before, seed=args.seed)
    numbers = {
        "n_train": len(task.train), "n_dev": len(task.dev), "n_test": len(task.test),
        "prompt_slots": length, "trainable_parameters": classifier.parts.n_trainable(),
        "test_accuracy_before": before, "test_accuracy_after": after,
        "examples_fixed": int(((right_after - right_before) > 0).sum()),
        "examples_broken": int(((right_after - right_before) < 0).sum()),
        "p_value_after_above_before": p_value, "p_value_method": method, "history": history,
        "tuning_seconds": round(tuning_seconds, 1), "total_seconds": round(time.perf_counter() - started, 1),
    }
    print(f"after {args.steps} steps ({tuning_seconds:.0f} s): test {after:.3f}; dev history "
          f"{[(h['step'], round(h['dev_accuracy'], 3)) for h in history]}")
    print(f"paired test that tuning helped: gain {gain:+.3f}, {numbers['examples_fixed']} examples fixed, "
          f"{numbers['examples_broken']} broken, one-sided p = {p_value:.2g} ({method})")
    if args.json:
        with open(args.json, "x", encoding="utf-8") as handle:  # never overwrite silently
            json.dump(numbers, handle, indent=2)


if __name__ == "__main__":
    main()
