"""One interface over every supported TransformerLens model class.

:class:`ModelAdapter` hides the differences between ``TransformerBridge`` (TransformerLens 3.x/4.x)
and ``HookedTransformer`` / ``HookedEncoder`` (TransformerLens 2.x/3.x): which hook points exist, how
to tokenize, and how to run a forward pass with an attention mask. Everything else in the package
talks to models only through hook names and this adapter.
"""

from __future__ import annotations

import contextlib
import numbers
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Int

from skillneuron_lens.errors import HookNotFoundError, SkillNeuronError
from skillneuron_lens.models.sites import NeuronSite

__all__ = [
    "DEFAULT_HOOK",
    "PaddingSide",
    "HookFn",
    "StopForward",
    "TokenBatch",
    "hook_templates",
    "ModelAdapter",
]

DEFAULT_HOOK = "blocks.{layer}.mlp.hook_post"
PaddingSide = Literal["left", "right"]
HookFn = Callable[..., Any]


class StopForward(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a hook to end a forward pass once every needed activation has been seen."""


@dataclass(frozen=True)
class TokenBatch:
    """Token ids and masks for one batch, padded on one side."""

    input_ids: Int[torch.Tensor, "batch pos"]
    attention_mask: Int[torch.Tensor, "batch pos"]
    token_type_ids: Int[torch.Tensor, "batch pos"] | None = None

    def to(self, device: torch.device | str) -> TokenBatch:
        """The same batch on another device."""
        token_types = None if self.token_type_ids is None else self.token_type_ids.to(device)
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device), token_types)

    @property
    def is_left_padded(self) -> bool:
        """Whether any row has padding before its first token."""
        return bool((self.attention_mask[:, 0] == 0).any())


def _model_kind(model: Any) -> str:
    names = {cls.__name__ for cls in type(model).__mro__}
    if "TransformerBridge" in names:
        return "bridge"
    if "HookedEncoder" in names:
        return "hooked_encoder"
    if "HookedTransformer" in names:
        return "hooked_transformer"
    if hasattr(model, "hook_dict") and hasattr(model, "hooks"):
        return "hooked_root"
    raise SkillNeuronError(
        f"{type(model).__name__} is not a TransformerLens model (it has no hook_dict / hooks). Pass a "
        "TransformerBridge, HookedTransformer or HookedEncoder, or load one with "
        "skillneuron_lens.load_model(...)."
    )


def _bridge_cached_prefix(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """Positions already in the KV cache when a Hugging Face model is called with these arguments."""
    given = kwargs.get("input_ids", args[0] if args else None)
    if not isinstance(given, torch.Tensor):
        given = kwargs.get("inputs_embeds")
    length = int(given.shape[1]) if isinstance(given, torch.Tensor) and given.ndim >= 2 else None
    mask = kwargs.get("attention_mask")
    if length is not None and isinstance(mask, torch.Tensor) and mask.ndim == 2 and mask.shape[1] > length:
        return int(mask.shape[1]) - length
    cache_position = kwargs.get("cache_position")
    if isinstance(cache_position, torch.Tensor) and cache_position.numel():
        return int(cache_position.flatten()[0])
    cache = kwargs.get("past_key_values")
    seq_length = getattr(cache, "get_seq_length", None)
    return int(seq_length()) if callable(seq_length) else 0


def hook_templates(hook_names: Sequence[str]) -> list[str]:
    """Collapse hook names into per-layer templates, e.g. ``blocks.{layer}.mlp.hook_post``."""
    return sorted({re.sub(r"^blocks\.\d+\.", "blocks.{layer}.", name) for name in hook_names})


class ModelAdapter:
    """Uniform access to a TransformerLens model: hooks, tokenization, forward passes.

    Args:
        model: A ``TransformerBridge``, ``HookedTransformer``, ``HookedEncoder`` or another
            ``HookedRootModule`` with a ``cfg.n_layers``.
    """

    def __init__(self, model: Any) -> None:
        """Wrap a model."""
        self.model = model
        self.kind = _model_kind(model)

    @property
    def n_layers(self) -> int:
        """Number of transformer blocks."""
        return int(self.model.cfg.n_layers)

    @property
    def device(self) -> torch.device:
        """Device of the model's first parameter (CPU for a parameter-free model)."""
        for parameter in self.model.parameters():
            return parameter.device
        return torch.device("cpu")

    @property
    def is_encoder(self) -> bool:
        """Whether the model attends in both directions (BERT-like) rather than causally."""
        if self.kind == "hooked_encoder":
            return True
        if self.kind != "bridge":
            return False
        name = type(getattr(self.model, "original_model", None)).__name__
        return not any(marker in name for marker in ("CausalLM", "LMHead"))

    @property
    def d_model(self) -> int:
        """Width of the residual stream."""
        return int(self.model.cfg.d_model)

    @property
    def n_ctx(self) -> int | None:
        """Longest input the model accepts, when the config says."""
        value = getattr(self.model.cfg, "n_ctx", None)
        return None if value is None else int(value)

    @property
    def token_embedding_hook(self) -> str:
        """The hook whose output is the token embeddings (before position embeddings are added).

        Raises:
            HookNotFoundError: If the model has none of the known names.
        """
        available = set(self.hook_names())
        # Bridges: ``embed.hook_out`` is the word-embedding module's output (their ``hook_embed``
        # alias can point at the embedding block's LayerNorm output on BERT). HookedEncoder:
        # ``embed.hook_embed``. HookedTransformer: ``hook_embed``.
        for name in ("embed.hook_out", "embed.hook_embed", "hook_embed"):
            if name in available:
                return name
        raise HookNotFoundError(
            "The model has no token-embedding hook (hook_embed / embed.hook_embed), so soft prompts "
            "cannot be spliced in."
        )

    def hook_names(self) -> list[str]:
        """Every hook point name the model accepts (aliases included on bridges)."""
        return list(self.model.hook_dict.keys())

    def resolve_hooks(self, template: str, layers: Sequence[int] | None = None) -> list[str]:
        """Hook names of a neuron site (see :mod:`skillneuron_lens.models.sites`).

        Args:
            template: A per-layer template with a ``{layer}`` field (e.g. ``blocks.{layer}.mlp.hook_pre``),
                or a concrete hook name (e.g. ``hook_embed``), optionally with a ``[head=H]`` suffix.
            layers: Layers to read; ``None`` means every layer (a concrete hook's one layer).

        Returns:
            One hook name per layer, in the order given.

        Raises:
            HookNotFoundError: If a layer is out of range, or the model has no such hook (the message
                lists the hooks it does have).
        """
        return self.resolve_site(template, layers)[1]

    def resolve_site(
        self, site: str | NeuronSite, layers: Sequence[int] | None = None
    ) -> tuple[tuple[int, ...], list[str]]:
        """The layers a site is read at and their hook names, checked against the model's hooks.

        Raises:
            HookNotFoundError: As :meth:`resolve_hooks`.
        """
        parsed = NeuronSite.parse(site)
        chosen, names = parsed.hook_names(layers, self.n_layers)
        available = set(self.hook_names())
        missing = [name for name in names if name not in available]
        if missing:
            per_layer = "\n  ".join(hook_templates(sorted(available)))
            raise HookNotFoundError(
                f"The model ({type(self.model).__name__}) has no hook {missing[0]!r}. Hooks it has "
                f"(per-layer ones as templates; a name without '{{layer}}' is one site):\n  {per_layer}"
            )
        return chosen, names

    @contextlib.contextmanager
    def hooks(self, fwd_hooks: Sequence[tuple[str, HookFn]]) -> Iterator[None]:
        """Attach forward hooks for the body of a ``with`` block; they are removed on exit."""
        with self.model.hooks(fwd_hooks=list(fwd_hooks)):
            yield

    @contextlib.contextmanager
    def watching_cached_prefix(self, report: Callable[[int], None]) -> Iterator[None]:
        """For the body of a ``with`` block, tell ``report`` where each forward pass starts.

        At the start of every forward pass ``report(n)`` receives the number of positions the pass's
        KV cache already holds (0 without a cache), so that position ``p`` of the pass's activations is
        position ``n + p`` of the whole sequence; ``report(0)`` follows each pass on bridges. Bridges
        are read from the arguments of their Hugging Face model (attention mask longer than the
        input, ``cache_position``, or the cache's length); ``HookedTransformer`` from the KV-cache
        entry its first block receives. Other models never use a cache: nothing is reported.

        Args:
            report: Called with the cached prefix's length.

        Yields:
            Nothing; run the model inside the block.
        """
        handles: list[Any] = []
        if self.kind == "bridge":
            module = getattr(self.model, "original_model", None) or self.model

            def before_bridge(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
                report(_bridge_cached_prefix(args, kwargs))

            def after_bridge(_module: Any, _args: Any, _kwargs: Any, _output: Any) -> None:
                report(0)

            handles.append(module.register_forward_pre_hook(before_bridge, with_kwargs=True))
            handles.append(module.register_forward_hook(after_bridge, with_kwargs=True))
        elif self.kind == "hooked_transformer":

            def before_first_block(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
                entry = kwargs.get("past_kv_cache_entry", args[2] if len(args) > 2 else None)
                keys = getattr(entry, "past_keys", None)
                report(0 if keys is None else int(keys.shape[1]))

            first_block = self.model.blocks[0]
            handles.append(first_block.register_forward_pre_hook(before_first_block, with_kwargs=True))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer; a clear error when it has none."""
        tokenizer = getattr(self.model, "tokenizer", None)
        if tokenizer is None:
            raise SkillNeuronError(
                "The model has no tokenizer, so texts cannot be encoded. Attach one "
                "(model.tokenizer = ...) or pass token ids instead of texts."
            )
        return tokenizer

    def _pad_id(self) -> int:
        tokenizer = self.tokenizer
        for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
            if candidate is not None:
                return int(candidate)
        return 0

    def tokenize(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        max_length: int = 128,
        padding_side: PaddingSide | None = None,
        prepend_bos: bool | None = None,
    ) -> TokenBatch:
        """Encode texts (or text pairs) into one padded batch, as the model's own ``to_tokens`` would.

        The tokenizer is never modified: padding is applied here, on the requested side.

        Args:
            texts: The texts.
            text_pairs: Second texts for pair tasks, or ``None``.
            max_length: Truncate longer encodings to this many tokens.
            padding_side: ``"right"`` or ``"left"``; ``None`` for the model's default
                (:attr:`default_padding_side`).
            prepend_bos: Whether the first token is the BOS token (see :meth:`encode_rows`); ``None``
                for the model's default (:attr:`default_prepend_bos`).

        Returns:
            The padded batch on the model's device.
        """
        rows, types = self.encode_rows(texts, text_pairs, max_length=max_length, prepend_bos=prepend_bos)
        return self.pad_rows(rows, types, padding_side)

    @property
    def default_prepend_bos(self) -> bool:
        """Whether the model's own ``to_tokens`` / ``run_with_cache(text)`` starts texts with BOS.

        Decoders follow ``cfg.default_prepend_bos`` (``HookedTransformer`` and ``TransformerBridge``
        alike; ``True`` when the config does not say). Encoders keep their tokenizer's own special
        tokens (``[CLS] ... [SEP]``), as ``HookedEncoder`` and the BERT bridges do: ``False``.
        """
        if self.is_encoder:
            return False
        return bool(getattr(self.model.cfg, "default_prepend_bos", True))

    @property
    def default_padding_side(self) -> PaddingSide:
        """The model's padding side: its tokenizer's, as ``to_tokens`` pads.

        ``"right"`` for ``HookedEncoder`` (which cannot take left padding) or a tokenizer that names
        no side.
        """
        side = getattr(getattr(self.model, "tokenizer", None), "padding_side", None)
        if self.kind == "hooked_encoder" or side not in ("left", "right"):
            return "right"
        return "left" if side == "left" else "right"

    def min_max_length(self, pair: bool = False) -> int:
        """The smallest ``max_length`` that keeps the special tokens and one token of each text."""
        count = getattr(self.tokenizer, "num_special_tokens_to_add", None)
        special = int(count(pair=pair)) if callable(count) else 0
        return special + (2 if pair else 1)

    def check_max_length(
        self,
        max_length: int,
        *,
        pair: bool = False,
        reserved: int = 0,
        option: str = "max_length",
        what_is_reserved: str = "",
    ) -> int:
        """Check a truncation length against the tokenizer and the model's context, before any work.

        Args:
            max_length: Tokens each text (with its special tokens) is truncated to.
            pair: Whether inputs are text pairs (each text needs a token).
            reserved: Tokens added on top of the truncated text (a soft prompt, a BOS token).
            option: How the user gave the length, for messages (e.g. ``"--max-length"``).
            what_is_reserved: What ``reserved`` stands for, for messages.

        Returns:
            ``max_length``.

        Raises:
            SkillNeuronError: If it is not a positive int, is below what the tokenizer needs (the
                tokenizer would silently stop truncating), or with ``reserved`` exceeds the
                model's context.
        """
        self._check_tokenizer_room(max_length, pair, option)
        context = self.n_ctx
        if context is not None and max_length + reserved > context:
            extra = f" plus {reserved} token(s) for {what_is_reserved or 'added slots'}" if reserved else ""
            raise SkillNeuronError(
                f"{option} {max_length}{extra} exceeds the model's context of {context} tokens; use "
                f"{option} {context - reserved} or less."
            )
        return max_length

    def bos_added_here(self) -> bool:
        """Whether ``prepend_bos=True`` adds a token (the tokenizer has a BOS but does not add it)."""
        bos = self.tokenizer.bos_token_id
        return bos is not None and not self.tokenizer_prepends_bos() and self._bos_is_one_token()

    def tokenizer_prepends_bos(self) -> bool:
        """Whether the tokenizer itself puts its BOS token first."""
        bos = self.tokenizer.bos_token_id
        return bos is not None and self.tokenizer("a")["input_ids"][:1] == [bos]

    def _bos_is_one_token(self) -> bool:
        """Whether the BOS token is one token of the vocabulary.

        A fallback BOS such as ``<|endoftext|>`` installed on a BERT tokenizer is not, and is never
        prepended.
        """
        bos = self.tokenizer.bos_token
        return bos is not None and len(self.tokenizer(bos, add_special_tokens=False)["input_ids"]) == 1

    def _check_tokenizer_room(self, max_length: int, pair: bool, option: str) -> None:
        if isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral) or max_length < 1:
            raise SkillNeuronError(f"{option} must be a positive int, got {max_length!r}.")
        smallest = self.min_max_length(pair)
        if max_length < smallest:
            raise SkillNeuronError(
                f"{option} {max_length} is too small: the tokenizer adds {smallest - (2 if pair else 1)} "
                f"special token(s) and each text needs at least one token, so truncation would be "
                f"switched off. Use {option} {smallest} or more."
            )

    def encode_rows(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        max_length: int = 128,
        prepend_bos: bool | None = None,
    ) -> tuple[list[list[int]], list[list[int]] | None]:
        """Token ids (and token-type ids, if the tokenizer makes them) of each text, unpadded.

        BOS follows TransformerLens's ``to_tokens``: with ``prepend_bos`` the tokenizer's BOS token is
        put first when the tokenizer does not add it (and it is one token of the vocabulary); without
        it, a BOS that a decoder's tokenizer adds itself is removed. Encoders keep their tokenizer's
        special tokens unless ``prepend_bos=True``.

        Args:
            texts: The texts.
            text_pairs: Second texts for pair tasks, or ``None``.
            max_length: Truncate longer encodings to this many tokens.
            prepend_bos: Start every text with the BOS token; ``None`` for the model's default
                (:attr:`default_prepend_bos`).

        Returns:
            One id list per text, and the matching token-type lists or ``None``.

        Raises:
            SkillNeuronError: If ``max_length`` is below what the tokenizer needs (special tokens and
                one token of each text). A ``max_length`` beyond the model's context truncates at
                the context instead, so a long text never overflows the position embeddings.
        """
        self._check_tokenizer_room(max_length, text_pairs is not None, "max_length")
        bos = self.tokenizer.bos_token_id
        want_bos = self.default_prepend_bos if prepend_bos is None else bool(prepend_bos)
        add_bos = want_bos and self.bos_added_here()
        strip_bos = not want_bos and not self.is_encoder and self.tokenizer_prepends_bos()
        if self.n_ctx is not None:
            max_length = min(max_length, self.n_ctx - int(add_bos))
        encoded = self.tokenizer(
            list(texts),
            list(text_pairs) if text_pairs is not None else None,
            truncation=True,
            max_length=max_length + int(strip_bos),
            padding=False,
        )
        rows: list[list[int]] = [list(ids) for ids in encoded["input_ids"]]
        types: list[list[int]] | None = encoded.get("token_type_ids")
        for index, row in enumerate(rows):
            if add_bos and (not row or row[0] != bos):
                rows[index] = [bos, *row]
                if types is not None:
                    types[index] = [0, *types[index]]
            elif strip_bos and len(row) > 1 and row[0] == bos:
                rows[index] = row[1:]
                if types is not None:
                    types[index] = types[index][1:]
        return rows, types

    def pad_rows(
        self,
        rows: list[list[int]],
        types: list[list[int]] | None = None,
        padding_side: PaddingSide | None = None,
    ) -> TokenBatch:
        """Pad id lists into one batch on the model's device (``None``: :attr:`default_padding_side`).

        Raises:
            SkillNeuronError: For an unknown padding side.
        """
        padding_side = self.default_padding_side if padding_side is None else padding_side
        if padding_side not in ("left", "right"):
            raise SkillNeuronError(f"padding_side must be 'left' or 'right', got {padding_side!r}.")
        return self._pad(rows, types, padding_side)

    def _pad(
        self, rows: list[list[int]], types: list[list[int]] | None, padding_side: PaddingSide
    ) -> TokenBatch:
        width = max(len(row) for row in rows)
        pad_id = self._pad_id()

        def padded(values: list[int], fill: int) -> list[int]:
            extra = [fill] * (width - len(values))
            return extra + values if padding_side == "left" else values + extra

        ids = torch.tensor([padded(row, pad_id) for row in rows])
        mask = torch.tensor([padded([1] * len(row), 0) for row in rows])
        token_types = None if types is None else torch.tensor([padded(t, 0) for t in types])
        return TokenBatch(ids, mask, token_types).to(self.device)

    def forward(self, batch: TokenBatch) -> Any:
        """Run the model on a batch with its attention mask (output is rarely needed).

        Raises:
            SkillNeuronError: For a left-padded batch on ``HookedEncoder``, which cannot take
                position ids from the mask (use right padding there).
        """
        model = self.model
        if self.kind == "bridge":
            extra = {} if batch.token_type_ids is None else {"token_type_ids": batch.token_type_ids}
            return model(batch.input_ids, attention_mask=batch.attention_mask, **extra)
        if self.kind == "hooked_encoder":
            if batch.is_left_padded:
                raise SkillNeuronError(
                    "HookedEncoder numbers positions from the first slot, so left padding would shift "
                    "every position embedding. Use padding_side='right' with HookedEncoder."
                )
            return model(
                batch.input_ids,
                token_type_ids=batch.token_type_ids,
                one_zero_attention_mask=batch.attention_mask,
            )
        return model(batch.input_ids, attention_mask=batch.attention_mask)

    def run_until_stopped(self, batch: TokenBatch, fwd_hooks: Sequence[tuple[str, HookFn]]) -> None:
        """Run a forward pass with hooks that may end it early by raising :class:`StopForward`."""
        with torch.inference_mode(), self.hooks(fwd_hooks), contextlib.suppress(StopForward):
            self.forward(batch)
