"""Tiny deterministic models for tests, built the same way on TransformerLens 2.x and 4.x.

The GPT-2-style model has fixed weights (drawn from a seeded generator in parameter-name order),
so a ``HookedTransformer`` (2.x) and a ``TransformerBridge`` (4.x) built from it compute the same
activations. The tokenizer is a whitespace word-level vocabulary ``w0 .. w96``.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers

VOCAB = 100
WORDS = [f"w{i}" for i in range(VOCAB - 3)]


def has_bridge() -> bool:
    try:
        from transformer_lens.model_bridge import TransformerBridge  # noqa: F401
    except ImportError:
        return False
    return True


def has_hooked_transformer() -> bool:
    try:
        from transformer_lens import HookedTransformer  # noqa: F401
    except ImportError:
        return False
    return True


def make_tokenizer(directory: Path | None = None) -> Any:
    directory = Path(directory or tempfile.mkdtemp(prefix="snl-tok-"))
    vocab = {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]"
    )
    fast.save_pretrained(directory)
    return transformers.AutoTokenizer.from_pretrained(directory)


def make_hf_gpt2(seed: int = 0, n_layer: int = 3, d_mlp: int = 48) -> Any:
    """A Hugging Face GPT-2 with seeded weights: ``n_layer`` layers of ``d_mlp`` MLP neurons."""
    cfg = transformers.GPT2Config(
        bos_token_id=2, eos_token_id=2, pad_token_id=0,
        vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=n_layer, n_head=4, n_inner=d_mlp,
        activation_function="gelu_new",
    )
    model = transformers.GPT2LMHeadModel(cfg)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, parameter in sorted(model.named_parameters(), key=lambda item: item[0]):
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return model.eval()


def tiny_gpt2(backend: str = "auto", seed: int = 0, d_mlp: int = 48) -> Any:
    """The tiny GPT-2 (3 layers of ``d_mlp`` neurons): TransformerBridge (4.x) or HookedTransformer (2.x)."""
    hf_model, tokenizer = make_hf_gpt2(seed, d_mlp=d_mlp), make_tokenizer()
    if backend == "auto":
        backend = "bridge" if has_bridge() else "hooked"
    if backend == "bridge":
        from transformer_lens.model_bridge import TransformerBridge

        return TransformerBridge.boot_transformers("tiny-gpt2", hf_model=hf_model, tokenizer=tokenizer)
    from transformer_lens import HookedTransformer

    return hooked_gpt2(HookedTransformer, hf_model, tokenizer, d_mlp)


def hooked_gpt2(model_class: Any, hf_model: Any, tokenizer: Any, d_mlp: int = 48) -> Any:
    """The Hugging Face GPT-2 weights in a ``HookedTransformer`` subclass (e.g. ``HookedSAETransformer``)."""
    from transformer_lens import HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

    cfg = HookedTransformerConfig(
        n_layers=hf_model.config.n_layer, d_model=32, n_ctx=64, d_head=8, n_heads=4, d_mlp=d_mlp,
        d_vocab=VOCAB, act_fn="gelu_new", normalization_type="LN", default_prepend_bos=False,
    )
    model = model_class(cfg)
    model.load_state_dict(convert_gpt2_weights(hf_model, cfg), strict=False)
    model.set_tokenizer(tokenizer, default_padding_side="right")
    return model.eval()


def tiny_encoder(seed: int = 0) -> Any:
    """A tiny BERT encoder: a BERT bridge on 4.x, a HookedEncoder on 2.x."""
    tokenizer = make_tokenizer()
    torch.manual_seed(seed)
    if has_bridge():
        from transformer_lens.model_bridge import TransformerBridge

        cfg = transformers.BertConfig(
            vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=40, max_position_embeddings=64,
        )
        hf_model = transformers.BertForMaskedLM(cfg).eval()
        return TransformerBridge.boot_transformers("tiny-bert", hf_model=hf_model, tokenizer=tokenizer)
    from transformer_lens import HookedEncoder, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=2, d_model=32, n_ctx=64, d_head=8, n_heads=4, d_mlp=40, d_vocab=VOCAB,
        act_fn="gelu", attention_dir="bidirectional", d_vocab_out=VOCAB,
    )
    model = HookedEncoder(cfg)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # HookedEncoder leaves its parameters uninitialised
        for name, parameter in sorted(model.named_parameters(), key=lambda item: item[0]):
            if name.endswith(".w") and "ln" in name:
                parameter.fill_(1.0)
            elif name.endswith(".b") and "ln" in name:
                parameter.zero_()
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    model.tokenizer = tokenizer
    return model.eval()


def toy_texts(n: int, seed: int = 0, min_len: int = 2, max_len: int = 12) -> tuple[list[str], list[int]]:
    """Random word sequences whose label depends on which words they use."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randint(0, 1)
        pool = WORDS[: len(WORDS) // 2] if label else WORDS[len(WORDS) // 2 :]
        length = rng.randint(min_len, max_len)
        words = [rng.choice(pool if rng.random() < 0.7 else WORDS) for _ in range(length)]
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels
