"""Benchmark: seconds per prompt-tuning training step against the bare Hugging Face forward + backward.

Model: the packaged MiniLM (``load_model("minilm")``, a TransformerBridge around HF ``BertForMaskedLM``) on
CPU; data: the train split of ``load_task("rotten_tomatoes", seed=0, n=N)``. The classifier is the
project's ``TunedClassifier`` with ``method="prompt"`` (16 soft-prompt slots after [CLS]), the linear
head and mean pooling (the default for encoders), ``max_length`` 64; each step is one batch of 16
examples, encoded once by ``classifier.encode`` (the encoding is timed on its own). Every step runs two
ways on the same encoded batch, back to back, the order alternating from step to step (paired timing):
(a) ``floor``: the bare HF encoder ``model.original_model.bert`` with the prompt vectors spliced in at
the same slots, then the same mean pooling over the attention mask, the same ``layer_norm`` + linear
head, cross-entropy and ``backward()`` into the prompt and head; (b) ``project``:
``classifier.logits(batch)`` (hooks splice the prompt and the forward pass stops at the last block's
residual stream), cross-entropy and ``backward()``. Where the floor splices follows the project
(``--floor-splice auto``): the project splices at its token-embedding hook ``hook_embed``, which on the
TransformerBridge around BERT resolves to ``embed_ln.hook_out``, the output of the whole embedding
block (word + position + token-type embeddings, then LayerNorm); the floor then replaces the output of
the HF ``bert.embeddings`` at the prompt slots with a plain torch forward hook. Where ``hook_embed``
resolves to the word embeddings, it builds ``inputs_embeds`` (word embeddings with the prompt vectors in
place) and calls ``bert(inputs_embeds=..., attention_mask=..., token_type_ids=...)``;
``--floor-splice inputs_embeds`` forces that (same cost, but a different computation when the project
splices after the embedding LayerNorm). The bridge patches the HF model's submodules in place, so
``model.original_model.bert`` runs through the bridge's component wrappers (with no hooks attached);
``--floor-model pristine`` uses a fresh HF ``BertModel`` from the same checkpoint (same attention
implementation) instead. The model is frozen for both ways (as in ``train_classifier``); no optimizer
step is taken inside the paired loop, so both ways see the same prompt and their losses and prompt/head
gradients must agree (max abs difference reported: it shows they compute the same thing). Reported:
the median of the per-step time ratios (b)/(a) and the ratio of the summed times, against the target of
1.15x, plus the encoding, the optimizer step (gradient clipping + AdamW) and an end-to-end
``train_classifier`` run of the same number of steps for reference.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_tuning.py --steps 100 --threads 2 \
        --json bench_tuning.json
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import copy
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from _common import add_shared_options, begin, finish, prompt_config
from torch.nn import functional

import skillneuron_lens as snl
from skillneuron_lens.tuning.soft_prompt import PromptedBatch
from skillneuron_lens.tuning.training import frozen

TARGET = 1.15
WAYS = ("floor", "project")


def step_rows(n_train: int, batch_size: int, count: int, seed: int) -> list[list[int]]:
    """``count`` batches of example indices: seeded shuffles of the train split, epoch after epoch."""
    generator = torch.Generator().manual_seed(seed)
    size = min(batch_size, n_train)
    rows: list[list[int]] = []
    while len(rows) < count:
        order = torch.randperm(n_train, generator=generator).tolist()
        rows.extend(order[start : start + size] for start in range(0, n_train - size + 1, size))
    return rows[:count]


def splice_site(classifier: snl.TunedClassifier) -> str:
    """Where the project splices the prompt: the name of the hook point behind its embedding hook.

    On the TransformerBridge around BERT, ``hook_embed`` is an alias that resolves to
    ``embed_ln.hook_out``: the output of the whole embedding block (word + position + token-type
    embeddings, then LayerNorm), not the word embeddings alone.
    """
    alias = classifier.adapter.token_embedding_hook
    point = classifier.model.hook_dict[alias]
    return str(getattr(point, "name", None) or alias)


def floor_splice_for(site: str, choice: str) -> str:
    """The floor's splice that computes what the project computes (``auto``), or the one asked for."""
    if choice != "auto":
        return choice
    if site.startswith("embed_ln.") or site.endswith("hook_resid_pre"):
        return "embeddings_output"
    return "inputs_embeds"


