"""Label read-outs for a frozen model: a linear head on pooled features, or a verbalizer.

* :class:`LinearReadout` — a logistic-regression head (L2-regularised, fitted by L-BFGS on standardised
  features) on the last layer's residual stream, pooled at ``[CLS]`` (position 0), the mean of the
  tokens, or the last token. Works for any model, including checkpoints without an LM/MLM head.
* :class:`VerbalizerReadout` — zero-shot classification from the LM (or MLM) head: fill a template,
  read the logits of one label word per class at the last token (decoders) or at the mask slot
  (encoders). Refuses checkpoints whose head was not trained.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from safetensors import safe_open
from tqdm.auto import tqdm

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.record.positions import PositionsLike, PositionSpec, gather_indices
from skillneuron_lens.record.recorder import Recorder, RecordingConfig, recording_config
from skillneuron_lens.tasks.labelled import labelled_split, labelled_splits, split_texts

__all__ = [
    "FEATURE_HOOK",
    "pooled_features",
    "LogisticHead",
    "LinearReadout",
    "lm_head_is_pretrained",
    "label_word_ids",
    "VerbalizerReadout",
]


FEATURE_HOOK = "blocks.{layer}.hook_resid_post"
"""Where read-out features are read by default: the residual stream after a block."""


def pooled_features(
    model: Any,
    split: Any,
    *,
    pooling: PositionsLike = 0,
    layer: int | None = None,
    hook: str = FEATURE_HOOK,
    recording: RecordingConfig | None = None,
) -> Float[torch.Tensor, "example d"]:
    """One feature vector per example: a hook's output pooled at one position.

    Args:
        model: Any supported TransformerLens model.
        split: ``(texts, labels)`` or an object with ``.texts`` (and ``.text_pairs``).
        pooling: ``0`` ([CLS] / first token), ``"mean"``, ``"max"`` or ``"last"``.
        layer: Which block; default the last.
        hook: Hook template; default the residual stream after a block (:data:`FEATURE_HOOK`).
        recording: Batch size, truncation, padding and progress bar (its hook, layers and positions
            are replaced by ``hook``, ``layer`` and ``pooling``); default ``RecordingConfig()``.

    Returns:
        Float32 features in example order.
    """
    spec = PositionSpec.parse(pooling)
    if spec.n_slots != 1:
        raise SkillNeuronError(f"Pool at one position for features, got {spec.to_json()!r}.")
    chosen = ModelAdapter(model).n_layers - 1 if layer is None else layer
    config = recording_config(recording, hook=hook, layers=(chosen,), positions=spec)
    texts, pairs = split_texts(split, "given")
    return Recorder(model, config).activations(texts, pairs)[0][:, 0]


@dataclass
class LogisticHead:
    """Multinomial logistic regression with L2 penalty, fitted by L-BFGS on standardised features."""

    l2: float = 0.1
    max_iter: int = 200
    weight: torch.Tensor | None = field(default=None, repr=False)
    bias: torch.Tensor | None = field(default=None, repr=False)
    mean: torch.Tensor | None = field(default=None, repr=False)
    scale: torch.Tensor | None = field(default=None, repr=False)

    def fit(self, features: torch.Tensor, labels: Sequence[int], n_classes: int) -> LogisticHead:
        """Fit on features ``[example, d]`` and integer labels."""
        x = features.double()
        y = torch.as_tensor(list(labels), dtype=torch.long)
        self.mean, self.scale = x.mean(dim=0), x.std(dim=0).clamp_min(1e-8)
        z = (x - self.mean) / self.scale
        weight = torch.zeros(z.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [weight, bias], max_iter=self.max_iter, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(z @ weight + bias, y)
            loss = loss + self.l2 * (weight**2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
        return self

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores for features ``[example, d]``."""
        if self.weight is None or self.bias is None or self.mean is None or self.scale is None:
            raise SkillNeuronError("The head is not fitted yet: call fit() first.")
        return ((features.double() - self.mean) / self.scale) @ self.weight + self.bias


