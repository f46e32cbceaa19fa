"""Tiny random Hugging Face checkpoints written to disk, and CSV splits over their vocabulary.

They load through ``load_model`` like any local model folder (no packages, no download, both
TransformerLens versions), which is what the command-line and model-loading tests need.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

WORDS = ["the", "film", "was", "a", "quiet", "delight", "dull", "and", "lifeless", "mess", "plot"]


def write_bert(directory: Path) -> None:
    """Save a tiny random BERT (masked LM, 2 layers, 48 MLP neurons) and its tokenizer over ``WORDS``."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=64,
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(directory)


def write_llama(directory: Path, words: Sequence[str] = WORDS, **sizes: Any) -> None:
    """Save a random Llama and its whole-word tokenizer over ``words`` (``<unk> <s> </s> <pad>`` first).

    By default a tiny one (2 layers, 48 MLP neurons, grouped-query attention) over ``WORDS``;
    ``sizes`` overrides :class:`transformers.LlamaConfig` fields (``hidden_size``, ``num_hidden_layers``,
    ``torch_dtype``, ...), e.g. for the scale benchmark's ~150M-parameter model.
    """
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = ["<unk>", "<s>", "</s>", "<pad>", *words]
    backend = Tokenizer(WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    tokenizer.save_pretrained(directory)
    fields: dict[str, Any] = {
        "hidden_size": 32,
        "intermediate_size": 48,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 64,
        "rope_theta": 50000.0,  # not the 10000 default: TransformerLens 2.18's converter drops it
        "initializer_range": 0.2,
        **sizes,
    }
    config = LlamaConfig(
        vocab_size=len(vocab), bos_token_id=1, eos_token_id=2, pad_token_id=3, tie_word_embeddings=False,
        **fields,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)


def word_sentences(n: int) -> list[str]:
    """``n`` deterministic sentences of 3 to 7 words, cycling through ``WORDS``."""
    return [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 5)) for i in range(n)]


def word_rows(n: int, seed: int) -> list[tuple[str, int]]:
    """Random sentences over ``WORDS``; the label is whether 'delight' occurs."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        rows.append((text, int("delight" in text.split())))
    return rows


def write_split(path: Path, rows: list[tuple[str, int]]) -> str:
    """Write ``rows`` as a ``text,label`` CSV file and return its path as a string."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)
