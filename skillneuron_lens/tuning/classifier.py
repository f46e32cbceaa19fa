"""A frozen model plus trainable parts that classify texts: the paper's prompt-tuning setting.

:class:`TunedClassifier` puts a soft prompt (or BitFit deltas, or adapters, or nothing) on a frozen
TransformerLens model and reads the label either with a linear head on the hidden state at the label
slot, or with a verbalizer over the model's own LM/MLM head (one label word per class, softmax over
those words only). Train it with :func:`skillneuron_lens.tuning.training.train_classifier`, evaluate it with
:meth:`~TunedClassifier.accuracy`, record its neurons with :meth:`~TunedClassifier.predictivity`
(at the soft-prompt slots, the label slot or the input tokens), and save/load it tied to the model's
fingerprint.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import nn
from tqdm.auto import tqdm

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.files import TUNED_TENSORS
from skillneuron_lens.intervene.hooks import skip_forward_pass
from skillneuron_lens.io import load_result_dir, save_result_dir
from skillneuron_lens.models.adapter import ModelAdapter, PaddingSide, StopForward, TokenBatch
from skillneuron_lens.models.fingerprint import model_fingerprint, same_model
from skillneuron_lens.predictivity.compute import compute_predictivity
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.positions import PositionsLike, PositionSpec
from skillneuron_lens.record.recorder import RecordingConfig, recording_config
from skillneuron_lens.record.sharding import merge_shards, owns_batch
from skillneuron_lens.tasks.labelled import labelled_split, split_texts
from skillneuron_lens.tuning.parts import (
    ADAPTER_SITE,
    BITFIT_SITES,
    METHODS,
    HookList,
    TunableParts,
    hook_output_shapes,
    random_vocabulary_ids,
    repeat_to_length,
)
from skillneuron_lens.tuning.readouts import label_word_ids, lm_head_is_pretrained
from skillneuron_lens.tuning.soft_prompt import REGIONS, PromptedBatch, PromptLayout, Region, splice_prompt
from skillneuron_lens.tuning.soft_prompt import token_embeddings as read_token_embeddings

__all__ = [
    "TENSOR_FILE",
    "HeadKind",
    "ClassifierConfig",
    "PromptedInputs",
    "TunedClassifier",
]

TENSOR_FILE = TUNED_TENSORS
HeadKind = Literal["auto", "linear", "verbalizer"]


@dataclass(frozen=True)
class ClassifierConfig:
    """What a tuned classifier is made of.

    Attributes:
        method: ``"prompt"`` (soft prompt), ``"bitfit"``, ``"adapter"`` or ``"none"`` (head only).
        head: ``"linear"`` (trained head at the label slot), ``"verbalizer"`` (label words from the
            model's LM/MLM head) or ``"auto"``: verbalizer for decoders with a trained LM head when
            label words are given, else linear.
        n_classes: Number of classes.
        label_words: One word per class for the verbalizer.
        prompt_length: Soft-prompt slots (method ``"prompt"``; the paper uses 16).
        prompt_init: ``"vocab"`` (embeddings of random vocabulary tokens) or ``"text"``.
        prompt_init_text: Text whose token embeddings initialise the prompt (cycled to length).
        adapter_size: Bottleneck width of each adapter.
        pooling: What the linear head reads: ``"read"`` (the hidden state at the label slot),
            ``"mean"`` (the mean over all tokens, prompt included) or ``"auto"``: mean for encoders
            (sentence encoders such as MiniLM are trained for mean pooling), the label slot for decoders.
        max_length: Truncate each text to this many tokens (prompt and label slot come on top).
        batch_size: Examples per forward pass when evaluating.
        padding_side: ``"right"`` or ``"left"``; answers do not depend on it.
        seed: Seed for initialisation.
    """

    method: str = "prompt"
    head: HeadKind = "auto"
    n_classes: int = 2
    label_words: tuple[str, ...] = ()
    prompt_length: int = 16
    prompt_init: str = "vocab"
    prompt_init_text: str = ""
    adapter_size: int = 16
    pooling: str = "auto"
    max_length: int = 128
    batch_size: int = 32
    padding_side: PaddingSide = "right"
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate the settings."""
        if self.method not in METHODS:
            raise SkillNeuronError(f"Unknown tuning method {self.method!r}: use one of {', '.join(METHODS)}.")
        if self.head not in ("auto", "linear", "verbalizer"):
            raise SkillNeuronError(f"head must be 'auto', 'linear' or 'verbalizer', got {self.head!r}.")
        if self.n_classes < 2:
            raise SkillNeuronError(f"n_classes must be at least 2, got {self.n_classes}.")
        if self.method == "prompt" and self.prompt_length < 1:
            raise SkillNeuronError(
                f"prompt_length must be at least 1 for prompt tuning, got {self.prompt_length}. "
                "Use method='none' for no prompt."
            )
        if self.pooling not in ("auto", "read", "mean"):
            raise SkillNeuronError(f"pooling must be 'auto', 'read' or 'mean', got {self.pooling!r}.")
        if self.prompt_init not in ("vocab", "text"):
            raise SkillNeuronError(f"prompt_init must be 'vocab' or 'text', got {self.prompt_init!r}.")
        if self.prompt_init == "text" and not self.prompt_init_text.strip():
            raise SkillNeuronError("prompt_init='text' needs prompt_init_text.")
        if self.label_words and len(self.label_words) != self.n_classes:
            raise SkillNeuronError(
                f"{len(self.label_words)} label words for {self.n_classes} classes: give one per class."
            )
        object.__setattr__(self, "label_words", tuple(self.label_words))

    @property
    def n_prompt_slots(self) -> int:
        """Soft-prompt slots actually used (0 unless the method is prompt tuning)."""
        return self.prompt_length if self.method == "prompt" else 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        out = asdict(self)
        out["label_words"] = list(self.label_words)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored)."""
        known = {item.name for item in fields(cls)}
        kept = {key: value for key, value in values.items() if key in known}
        kept["label_words"] = tuple(kept.get("label_words", ()))
        return cls(**kept)


class PromptedInputs:
    """Input builder for the recorder: encodes with the classifier's layout and tuned hooks.

    Args:
        classifier: The classifier whose inputs to build.
        region: Positions are counted inside this region: ``"prompt"``, ``"input"``, ``"read"``
            (the label slot) or ``"all"``.
    """

    def __init__(self, classifier: TunedClassifier, region: Region) -> None:
        """Remember the classifier and region."""
        if region not in REGIONS:
            raise SkillNeuronError(f"Unknown region {region!r}: use one of {', '.join(REGIONS)}.")
        self.classifier = classifier
        self.region_name = region
        self._batches: dict[int, PromptedBatch] = {}

    def encode(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> TokenBatch:
        """Encode a batch and remember its prompt slots."""
        prompted = self.classifier.encode(texts, text_pairs)
        self._batches = {id(prompted.tokens): prompted}
        return prompted.tokens

    def _prompted(self, batch: TokenBatch) -> PromptedBatch:
        try:
            return self._batches[id(batch)]
        except KeyError:
            raise SkillNeuronError("This batch was not encoded by this input builder.") from None

    def hooks(self, batch: TokenBatch) -> HookList:
        """The classifier's tuned hooks for this batch."""
        return self.classifier.tuned_hooks(self._prompted(batch))

    def region(self, batch: TokenBatch) -> Int[torch.Tensor, "batch pos"]:
        """The region's mask for this batch."""
        return self._prompted(batch).region(self.region_name)  # type: ignore[arg-type]


