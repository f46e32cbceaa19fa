"""A slow, obvious reference implementation of the paper's predictivity (the Captum habit).

It caches every activation with ``run_with_cache``, keeps them all in memory, and computes the
baseline, the thresholded accuracy and the score with plain torch, one example at a time.
"""

from __future__ import annotations

from typing import Any

import torch

from skillneuron_lens.models.adapter import TokenBatch


def run_with_cache(model: Any, batch: TokenBatch, names: list[str]) -> dict[str, torch.Tensor]:
    kind = {cls.__name__ for cls in type(model).__mro__}
    with torch.no_grad():
        if "HookedEncoder" in kind and "TransformerBridge" not in kind:
            _, cache = model.run_with_cache(
                batch.input_ids,
                one_zero_attention_mask=batch.attention_mask,
                token_type_ids=batch.token_type_ids,
                names_filter=names,
            )
        else:
            _, cache = model.run_with_cache(
                batch.input_ids, attention_mask=batch.attention_mask, names_filter=names
            )
    return {name: cache[name] for name in names}


def pick(tokens: torch.Tensor, positions: Any) -> torch.Tensor:
    """Values of one example's real tokens ``[n_tokens, neuron]`` at the requested slots."""
    if positions == "mean":
        return tokens.mean(dim=0, keepdim=True)
    if positions == "max":
        return tokens.max(dim=0).values[None]
    if positions == "last":
        return tokens[-1:]
    wanted = [positions] if isinstance(positions, int) else list(positions)
    return torch.stack([tokens[p] for p in wanted])


def collect(model: Any, batches: list[TokenBatch], names: list[str], positions: Any) -> torch.Tensor:
    """Every example's values, ``[example, slot, layer, neuron]`` in float64."""
    rows = []
    for batch in batches:
        cache = run_with_cache(model, batch, names)
        for i in range(batch.input_ids.shape[0]):
            real = batch.attention_mask[i].bool()
            per_layer = [pick(cache[name][i][real].double(), positions) for name in names]
            rows.append(torch.stack(per_layer, dim=1))
    return torch.stack(rows)


def reference_accuracy(train: torch.Tensor, train_labels: list[int], dev: torch.Tensor,
                       dev_labels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Acc, baseline)`` per slot, layer and neuron, computed the obvious way."""
    del train_labels  # the baseline is the plain mean over the train split
    baseline = train.mean(dim=0)
    correct = torch.zeros(baseline.shape, dtype=torch.float64)
    for example, label in zip(dev, dev_labels, strict=True):
        fires = (example > baseline).long()
        correct += (fires == label).double()
    return correct / len(dev_labels), baseline


def reference_predictivity(accuracy: torch.Tensor) -> torch.Tensor:
    """``max(Acc, 1 - Acc)``, then the max over slots: ``[layer, neuron]``."""
    return torch.maximum(accuracy, 1 - accuracy).max(dim=0).values


def every_token(
    model: Any, texts: list[str], hook_name: str, **tokenize: Any
) -> list[tuple[list[int], torch.Tensor]]:
    """Each text alone (no padding) through ``run_with_cache``: its token ids and ``[token, neuron]`` values.

    ``tokenize`` goes to :meth:`ModelAdapter.tokenize` (e.g. ``max_length``); values are float64.
    """
    from skillneuron_lens.models.adapter import ModelAdapter

    adapter = ModelAdapter(model)
    found = []
    for text in texts:
        batch = adapter.tokenize([text], **tokenize)
        values = run_with_cache(model, batch, [hook_name])[hook_name][0].double().cpu()
        found.append((batch.input_ids[0].tolist(), values))
    return found


def brute_force_top_texts(
    tokens: list[tuple[list[int], torch.Tensor]], neuron: int, k: int
) -> tuple[list[tuple[int, list[int], torch.Tensor]], float]:
    """The ``k`` texts with a neuron's largest value at any token (ties to the earlier text).

    Args:
        tokens: :func:`every_token` of the texts at the neuron's hook.
        neuron: The neuron's index there.
        k: Texts to keep.

    Returns:
        ``(text index, token ids, values)`` of the best texts, and the share of all tokens where the
        neuron is above 0.
    """
    maxima = [float(values[:, neuron].max()) for _, values in tokens]
    order = sorted(range(len(tokens)), key=lambda i: (-maxima[i], i))[:k]
    every = torch.cat([values[:, neuron] for _, values in tokens])
    return [(i, tokens[i][0], tokens[i][1][:, neuron]) for i in order], float((every > 0).double().mean())
