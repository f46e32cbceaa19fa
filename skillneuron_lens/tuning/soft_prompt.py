"""Where a soft prompt goes in the input, and how its vectors replace token embeddings.

The prompt's slots are placeholder tokens in the token ids; a hook on the model's token-embedding
hook (``hook_embed``) swaps their embeddings for the trainable prompt vectors. Position embeddings,
token-type embeddings and attention masks then treat the prompt like any other token, so padding on
either side keeps every position right.

Layouts (content coordinates, padding not shown):

* encoders: ``[CLS] ([MASK]) p_1 .. p_L  text  [SEP]`` — the label is read at ``[CLS]`` (linear
  head) or at ``[MASK]`` (verbalizer), the paper's slot before the prompt;
* decoders: ``[BOS] text  p_1 .. p_L`` — the prompt comes *after* the input (a prompt before it could
  not see it under causal attention) and the label is read at the last prompt slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import ModelAdapter, PaddingSide, StopForward, TokenBatch

__all__ = [
    "Region",
    "REGIONS",
    "PromptedBatch",
    "PromptLayout",
    "splice_prompt",
    "token_embeddings",
]

Region = Literal["prompt", "input", "read", "all"]
REGIONS: tuple[str, ...] = ("prompt", "input", "read", "all")


@dataclass(frozen=True)
class PromptedBatch:
    """One encoded batch with the soft prompt's slots marked.

    Attributes:
        tokens: Token ids and masks (prompt slots hold a placeholder id).
        prompt_slot: Index of the prompt vector at each position, ``-1`` elsewhere.
        read_at: Position the label is read from, per example.
        input_region: 1 on the input text's tokens (the tokenizer's special tokens, the label slot
            and the prompt excluded).
    """

    tokens: TokenBatch
    prompt_slot: Int[torch.Tensor, "batch pos"]
    read_at: Int[torch.Tensor, " batch"]
    input_region: Int[torch.Tensor, "batch pos"]

    def region(self, name: Region) -> Int[torch.Tensor, "batch pos"]:
        """Mask of the positions in a named region: prompt, input, read (label slot) or all."""
        if name == "prompt":
            return (self.prompt_slot >= 0).long()
        if name == "input":
            return self.input_region
        if name == "read":
            mask = torch.zeros_like(self.tokens.attention_mask)
            mask[torch.arange(len(mask), device=mask.device), self.read_at] = 1
            return mask
        if name == "all":
            return self.tokens.attention_mask
        raise SkillNeuronError(f"Unknown region {name!r}: use one of {', '.join(REGIONS)}.")


@dataclass(frozen=True)
class PromptLayout:
    """How to lay out prompt, label slot and text for one model.

    Attributes:
        prompt_length: Number of soft-prompt slots (0 for no prompt).
        is_encoder: Bidirectional model (prompt after ``[CLS]``) or decoder (prompt after the text).
        mask_slot: Put a ``[MASK]`` slot before the prompt and read the label there (encoders with a
            verbalizer).
        max_length: Truncate each text (with its special tokens) to this many tokens; the prompt
            and label slot come on top.
        padding_side: ``"right"`` or ``"left"``.
    """

    prompt_length: int
    is_encoder: bool
    mask_slot: bool = False
    max_length: int = 128
    padding_side: PaddingSide = "right"

    def encode(
        self, adapter: ModelAdapter, texts: Sequence[str], text_pairs: Sequence[str] | None = None
    ) -> PromptedBatch:
        """Encode texts with placeholder prompt slots.

        Raises:
            SkillNeuronError: If an encoding is longer than the model's context.
        """
        rows, types = adapter.encode_rows(
            texts, text_pairs, max_length=self.max_length, prepend_bos=not self.is_encoder
        )
        placeholder = self._placeholder_id(adapter)
        special = set(getattr(adapter.tokenizer, "all_special_ids", []) or [])
        prompt_at: list[int] = []
        read_at: list[int] = []
        is_input: list[list[bool]] = []
        for index, row in enumerate(rows):
            head, inserted = self._inserted(adapter, placeholder)
            text_flags = [token not in special for token in row]
            if self.is_encoder:
                rows[index] = [*row[:1], *inserted, *row[1:]]
                if types is not None:
                    types[index] = [*types[index][:1], *[0] * len(inserted), *types[index][1:]]
                is_input.append([*text_flags[:1], *[False] * len(inserted), *text_flags[1:]])
                prompt_at.append(1 + head)
                read_at.append(1 if self.mask_slot else 0)
            else:
                rows[index] = [*row, *inserted]
                is_input.append([*text_flags, *[False] * len(inserted)])
                prompt_at.append(len(row))
                read_at.append(len(rows[index]) - 1)
        self._check_context(adapter, rows)
        tokens = adapter.pad_rows(rows, types, self.padding_side)
        return self._mark(tokens, prompt_at, read_at, is_input)

    def _inserted(self, adapter: ModelAdapter, placeholder: int) -> tuple[int, list[int]]:
        head = [self._mask_id(adapter)] if self.mask_slot else []
        return len(head), [*head, *[placeholder] * self.prompt_length]

    @staticmethod
    def _placeholder_id(adapter: ModelAdapter) -> int:
        tokenizer = adapter.tokenizer
        for candidate in (tokenizer.unk_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id):
            if candidate is not None:
                return int(candidate)
        return 0

    @staticmethod
    def _mask_id(adapter: ModelAdapter) -> int:
        mask_id = getattr(adapter.tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise SkillNeuronError(
                "The tokenizer has no mask token, so there is no [MASK] slot to read a verbalizer "
                "from. Use the linear head (head='linear')."
            )
        return int(mask_id)

    @staticmethod
    def _check_context(adapter: ModelAdapter, rows: list[list[int]]) -> None:
        limit = adapter.n_ctx
        longest = max(len(row) for row in rows)
        if limit is not None and longest > limit:
            raise SkillNeuronError(
                f"An input with its soft prompt is {longest} tokens, longer than the model's context "
                f"({limit}). Lower max_length or the prompt length."
            )

    def _mark(
        self,
        tokens: TokenBatch,
        prompt_at: list[int],
        read_at: list[int],
        is_input: list[list[bool]],
    ) -> PromptedBatch:
        batch, width = tokens.input_ids.shape
        prompt_slot = torch.full((batch, width), -1, dtype=torch.long)
        input_region = torch.zeros((batch, width), dtype=torch.long)
        read = torch.zeros(batch, dtype=torch.long)
        for row, flags in enumerate(is_input):
            start = 0 if self.padding_side == "right" else width - len(flags)
            first = start + prompt_at[row]
            prompt_slot[row, first : first + self.prompt_length] = torch.arange(self.prompt_length)
            read[row] = start + read_at[row]
            input_region[row, start : start + len(flags)] = torch.tensor(flags, dtype=torch.long)
        device = tokens.input_ids.device
        return PromptedBatch(tokens, prompt_slot.to(device), read.to(device), input_region.to(device))


def splice_prompt(
    embeddings: Float[torch.Tensor, "batch pos d_model"],
    prompt: Float[torch.Tensor, "slot d_model"],
    prompt_slot: Int[torch.Tensor, "batch pos"],
) -> Float[torch.Tensor, "batch pos d_model"]:
    """Token embeddings with the prompt's vectors at the prompt slots (differentiable)."""
    if embeddings.shape[:2] != prompt_slot.shape:
        raise SkillNeuronError(
            f"The embedding hook saw {tuple(embeddings.shape[:2])} tokens but the batch has "
            f"{tuple(prompt_slot.shape)}: was the batch encoded by this classifier?"
        )
    vectors = prompt[prompt_slot.clamp_min(0)].to(embeddings.dtype)
    return torch.where((prompt_slot >= 0)[..., None], vectors, embeddings)


def token_embeddings(adapter: ModelAdapter, token_ids: Sequence[int]) -> Float[torch.Tensor, "token d_model"]:
    """The model's token embeddings of some ids, read at its token-embedding hook."""
    captured: list[torch.Tensor] = []

    def grab(embeddings: torch.Tensor, hook: Any) -> None:
        captured.append(embeddings[0].detach().float().clone())
        raise StopForward

    ids = torch.tensor([list(token_ids)], device=adapter.device)
    batch = TokenBatch(ids, torch.ones_like(ids))
    adapter.run_until_stopped(batch, [(adapter.token_embedding_hook, grab)])
    if not captured:
        raise SkillNeuronError(f"The hook {adapter.token_embedding_hook!r} did not fire.")
    return captured[0]