@dataclass
class LinearReadout:
    """A logistic-regression head on pooled features of a frozen model.

    By default the features are the last layer's residual stream (:data:`FEATURE_HOOK`) at one
    position; ``hook`` and ``layers`` read others, e.g. the neurons a predictivity pass recorded
    (several layers and positions are concatenated). :meth:`from_result` fits one from the activations
    that pass kept, without running the model again.

    Attributes:
        model: Any supported TransformerLens model.
        pooling: ``0`` ([CLS] / first token), ``"mean"``, ``"last"``, or other positions.
        l2_grid: L2 penalties to try; with a dev split, the one with the best dev accuracy is kept
            (the first on ties), else the first.
        recording: Batch size, truncation, padding and progress bar of the feature pass (see
            :func:`pooled_features`); default ``RecordingConfig()``.
        hook: Hook template of the features; default :data:`FEATURE_HOOK`.
        layers: Layers whose features are concatenated; ``None`` for the last layer.
        label_names: The order of string labels, set by :meth:`fit` (``None`` for int ids).
    """

    model: Any
    pooling: PositionsLike = 0
    l2_grid: tuple[float, ...] = (0.01, 0.1, 1.0)
    recording: RecordingConfig | None = None
    hook: str = FEATURE_HOOK
    layers: tuple[int, ...] | None = None
    head: LogisticHead = field(init=False)
    dev_accuracy: dict[float, float] = field(init=False, default_factory=dict)
    label_names: list[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Create an unfitted head."""
        if not self.l2_grid:
            raise SkillNeuronError("l2_grid needs at least one penalty.")
        self.head = LogisticHead(l2=self.l2_grid[0])

    @classmethod
    def from_result(
        cls,
        model: Any,
        result: Any,
        *,
        layers: Sequence[int] | None = None,
        l2_grid: tuple[float, ...] = (0.01, 0.1, 1.0),
        n_classes: int | None = None,
    ) -> LinearReadout:
        """Fit a read-out on the activations a predictivity pass kept: no forward pass.

        The features are the result's neurons (its hook, positions and recorded layers, or
        ``layers`` among them) as the pass recorded them on train and dev; the L2 penalty is chosen
        on dev. The read-out then predicts from the same hook, positions and recording settings, so
        it equals ``LinearReadout(model, pooling=..., hook=..., layers=..., recording=...).fit(train,
        dev)`` without the second pass over the data.

        Args:
            model: The model the result was computed on (used by :meth:`predict`).
            result: A :class:`~skillneuron_lens.predictivity.result.PredictivityResult` computed with
                ``keep_features=True``.
            layers: Model layers to read (a subset of ``result.layers``); ``None`` for all.
            l2_grid: L2 penalties to try.
            n_classes: Number of classes; default from the labels.

        Returns:
            The fitted read-out.

        Raises:
            SkillNeuronError: If the result kept no features, or ``layers`` names a layer it lacks.
        """
        kept = getattr(result, "features", None)
        if kept is None:
            raise SkillNeuronError(
                "This result kept no activations (saved results never do): compute it with "
                "compute_predictivity(..., keep_features=True), or fit with "
                "LinearReadout(...).fit(train, dev)."
            )
        chosen = list(result.layers) if layers is None else [int(layer) for layer in layers]
        missing = [layer for layer in chosen if layer not in result.layers]
        if missing:
            raise SkillNeuronError(
                f"layers {missing} are not among the result's layers {list(result.layers)}."
            )
        config = result.config
        recording = RecordingConfig(
            batch_size=config.get("batch_size", 32),
            max_length=config.get("max_length", 128),
            padding_side=config.get("padding_side"),
            prepend_bos=config.get("prepend_bos"),
            progress=False,
        )
        readout = cls(
            model, pooling=config["positions"], l2_grid=l2_grid, recording=recording, hook=result.hook,
            layers=tuple(chosen),
        )
        rows = [result.layers.index(layer) for layer in sorted(chosen)]
        names = None if kept.label_names is None else list(kept.label_names)
        readout.label_names = names
        classes = n_classes or (len(names) if names else max(kept.train_labels) + 1)
        readout._fit_features(
            _flat(kept.train[:, :, rows]), list(kept.train_labels), _flat(kept.dev[:, :, rows]),
            list(kept.dev_labels), classes,
        )
        return readout

    def _features(self, split: Any) -> torch.Tensor:
        chosen = (ModelAdapter(self.model).n_layers - 1,) if self.layers is None else self.layers
        config = recording_config(self.recording, hook=self.hook, layers=chosen, positions=self.pooling)
        texts, pairs = split_texts(split, "given")
        per_layer = Recorder(self.model, config).activations(texts, pairs)
        return _flat(torch.stack(per_layer, dim=2))

    def _fit_features(
        self,
        features: torch.Tensor,
        labels: Sequence[int],
        dev_features: torch.Tensor | None,
        dev_labels: Sequence[int] | None,
        n_classes: int,
    ) -> None:
        """Fit the head on features, choosing the L2 penalty on the dev features when given."""
        if len(set(labels)) < 2:
            raise SkillNeuronError("The read-out needs at least two classes in its training split.")
        if dev_features is None or dev_labels is None:
            self.head = LogisticHead(l2=self.l2_grid[0]).fit(features, labels, n_classes)
            return
        targets = torch.tensor(list(dev_labels))
        best: tuple[float, LogisticHead] | None = None
        for l2 in self.l2_grid:
            head = LogisticHead(l2=l2).fit(features, labels, n_classes)
            score = float((head.logits(dev_features).argmax(dim=1) == targets).double().mean())
            self.dev_accuracy[l2] = score
            if best is None or score > best[0]:
                best = (score, head)
        assert best is not None
        self.head = best[1]

    def fit(
        self,
        split: Any,
        dev: Any = None,
        n_classes: int | None = None,
        *,
        label_names: Sequence[str] | None = None,
    ) -> LinearReadout:
        """Fit the head on a (train) split, choosing the L2 penalty on ``dev`` when given.

        String labels take the order of ``label_names``, else the sorted strings of ``split`` (see
        :mod:`skillneuron_lens.tasks.labelled`); the order is kept as :attr:`label_names` for
        :meth:`accuracy`.
        """
        checked, self.label_names = labelled_splits({"train": split, "dev": dev}, label_names)
        labels = checked["train"].labels
        if len(set(labels)) < 2:
            raise SkillNeuronError("The read-out needs at least two classes in its training split.")
        classes = n_classes or (len(self.label_names) if self.label_names else max(labels) + 1)
        dev_features = None if dev is None else self._features(dev)
        dev_labels = None if dev is None else checked["dev"].labels
        self._fit_features(self._features(split), labels, dev_features, dev_labels, classes)
        return self

    def predict(self, split: Any) -> Int[torch.Tensor, " example"]:
        """Predicted class of every example."""
        return self.head.logits(self._features(split)).argmax(dim=1)

    def accuracy(self, split: Any) -> float:
        """Share of the split's examples predicted correctly (string labels: see :attr:`label_names`)."""
        _, labels, _ = labelled_split(split, "given", self.label_names)
        return float((self.predict(split) == torch.tensor(labels)).double().mean())