class TunedClassifier:
    """A frozen model with trainable parts and a label read-out.

    Args:
        model: Any supported TransformerLens model (never modified).
        config: What to build (see :class:`ClassifierConfig`).

    Raises:
        SkillNeuronError: For a verbalizer on a model without a trained LM/MLM head, a prompt longer
            than the model's context, or label words that do not fit the tokenizer.
    """

    def __init__(self, model: Any, config: ClassifierConfig | None = None, **overrides: Any) -> None:
        """Build the trainable parts on the model's device."""
        base = config or ClassifierConfig()
        self.config = ClassifierConfig.from_dict({**base.to_dict(), **overrides}) if overrides else base
        self.model = model
        self.adapter = ModelAdapter(model)
        self.head_kind = self._resolve_head()
        pooling = self.config.pooling
        self.pooling = ("mean" if self.adapter.is_encoder else "read") if pooling == "auto" else pooling
        self._check_prompt_length()
        self.label_token_ids = (
            label_word_ids(
                self.adapter.tokenizer, self.config.label_words, is_encoder=self.adapter.is_encoder
            )
            if self.head_kind == "verbalizer"
            else []
        )
        self.layout = PromptLayout(
            prompt_length=self.config.n_prompt_slots,
            is_encoder=self.adapter.is_encoder,
            mask_slot=self.adapter.is_encoder and self.head_kind == "verbalizer",
            max_length=self.config.max_length,
            padding_side=self.config.padding_side,
        )
        self.parts = self._build_parts().to(self.adapter.device)
        self.history: list[dict[str, Any]] = []
        self.label_names: list[str] | None = None
        """The order of string labels, kept from training (:func:`train_classifier`); ``None`` for ids."""
        self._last: PromptedBatch | None = None

    # ---- construction ---------------------------------------------------------------------------
    def _resolve_head(self) -> str:
        head = self.config.head
        if head == "auto":
            decoder_with_head = not self.adapter.is_encoder and lm_head_is_pretrained(self.model)
            head = "verbalizer" if decoder_with_head and self.config.label_words else "linear"
        if head == "verbalizer":
            if not self.config.label_words:
                raise SkillNeuronError("The verbalizer needs label_words, one per class.")
            if not lm_head_is_pretrained(self.model):
                raise SkillNeuronError(
                    "This checkpoint has no trained LM/MLM head, so a verbalizer would read random logits. "
                    "Use head='linear'."
                )
        return head

    def _check_prompt_length(self) -> None:
        limit = self.adapter.n_ctx
        if limit is not None and self.config.n_prompt_slots > limit - 2:
            raise SkillNeuronError(
                f"prompt_length {self.config.n_prompt_slots} does not fit the model's context of {limit} "
                f"tokens with any input: use at most {limit - 2} (the paper uses 16)."
            )

    def _initial_prompt(self) -> torch.Tensor | None:
        length = self.config.n_prompt_slots
        if length == 0:
            return None
        if self.config.prompt_init == "text":
            encoded = self.adapter.tokenizer(self.config.prompt_init_text, add_special_tokens=False)
            ids = repeat_to_length(encoded["input_ids"], length)
        else:
            ids = random_vocabulary_ids(len(self.adapter.tokenizer), length, self.config.seed)
        return read_token_embeddings(self.adapter, ids)

    def _build_parts(self) -> TunableParts:
        torch.manual_seed(self.config.seed)
        n_classes = self.config.n_classes if self.head_kind == "linear" else None
        parts = TunableParts(self._initial_prompt(), n_classes, self.adapter.d_model)
        method = self.config.method
        if method in ("bitfit", "adapter"):
            sites = BITFIT_SITES if method == "bitfit" else (ADAPTER_SITE,)
            available = set(self.adapter.hook_names())
            names = [
                site.format(layer=layer)
                for layer in range(self.adapter.n_layers)
                for site in sites
                if site.format(layer=layer) in available
            ]
            if not names:
                raise SkillNeuronError(f"The model has none of the hooks {method} needs: {list(sites)}.")
            if method == "bitfit":
                probe = self.layout.encode(self.adapter, ["a"])
                parts.add_bitfit(hook_output_shapes(self.adapter, names, probe.tokens))
            else:
                parts.add_adapters(names, self.adapter.d_model, self.config.adapter_size)
        return parts

    # ---- forward passes ---------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> PromptedBatch:
        """Encode texts with the prompt slots and label slot in place."""
        prompted = self.layout.encode(self.adapter, texts, text_pairs)
        self._last = prompted
        return prompted

    def tuned_hooks(self, batch: PromptedBatch) -> HookList:
        """Hooks that apply the trainable parts (prompt splice, BitFit deltas, adapters) for a batch."""
        hooks = self.parts.model_hooks()
        prompt = self.parts.prompt
        if prompt is not None:
            slots = batch.prompt_slot

            def splice(embeddings: torch.Tensor, hook: Any) -> torch.Tensor:
                return splice_prompt(embeddings, prompt, slots)

            hooks.insert(0, (self.adapter.token_embedding_hook, splice))
        return hooks

    def _readout_hook(self, batch: PromptedBatch, out: list[torch.Tensor]) -> tuple[str, Any] | None:
        rows = torch.arange(len(batch.read_at), device=batch.read_at.device)
        if self.head_kind == "linear":
            name = f"blocks.{self.adapter.n_layers - 1}.hook_resid_post"
        elif self.adapter.kind == "bridge" and "unembed.hook_in" in self.model.hook_dict:
            name = "unembed.hook_in"
        else:
            return None

        def grab(values: torch.Tensor, hook: Any) -> None:
            if self.head_kind == "linear" and self.pooling == "mean":
                mask = batch.tokens.attention_mask[..., None].to(values.dtype)
                out.append((values * mask).sum(dim=1) / mask.sum(dim=1))
            else:
                out.append(values[rows, batch.read_at])
            raise StopForward

        return name, grab

    def _label_logits_from_hidden(self, hidden: torch.Tensor) -> Float[torch.Tensor, "batch label"]:
        if self.head_kind == "linear":
            assert self.parts.head is not None
            normed = nn.functional.layer_norm(hidden.float(), (hidden.shape[-1],))
            return self.parts.head(normed)
        unembed = self.model.original_model.get_output_embeddings()
        ids = torch.tensor(self.label_token_ids, device=hidden.device)
        logits = hidden @ unembed.weight[ids].T.to(hidden.dtype)
        if getattr(unembed, "bias", None) is not None:
            logits = logits + unembed.bias[ids].to(hidden.dtype)
        return logits.float()

    def logits(self, batch: PromptedBatch) -> Float[torch.Tensor, "batch label"]:
        """Class scores for an encoded batch (differentiable in the trainable parts).

        The forward pass stops as soon as the read-out has its input: the linear head reads the last
        block's residual stream at the label slot; on bridges the verbalizer reads the input of the
        unembedding there and scores only the label words; other models run their head.
        """
        captured: list[torch.Tensor] = []
        readout = self._readout_hook(batch, captured)
        hooks = [*self.tuned_hooks(batch), *([] if readout is None else [readout])]
        with self._eval_mode(), self.adapter.hooks(hooks), contextlib.suppress(StopForward):
            output = self.adapter.forward(batch.tokens)
        if readout is not None:
            if not captured:
                raise SkillNeuronError(f"The read-out hook {readout[0]!r} did not fire.")
            return self._label_logits_from_hidden(captured[0])
        full = getattr(output, "logits", output)
        rows = torch.arange(len(batch.read_at), device=full.device)
        return full[rows, batch.read_at][:, self.label_token_ids].float()

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[None]:
        """Run the frozen model without dropout, restoring its mode afterwards."""
        was_training = bool(getattr(self.model, "training", False))
        self.model.eval()
        try:
            yield
        finally:
            if was_training:
                self.model.train()

    # ---- evaluation -------------------------------------------------------------------------------
    def correct(
        self, split: Any, *, progress: bool = True, description: str = "evaluating", distributed: bool = False
    ) -> Bool[torch.Tensor, " example"]:
        """Whether each example of a split is classified correctly (in split order).

        ``distributed`` shares the batches among ``torch.distributed`` processes (see :meth:`predict`).
        """
        predicted = self.predict(split, progress=progress, description=description, distributed=distributed)
        _, labels, _ = labelled_split(split, "evaluation", self.label_names)
        return predicted == torch.tensor(labels)

    def predict(
        self, split: Any, *, progress: bool = True, description: str = "predicting", distributed: bool = False
    ) -> Int[torch.Tensor, " example"]:
        """Predicted class of every example of a split.

        Args:
            split: The examples.
            progress: Show a progress bar over the batches.
            description: The progress bar's label.
            distributed: Each ``torch.distributed`` process runs every world-size-th batch of the
                one-process run and the predictions are merged, so every process returns all of them.
                A batch left to another process is still encoded, and advances the random draws of
                open :func:`~skillneuron_lens.intervene.hooks.perturb` blocks as its forward pass would
                (:func:`~skillneuron_lens.intervene.hooks.skip_forward_pass`): predictions under noise
                are those of one process exactly.
        """
        texts, pairs = split_texts(split, "evaluation")
        size = self.config.batch_size
        out: list[torch.Tensor] = []
        starts = tqdm(range(0, len(texts), size), desc=description, disable=not progress, unit="batch")
        with torch.inference_mode():
            for number, start in enumerate(starts):
                chunk = slice(start, start + size)
                batch = self.encode(texts[chunk], None if pairs is None else pairs[chunk])
                if distributed and not owns_batch(number):
                    batch_size, n_positions = batch.tokens.input_ids.shape
                    skip_forward_pass(int(batch_size), int(n_positions))
                    out.append(torch.full((int(batch_size),), -1, dtype=torch.int64))
                    continue
                out.append(self.logits(batch).argmax(dim=1).cpu())
        predicted = torch.cat(out)
        return merge_shards(predicted) if distributed else predicted

    def accuracy(self, split: Any, *, progress: bool = True) -> float:
        """Share of a split's examples classified correctly."""
        return float(self.correct(split, progress=progress).double().mean())

    # ---- neurons ----------------------------------------------------------------------------------
    def inputs(self, region: Region = "prompt") -> PromptedInputs:
        """An input builder for :func:`~skillneuron_lens.predictivity.compute.compute_predictivity`."""
        return PromptedInputs(self, region)

    def default_region(self) -> Region:
        """Where the paper probes: the prompt slots when there is a prompt, else the label slot."""
        return "prompt" if self.config.n_prompt_slots else "read"

    def position_mask(self, region: Region = "prompt") -> Any:
        """A ``where`` callable for interventions: the region's positions of the batch being run."""

        def where(activations: torch.Tensor) -> Bool[torch.Tensor, "batch pos"]:
            if self._last is None:
                raise SkillNeuronError("No batch has been encoded yet.")
            return self._last.region(region).bool()

        return where

    def predictivity(
        self,
        train: Any,
        dev: Any,
        *,
        region: Region | None = None,
        recording: RecordingConfig | None = None,
        hook: str | None = None,
        layers: Sequence[int] | None = None,
        positions: PositionsLike | None = None,
        **kwargs: Any,
    ) -> PredictivityResult:
        """Every neuron's predictivity with the tuned parts in place.

        Args:
            train: Train split (baselines).
            dev: Dev split (accuracy).
            region: Where positions count: ``"prompt"`` (default with a prompt: one slot per prompt
                position), ``"read"`` (the label slot; default without a prompt), ``"input"`` (the input
                text's tokens; use ``positions="mean"`` or ``"max"``) or ``"all"``.
            recording: Hook, layers, batch size and progress bar; default
                ``RecordingConfig(batch_size=<the classifier's batch size>)`` (truncation and padding
                are the classifier's own).
            hook: Shortcut for the config's hook template.
            layers: Shortcut for the config's layers.
            positions: Positions inside the region. When neither this nor the config says otherwise
                (positions left at ``0``), every prompt slot for region ``"prompt"``, else ``0``.
            **kwargs: Passed on to :func:`~skillneuron_lens.predictivity.compute.compute_predictivity`.

        Returns:
            The result (per position; its ``predictivity`` is the max over positions, as the paper).
        """
        chosen = region or self.default_region()
        if chosen == "prompt" and not self.config.n_prompt_slots:
            raise SkillNeuronError("This classifier has no soft prompt: use region='read' or 'input'.")
        config = recording_config(
            recording, hook=hook, layers=layers, positions=positions,
            default=RecordingConfig(batch_size=self.config.batch_size),
        )
        if positions is None and config.position_spec == PositionSpec.parse(0) and chosen == "prompt":
            config = replace(config, positions=list(range(self.config.n_prompt_slots)))
        return compute_predictivity(
            self.model,
            train,
            dev,
            recording=config,
            n_classes=kwargs.pop("n_classes", self.config.n_classes),
            label_names=kwargs.pop("label_names", self.label_names),
            inputs=self.inputs(chosen),
            **kwargs,
        )

    def bind(self, model: Any) -> TunedClassifier:
        """The same trained parts on another model of the same shape (e.g. a pruned copy of this one).

        Raises:
            SkillNeuronError: If the parts do not fit the other model (e.g. BitFit deltas on pruned
                FFN layers).
        """
        other = TunedClassifier(model, self.config)
        try:
            other.parts.load_state_dict(self.parts.state_dict())
        except RuntimeError as error:
            raise SkillNeuronError(f"The tuned parts do not fit the other model: {error}") from error
        other.history = list(self.history)
        other.label_names = self.label_names
        return other

    # ---- persistence ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save the trainable parts (``tuned.safetensors``) and ``cfg.json`` (atomic).

        Raises:
            FileExistsError: If ``path`` exists and ``overwrite`` is false.
        """
        tensors = {key: value.detach() for key, value in self.parts.state_dict().items()}
        cfg = {
            "kind": "tuned_classifier",
            "classifier": self.config.to_dict(),
            "head": self.head_kind,
            "label_token_ids": self.label_token_ids,
            "n_trainable": self.parts.n_trainable(),
            "history": self.history,
            "fingerprint": model_fingerprint(self.model),
        }
        return save_result_dir(path, TENSOR_FILE, tensors, cfg, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str], model: Any) -> TunedClassifier:
        """Load a saved classifier onto ``model``.

        Raises:
            ResultFileError: If the directory is damaged or was saved for another model.
        """
        tensors, cfg = load_result_dir(path, TENSOR_FILE, ())
        if cfg.get("kind") != "tuned_classifier":
            raise ResultFileError(f"{path} holds a {cfg.get('kind')!r} result, not a tuned classifier.")
        current = model_fingerprint(model)
        saved = cfg.get("fingerprint", {})
        if not same_model(saved, current):
            raise ResultFileError(
                f"{path} was tuned on another model ({saved.get('class')} {saved.get('model_name')!r}) "
                f"than the one given ({current['class']} {current['model_name']!r}); its prompt, deltas or "
                "head would be meaningless here. Load it with the model it was trained on."
            )
        classifier = cls(model, ClassifierConfig.from_dict(cfg["classifier"]))
        if classifier.head_kind != cfg.get("head", classifier.head_kind):
            raise ResultFileError(
                f"{path} used a {cfg.get('head')} read-out but this model resolves to {classifier.head_kind}."
            )
        try:
            device = classifier.adapter.device
            classifier.parts.load_state_dict({key: value.to(device) for key, value in tensors.items()})
        except RuntimeError as error:
            raise ResultFileError(f"{path}/{TENSOR_FILE} does not fit this classifier: {error}") from error
        classifier.history = list(cfg.get("history", []))
        return classifier