def pristine_encoder(model: Any) -> Any:
    """A fresh Hugging Face ``BertModel`` from the same checkpoint, not patched by the bridge."""
    from transformers import BertModel

    from skillneuron_lens.models.offline import offline_checkpoint

    bridged = model.original_model.bert
    encoder = BertModel.from_pretrained(
        str(offline_checkpoint("minilm")),
        add_pooling_layer=False,
        attn_implementation=bridged.config._attn_implementation,
    )
    encoder.eval()
    encoder.requires_grad_(False)
    return encoder


class Ways:
    """The two ways of computing one training step's loss and gradients.

    Args:
        classifier: The project's classifier (its prompt and head are shared by both ways).
        splice: ``"inputs_embeds"`` (the floor feeds word embeddings with the prompt vectors in place
            to the HF encoder) or ``"embeddings_output"`` (the prompt vectors replace the output of the
            HF embedding block at the prompt slots, through a plain torch forward hook).
        encoder: The HF encoder of the floor (default ``model.original_model.bert``).
    """

    def __init__(self, classifier: snl.TunedClassifier, splice: str, encoder: Any = None) -> None:
        """Keep the classifier, its prompt and head, and the HF encoder."""
        self.classifier = classifier
        self.bert = classifier.model.original_model.bert if encoder is None else encoder
        self.word_embeddings = self.bert.embeddings.word_embeddings
        self.splice = splice
        self.parts = classifier.parts
        assert self.parts.prompt is not None and self.parts.head is not None
        self.prompt = self.parts.prompt
        self.head = self.parts.head
        self.d_model = int(self.prompt.shape[-1])

    def _encoder_output(self, batch: PromptedBatch) -> torch.Tensor:
        tokens = batch.tokens
        slots = batch.prompt_slot
        at_prompt = (slots >= 0)[..., None]
        vectors = self.prompt[slots.clamp_min(0)]
        if self.splice == "inputs_embeds":
            embeds = torch.where(at_prompt, vectors, self.word_embeddings(tokens.input_ids))
            return self.bert(
                inputs_embeds=embeds,
                attention_mask=tokens.attention_mask,
                token_type_ids=tokens.token_type_ids,
            ).last_hidden_state

        def splice(module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            return torch.where(at_prompt, vectors.to(output.dtype), output)

        handle = self.bert.embeddings.register_forward_hook(splice)
        try:
            return self.bert(
                input_ids=tokens.input_ids,
                attention_mask=tokens.attention_mask,
                token_type_ids=tokens.token_type_ids,
            ).last_hidden_state
        finally:
            handle.remove()

    def floor(self, batch: PromptedBatch, target: torch.Tensor) -> torch.Tensor:
        """(a) Bare HF encoder forward with the prompt spliced, pooling, head, loss, backward."""
        self.parts.zero_grad(set_to_none=True)
        hidden = self._encoder_output(batch)
        mask = batch.tokens.attention_mask[..., None].to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
        logits = self.head(functional.layer_norm(pooled.float(), (self.d_model,)))
        loss = functional.cross_entropy(logits, target)
        loss.backward()
        return loss.detach()

    def project(self, batch: PromptedBatch, target: torch.Tensor) -> torch.Tensor:
        """(b) The project's ``classifier.logits`` + cross-entropy + backward."""
        self.parts.zero_grad(set_to_none=True)
        loss = functional.cross_entropy(self.classifier.logits(batch).float(), target)
        loss.backward()
        return loss.detach()

    def gradients(self) -> torch.Tensor:
        """The prompt and head gradients of the last step, flattened."""
        grads = [p.grad.detach().flatten() for p in self.parts.parameters() if p.grad is not None]
        return torch.cat(grads).clone()


def measure_paired(
    classifier: snl.TunedClassifier,
    texts: Sequence[str],
    labels: Sequence[int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Paired per-step timing of the two ways on the same encoded batches."""
    site = splice_site(classifier)
    splice = floor_splice_for(site, args.floor_splice)
    encoder = pristine_encoder(classifier.model) if args.floor_model == "pristine" else None
    ways = Ways(classifier, splice, encoder)
    steps: dict[str, Callable[[PromptedBatch, torch.Tensor], torch.Tensor]] = {
        "floor": ways.floor,
        "project": ways.project,
    }
    rows = step_rows(len(texts), args.batch_size, args.warmup + args.steps * args.repeats, args.seed)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    encode_times: list[float] = []
    loss_diffs: list[float] = []
    grad_diffs: list[float] = []
    losses: list[float] = []
    tokens_per_step: list[int] = []
    widths: list[int] = []
    with frozen(classifier.model):
        assert not any(p.requires_grad for p in ways.bert.parameters()), "the encoder must be frozen"
        classifier.model.eval()
        assert not ways.bert.training, "the HF encoder must be in eval mode (no dropout)"
        for index, chosen in enumerate(rows):
            start = time.perf_counter()
            batch = classifier.encode([texts[i] for i in chosen])
            encoded_s = time.perf_counter() - start
            target = torch.tensor([labels[i] for i in chosen])
            order = WAYS if index % 2 == 0 else WAYS[::-1]
            step_loss: dict[str, torch.Tensor] = {}
            step_grad: dict[str, torch.Tensor] = {}
            step_time: dict[str, float] = {}
            for way in order:
                start = time.perf_counter()
                step_loss[way] = steps[way](batch, target)
                step_time[way] = time.perf_counter() - start
                step_grad[way] = ways.gradients()
            loss_diffs.append(float((step_loss["project"] - step_loss["floor"]).abs()))
            grad_diffs.append(float((step_grad["project"] - step_grad["floor"]).abs().max()))
            if index < args.warmup:
                continue
            encode_times.append(encoded_s)
            losses.append(float(step_loss["project"]))
            tokens_per_step.append(int(batch.tokens.attention_mask.sum()))
            widths.append(int(batch.tokens.input_ids.shape[1]))
            for way in WAYS:
                times[way].append(step_time[way])
    ratios = [p / f for p, f in zip(times["project"], times["floor"], strict=True)]
    totals = {way: sum(values) for way, values in times.items()}
    return {
        "project_splice_hook": classifier.adapter.token_embedding_hook,
        "project_splice_site": site,
        "floor_splice": splice,
        "floor_model": args.floor_model,
        "floor_attn_implementation": ways.bert.config._attn_implementation,
        "n_steps": len(ratios),
        "times_s": times,
        "encode_s": encode_times,
        "total_s": totals,
        "median_step_s": {way: statistics.median(values) for way, values in times.items()},
        "median_step_ratio": statistics.median(ratios),
        "ratio_of_totals": totals["project"] / totals["floor"],
        "median_encode_s": statistics.median(encode_times),
        "max_abs_diff_loss": max(loss_diffs),
        "max_abs_diff_grad": max(grad_diffs),
        "mean_loss": statistics.fmean(losses),
        "mean_tokens_per_step": statistics.fmean(tokens_per_step),
        "max_width": max(widths),
    }


def measure_optimizer(classifier: snl.TunedClassifier, steps: int) -> float:
    """Median seconds of one gradient clip + AdamW step on a copy of the trainable parts."""
    parts = copy.deepcopy(classifier.parts)
    optimizer = torch.optim.AdamW(parts.parameters(), lr=3e-2)
    for parameter in parts.parameters():
        parameter.grad = torch.randn_like(parameter)
    times = []
    for _ in range(max(steps, 5)):
        start = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(list(parts.parameters()), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_end_to_end(
    model: Any, config: snl.ClassifierConfig, train: Any, steps: int, batch_size: int
) -> dict[str, Any]:
    """``train_classifier`` for ``steps`` steps on a fresh classifier (one 1-example dev evaluation)."""
    fresh = snl.TunedClassifier(model, config)
    dev = (list(train.texts[:1]), list(train.labels[:1]))
    training = snl.TrainConfig(
        steps=steps, batch_size=batch_size, eval_every=steps, patience=None, progress=False
    )
    start = time.perf_counter()
    snl.train_classifier(fresh, train, dev, training)
    seconds = time.perf_counter() - start
    return {"steps": steps, "total_s": seconds, "s_per_step": seconds / steps}


def print_results(results: dict[str, Any]) -> None:
    """The summary table."""
    paired = results["paired"]
    floor = paired["median_step_s"]["floor"]
    print(
        f"\npaired per-step timing ({paired['n_steps']} steps of {results['config']['batch_size']} examples, "
        f"~{paired['mean_tokens_per_step']:.0f} tokens/step, order alternating per step):"
    )
    print(
        f"project splices the prompt at {paired['project_splice_hook']!r} "
        f"(= {paired['project_splice_site']!r}); floor: {paired['floor_model']} encoder, splice "
        f"{paired['floor_splice']}, attention {paired['floor_attn_implementation']}"
    )
    print(f"{'way':48s} {'median s/step':>13s} {'sum s':>8s} {'x floor':>8s}")
    labels = {
        "floor": f"(a) bare HF bert fwd+bwd ({paired['floor_splice']})",
        "project": "(b) classifier.logits + CE + backward",
    }
    for way in WAYS:
        median = paired["median_step_s"][way]
        total = paired["total_s"][way]
        print(f"{labels[way]:48s} {median:13.4f} {total:8.2f} {total / paired['total_s']['floor']:8.3f}")
    verdict = "OK" if paired["median_step_ratio"] <= TARGET else "ABOVE TARGET"
    print(
        f"median per-step ratio (b)/(a) = {paired['median_step_ratio']:.3f}, ratio of totals = "
        f"{paired['ratio_of_totals']:.3f}   (target: within {TARGET:.2f}x) -> {verdict}"
    )
    same = paired["max_abs_diff_loss"] <= 1e-4 and paired["max_abs_diff_grad"] <= 1e-4
    print(
        f"{'same computation' if same else 'DIFFERENT computations'}: max |loss(b) - loss(a)| = "
        f"{paired['max_abs_diff_loss']:.3g}, max |grad(b) - grad(a)| = {paired['max_abs_diff_grad']:.3g}"
        + ("" if same else " (the floor splices the prompt elsewhere than the project)")
    )
    extra = results["optimizer_step_s"]
    encode = paired["median_encode_s"]
    full = paired["median_step_s"]["project"] + encode + extra
    print(
        f"outside the paired loop: classifier.encode {encode:.4f} s/step, clip + AdamW {extra:.5f} s/step; "
        f"full step estimate (b)+encode+optimizer = {full:.4f} s = {full / floor:.3f}x floor"
    )
    if "end_to_end" in results:
        e2e = results["end_to_end"]
        print(
            f"train_classifier end to end (not paired): {e2e['s_per_step']:.4f} s/step over {e2e['steps']} "
            f"steps = {e2e['s_per_step'] / floor:.3f}x the median floor step"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="examples loaded (the train split is used)")
    parser.add_argument("--steps", type=int, default=100, help="timed training steps per repeat")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of --steps timed steps (pooled)")
    parser.add_argument("--batch-size", type=int, default=16)
    add_shared_options(parser)
    parser.add_argument(
        "--floor-splice",
        choices=("auto", "inputs_embeds", "embeddings_output"),
        default="auto",
        help="where the floor puts the prompt: auto = where the project does (see the docstring)",
    )
    parser.add_argument(
        "--floor-model",
        choices=("bridge", "pristine"),
        default="bridge",
        help="floor encoder: model.original_model.bert (patched by the bridge) or a fresh HF BertModel",
    )
    parser.add_argument("--skip-e2e", action="store_true", help="skip the end-to-end train_classifier run")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    results, model, task = begin(args, TARGET)
    config = prompt_config(args, task.n_classes)
    classifier = snl.TunedClassifier(model, config)
    results["config"]["pooling"] = classifier.pooling
    print(
        f"train split: {len(task.train.texts)} examples; prompt {args.prompt_length} slots, "
        f"head {classifier.head_kind}, pooling {classifier.pooling}",
        flush=True,
    )
    results["paired"] = measure_paired(classifier, task.train.texts, task.train.labels, args)
    results["optimizer_step_s"] = measure_optimizer(classifier, args.steps)
    if not args.skip_e2e:
        results["end_to_end"] = measure_end_to_end(
            model, config, task.train, args.steps * args.repeats, args.batch_size
        )
    finish(results, args, print_results)


if __name__ == "__main__":
    main()