def _flat(values: Float[torch.Tensor, "example slot layer neuron"]) -> Float[torch.Tensor, "example d"]:
    """One feature row per example: slots, layers and neurons side by side."""
    return values.reshape(values.shape[0], -1)


def lm_head_is_pretrained(model: Any) -> bool:
    """Whether the model's LM/MLM head comes from its checkpoint (rather than random init).

    For a bridge loaded from a local directory, the checkpoint's tensor names tell: a BERT-style
    checkpoint needs ``cls.predictions.*``; a decoder needs ``lm_head.*`` or tied embeddings. When the
    checkpoint cannot be inspected, the head is assumed to be trained.
    """
    hf_model = getattr(model, "original_model", None)
    config = getattr(hf_model, "config", None)
    directory = Path(str(getattr(config, "_name_or_path", "") or ""))
    files = sorted(directory.glob("*.safetensors")) if directory.is_dir() else []
    if not files:
        return True
    keys: set[str] = set()
    for file in files:
        with safe_open(str(file), "pt") as handle:
            keys.update(handle.keys())
    if getattr(config, "is_decoder", False) or "CausalLM" in type(hf_model).__name__:
        return bool(getattr(config, "tie_word_embeddings", False)) or any("lm_head" in k for k in keys)
    return any("predictions.transform" in k for k in keys)


def label_word_ids(tokenizer: Any, words: Sequence[str], *, is_encoder: bool) -> list[int]:
    """The token id read for each label word.

    Decoders read the word with a leading space (as it follows ``"Sentiment:"``); encoders read it
    as is. A word of several tokens is read by its first token, with a warning naming that token.

    Raises:
        SkillNeuronError: For fewer than two words, a word with no tokens, or two words that share
            their first token.
    """
    if len(words) < 2:
        raise SkillNeuronError("Give one label word per class (at least two).")
    ids: list[int] = []
    for word in words:
        spaced = word if is_encoder else " " + word.strip()
        encoded = tokenizer(spaced, add_special_tokens=False)["input_ids"]
        if not encoded:
            raise SkillNeuronError(f"Label word {word!r} encodes to no tokens.")
        if len(encoded) > 1:
            warnings.warn(
                f"Label word {word!r} is {len(encoded)} tokens; its first token "
                f"{tokenizer.convert_ids_to_tokens(encoded[:1])[0]!r} is used.",
                stacklevel=3,
            )
        ids.append(int(encoded[0]))
    if len(set(ids)) != len(ids):
        raise SkillNeuronError(f"Label words {list(words)} share a first token: choose distinct words.")
    return ids


@dataclass
class VerbalizerReadout:
    """Zero-shot classification by comparing label-word logits from the model's own head.

    Attributes:
        model: A model with a trained LM (decoder) or MLM (encoder) head.
        template: Text with ``{text}`` (and ``{text_b}`` for pairs); encoders also need ``{mask}``.
        label_words: One word per class, in label order.
        batch_size: Examples per forward pass.
        max_length: Truncation length.
        progress: Show a progress bar.
    """

    model: Any
    template: str
    label_words: Sequence[str]
    batch_size: int = 16
    max_length: int = 256
    progress: bool = True
    label_token_ids: list[int] = field(init=False)

    def __post_init__(self) -> None:
        """Check the head, the template and the label words."""
        self.adapter = ModelAdapter(self.model)
        self.is_encoder = self.adapter.is_encoder
        if not lm_head_is_pretrained(self.model):
            raise SkillNeuronError(
                "This checkpoint has no trained LM/MLM head (its weights file lacks the head), so a "
                "verbalizer would read random logits. Use LinearReadout (--readout linear) instead."
            )
        if "{text}" not in self.template:
            raise SkillNeuronError(f"The template must contain '{{text}}', got {self.template!r}.")
        if self.is_encoder and "{mask}" not in self.template:
            raise SkillNeuronError(
                "Encoders read the label at a mask slot: put '{mask}' in the template, e.g. "
                "'{text} It was {mask}.'"
            )
        self.label_token_ids = label_word_ids(
            self.adapter.tokenizer, self.label_words, is_encoder=self.is_encoder
        )
        template_tokens = len(self.adapter.tokenizer(self._fill("", None))["input_ids"])
        if self.max_length < template_tokens + 1:
            raise SkillNeuronError(
                f"max_length {self.max_length} leaves no room for the text: the template alone is "
                f"{template_tokens} tokens, and truncation would cut it. Use max_length "
                f"{template_tokens + 1} or more."
            )

    def _fill(self, text: str, pair: str | None) -> str:
        mask = getattr(self.adapter.tokenizer, "mask_token", None) or ""
        return self.template.format(text=text, text_b=pair or "", mask=mask)

    def _read_positions(self, batch: Any) -> torch.Tensor:
        if not self.is_encoder:
            return gather_indices(PositionSpec.parse("last"), batch.attention_mask)[:, 0]
        mask_id = self.adapter.tokenizer.mask_token_id
        hits = batch.input_ids == mask_id
        if not bool(hits.any(dim=1).all()):
            raise SkillNeuronError("The mask slot was truncated away: raise max_length.")
        return hits.int().argmax(dim=1)

    def label_logits(self, split: Any) -> Float[torch.Tensor, "example label"]:
        """Logits of the label words for every example."""
        texts, pairs = split_texts(split, "given")
        rows = []
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="verbalizer", disable=not self.progress, unit="batch"):
            chunk = range(start, min(start + self.batch_size, len(texts)))
            filled = [self._fill(texts[i], None if pairs is None else pairs[i]) for i in chunk]
            batch = self.adapter.tokenize(filled, max_length=self.max_length)
            with torch.inference_mode():
                logits = self.adapter.forward(batch)
            logits = getattr(logits, "logits", logits)
            where = self._read_positions(batch)
            picked = logits[torch.arange(len(chunk)), where][:, self.label_token_ids]
            rows.append(picked.float().cpu())
        return torch.cat(rows)

    def predict(self, split: Any) -> Int[torch.Tensor, " example"]:
        """Predicted class of every example."""
        return self.label_logits(split).argmax(dim=1)

    def accuracy(self, split: Any) -> float:
        """Share of the split's examples predicted correctly."""
        _, labels, _ = labelled_split(split, "given")
        return float((self.predict(split) == torch.tensor(labels)).double().mean())
