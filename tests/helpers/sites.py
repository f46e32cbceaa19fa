"""Shared checks of neuron sites: recorded values against run_with_cache, and one-neuron interventions."""

from __future__ import annotations

from typing import Any

import torch

import skillneuron_lens as snl
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.models.sites import NeuronSite
from tests.helpers.reference import collect, reference_accuracy, reference_predictivity


def cached_values(
    model: Any, texts: list[str], site: str, layers: list[int], positions: list[int]
) -> torch.Tensor:
    """``[example * slot, layer, neuron]`` read from ``model.run_with_cache`` one text at a time."""
    parsed = NeuronSite.parse(site)
    _, names = ModelAdapter(model).resolve_site(parsed, layers if parsed.per_layer else None)
    rows = []
    for text in texts:
        ids = ModelAdapter(model).tokenize([text]).input_ids
        _, cache = model.run_with_cache(ids, names_filter=names)
        for position in positions:
            per_layer = []
            for name in names:
                value = cache[name][0, position]
                if parsed.head is not None:
                    value = value[parsed.head]
                per_layer.append(value.flatten())
            rows.append(torch.stack(per_layer))
    return torch.stack(rows)


def assert_recording_matches_cache(model: Any, texts: list[str], site: str, layers: list[int]) -> None:
    """The recorder's values (batched, padded) equal ``run_with_cache`` at the first and last token."""
    recorded = snl.record.neuron_pool(
        model,
        texts,
        hook=site,
        layers=layers if NeuronSite.parse(site).per_layer else None,
        positions=[0, -1],
        recording=snl.RecordingConfig(batch_size=4, progress=False),
    )
    expected = cached_values(model, texts, site, layers, [0, -1])
    assert recorded.shape == expected.shape
    torch.testing.assert_close(recorded, expected.float(), rtol=1e-5, atol=1e-5)


def assert_predictivity_matches_reference(
    model: Any,
    train: tuple[list[str], list[int]],
    dev: tuple[list[str], list[int]],
    site: str,
    layers: list[int] | None,
    positions: Any,
) -> snl.PredictivityResult:
    """compute_predictivity at a site equals the slow reference on flattened run_with_cache values."""
    config = snl.RecordingConfig(hook=site, layers=layers, positions=positions, batch_size=8, progress=False)
    result = snl.compute_predictivity(model, train, dev, recording=config)
    recorder = snl.Recorder(model, config)
    parsed = NeuronSite.parse(site)

    def values(texts: list[str]) -> torch.Tensor:
        batches = [recorder.encode(texts[i : i + 8], None) for i in range(0, len(texts), 8)]
        acts = collect(model, batches, recorder.hook_names, positions)  # [example, slot, layer, *site]
        if parsed.head is not None:
            acts = acts[:, :, :, parsed.head]
        return acts.flatten(start_dim=3)

    accuracy, baseline = reference_accuracy(values(train[0]), train[1], values(dev[0]), dev[1])
    assert torch.equal(result.accuracy[0, 0], accuracy)
    torch.testing.assert_close(result.baseline[0, 0], baseline, rtol=1e-12, atol=1e-12)
    assert torch.equal(result.predictivity, reference_predictivity(accuracy))
    return result


def run_capturing(
    model: Any, ids: torch.Tensor, hooks: list[Any], name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, activation at name)`` with ``hooks`` attached; the capture runs after them."""
    seen: dict[str, torch.Tensor] = {}

    def capture(activations: torch.Tensor, hook: Any) -> None:
        seen["value"] = activations.detach().clone()

    with torch.no_grad():
        logits = model.run_with_hooks(ids, fwd_hooks=[*hooks, (name, capture)])
    return logits, seen["value"]


def single_neuron_set(site: str, layer: int, neuron: int, width: int) -> snl.NeuronSet:
    """A set holding one neuron of one layer."""
    mask = torch.zeros(1, width, dtype=torch.bool)
    mask[0, neuron] = True
    return snl.NeuronSet(mask, (layer,), site)
