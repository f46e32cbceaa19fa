"""Train a :class:`~skillneuron_lens.tuning.classifier.TunedClassifier`'s parts with the model frozen.

The loop: Adam or AdamW, a linear warm-up then linear decay, gradient clipping, evaluation on the
dev split every ``eval_every`` steps, early stopping after ``patience`` evaluations without
improvement, and the best checkpoint (by dev accuracy) restored at the end. The model's own
parameters get ``requires_grad=False`` for the duration (restored afterwards) and are never passed
to the optimizer, so they stay bit-identical.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.labelled import labelled_splits
from skillneuron_lens.tuning.classifier import TunedClassifier

__all__ = ["TrainConfig", "frozen", "train_classifier"]


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        steps: Optimisation steps; when ``None``, ``epochs`` passes over the train split.
        epochs: Passes over the train split (used when ``steps`` is ``None``).
        batch_size: Examples per step.
        lr: Peak learning rate.
        head_lr: Peak learning rate of the linear head (default: ``lr``); a smaller one keeps the head
            from overfitting while the prompt learns.
        optimizer: ``"adamw"`` or ``"adam"``.
        weight_decay: AdamW weight decay.
        warmup: Share of the steps spent warming the learning rate up linearly from 0.
        grad_clip: Clip the gradient norm to this (``None``: no clipping).
        eval_every: Evaluate on dev every this many steps (and at the end); ``None`` (the default):
            only at the end, so the final parameters are kept.
        patience: Stop after this many evaluations without a better dev accuracy (``None``: never).
        bf16: Run forward passes under bfloat16 autocast.
        seed: Seed for the order of examples.
        progress: Show a progress bar with loss and dev accuracy.
    """

    steps: int | None = 450
    epochs: float = 4.0
    batch_size: int = 16
    lr: float = 3e-3
    head_lr: float | None = None
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    warmup: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int | None = None
    patience: int | None = 4
    bf16: bool = False
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        """Validate the numbers."""
        if self.steps is not None and self.steps < 1:
            raise SkillNeuronError(f"steps must be at least 1, got {self.steps}.")
        if self.steps is None and not self.epochs > 0:
            raise SkillNeuronError(f"epochs must be positive, got {self.epochs}.")
        if self.batch_size < 1 or (self.eval_every is not None and self.eval_every < 1):
            raise SkillNeuronError("batch_size and eval_every must be at least 1.")
        if not self.lr > 0:
            raise SkillNeuronError(f"lr must be positive, got {self.lr}.")
        if self.optimizer not in ("adam", "adamw"):
            raise SkillNeuronError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}.")
        if not 0 <= self.warmup < 1:
            raise SkillNeuronError(f"warmup is a share of the steps in [0, 1), got {self.warmup}.")

    def total_steps(self, n_train: int) -> int:
        """Steps the run will take at most."""
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(self.epochs * n_train / self.batch_size))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


@contextlib.contextmanager
def frozen(model: Any) -> Iterator[None]:
    """Turn off gradients for every model parameter, restoring each flag afterwards."""
    flags = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def _batches(n_examples: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless shuffled batches (a new seeded order every epoch)."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n_examples, generator=generator).tolist()
        for start in range(0, n_examples - batch_size + 1 if n_examples >= batch_size else 1, batch_size):
            yield order[start : start + batch_size]


def _schedule(step: int, total: int, warmup_steps: int) -> float:
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total - step) / max(1, total - warmup_steps))


def train_classifier(
    classifier: TunedClassifier,
    train: Any,
    dev: Any,
    config: TrainConfig | None = None,
    *,
    label_names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Train the classifier's parts; the best checkpoint on dev is kept.

    Args:
        classifier: The classifier (its model stays frozen).
        train: Train split (``(texts, labels)`` or an object with ``.texts``/``.labels``).
        dev: Dev split for evaluation and early stopping.
        config: Training settings.
        label_names: Class names in id order for string labels; default the sorted strings of
            ``train`` (see :mod:`skillneuron_lens.tasks.labelled`). Kept as ``classifier.label_names``.

    Returns:
        The history: one dict per evaluation (``step``, ``loss``, ``dev_accuracy``, ``seconds`` since
        the start, ``train_seconds`` of those spent on optimisation steps, dev evaluations left out),
        also stored on ``classifier.history``.

    Raises:
        SkillNeuronError: If there is nothing to train (a verbalizer without prompt, deltas or
            adapters) or a label is out of range.
    """
    config = config or TrainConfig()
    parameters = list(classifier.parts.parameters())
    if not parameters:
        raise SkillNeuronError(
            "Nothing to train: a verbalizer read-out with method='none' has no parameters (it is zero-shot). "
            "Choose method='prompt', 'bitfit' or 'adapter', or head='linear'."
        )
    checked, classifier.label_names = labelled_splits({"train": train, "dev": dev}, label_names)
    texts, labels, pairs = checked["train"]
    if max(labels) >= classifier.config.n_classes or min(labels) < 0:
        raise SkillNeuronError(
            f"Train labels span {min(labels)}..{max(labels)} but the classifier has "
            f"{classifier.config.n_classes} classes."
        )
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    head = classifier.parts.head
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    groups = [
        {"params": [p for p in parameters if id(p) not in head_ids], "lr": config.lr},
        {"params": [p for p in parameters if id(p) in head_ids], "lr": config.head_lr or config.lr},
    ]
    optimizer = optimizer_class(
        [group for group in groups if group["params"]], lr=config.lr, weight_decay=config.weight_decay
    )
    total = config.total_steps(len(texts))
    warmup_steps = max(1, int(config.warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _schedule(step, total, warmup_steps)
    )
    device = classifier.adapter.device
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if config.bf16
        else contextlib.nullcontext()
    )
    best_accuracy, best_state, stale = -1.0, copy.deepcopy(classifier.parts.state_dict()), 0
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    started = time.perf_counter()
    evaluating_seconds = 0.0
    batches = _batches(len(texts), min(config.batch_size, len(texts)), config.seed)
    bar = tqdm(range(total), desc=f"tuning ({classifier.config.method})", disable=not config.progress)
    with frozen(classifier.model):
        classifier.parts.train()
        for step in bar:
            rows = next(batches)
            batch_pairs = None if pairs is None else [pairs[i] for i in rows]
            batch = classifier.encode([texts[i] for i in rows], batch_pairs)
            target = torch.tensor([labels[i] for i in rows], device=device)
            with autocast:
                logits = classifier.logits(batch)
            loss = torch.nn.functional.cross_entropy(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            if step + 1 != total and (config.eval_every is None or (step + 1) % config.eval_every):
                continue
            evaluation_started = time.perf_counter()
            classifier.parts.eval()
            accuracy = classifier.accuracy(dev, progress=False)
            classifier.parts.train()
            now = time.perf_counter()
            evaluating_seconds += now - evaluation_started
            history.append(
                {
                    "step": step + 1,
                    "loss": sum(losses) / len(losses),
                    "dev_accuracy": accuracy,
                    "seconds": now - started,
                    "train_seconds": now - started - evaluating_seconds,
                }
            )
            losses = []
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", dev=f"{accuracy:.3f}")
            if accuracy > best_accuracy:
                best_accuracy, best_state, stale = accuracy, copy.deepcopy(classifier.parts.state_dict()), 0
            else:
                stale += 1
                if config.patience is not None and stale >= config.patience:
                    break
    bar.close()
    classifier.parts.eval()
    classifier.parts.load_state_dict(best_state)
    classifier.history = history
    return history
