"""A tiny random Llama (gated MLP, RMSNorm, rotary): a TransformerBridge on 4.x, a HookedTransformer on 2.x.

The bridge wraps a Hugging Face ``LlamaForCausalLM`` built from a tiny ``LlamaConfig`` (``down_proj``
has no bias, as in real Llama checkpoints). On TransformerLens 2.x the same shape is built as a
``HookedTransformer`` with ``gated_mlp=True`` (random weights; ``b_in`` made non-zero on purpose).
"""

from __future__ import annotations

from typing import Any

import torch
import transformers

from tests.helpers.tiny_models import VOCAB, has_bridge, make_tokenizer


def _randomize(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters(), key=lambda item: item[0]):
            noise = torch.randn(parameter.shape, generator=generator)
            if "norm" in name or name.endswith((".ln1.w", ".ln2.w", "ln_final.w")):
                parameter.copy_(1.0 + 0.1 * noise)
            else:
                parameter.copy_(0.3 * noise)


def make_hf_llama(seed: int = 0, n_layers: int = 3) -> Any:
    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=n_layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        bos_token_id=2, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False,
    )
    model = transformers.LlamaForCausalLM(cfg)
    _randomize(model, seed)
    return model.eval()


def tiny_llama(seed: int = 0) -> Any:
    """The tiny Llama: a TransformerBridge on TransformerLens 4.x, a gated HookedTransformer on 2.x."""
    tokenizer = make_tokenizer()
    if has_bridge():
        from transformer_lens.model_bridge import TransformerBridge

        return TransformerBridge.boot_transformers(
            "tiny-llama", hf_model=make_hf_llama(seed), tokenizer=tokenizer
        )
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=3, d_model=32, n_ctx=64, d_head=8, n_heads=4, d_mlp=48, d_vocab=VOCAB,
        act_fn="silu", gated_mlp=True, normalization_type="RMS", positional_embedding_type="rotary",
        rotary_dim=8, final_rms=True, default_prepend_bos=False,
    )
    model = HookedTransformer(cfg)
    _randomize(model, seed)
    model.set_tokenizer(tokenizer, default_padding_side="right")
    return model.eval()
