"""A bfloat16 model: the statistics still accumulate in float64, and predictivity stays the float32 one."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.models.load import load_model
from skillneuron_lens.predictivity.compute import compute_predictivity
from skillneuron_lens.record.accumulators import MeanAccumulator, ThresholdAccuracyAccumulator
from tests.helpers.checkpoints import word_rows, write_llama

pytestmark = pytest.mark.models


def _texts_and_labels(rows: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [text for text, _ in rows], [label for _, label in rows]


def test_bfloat16_model_accumulates_in_float64_and_matches_float32(tmp_path, monkeypatch):
    write_llama(tmp_path / "llama")
    train, dev = _texts_and_labels(word_rows(48, 1)), _texts_and_labels(word_rows(48, 2))
    seen: list[tuple[torch.dtype, list[torch.dtype]]] = []
    for accumulator in (MeanAccumulator, ThresholdAccuracyAccumulator):
        original = accumulator.add_layer

        def spy(self, layer_slot, values, targets, where, original=original):
            seen.append((values.dtype, [tensor.dtype for tensor in self._tensors()]))
            original(self, layer_slot, values, targets, where)

        monkeypatch.setattr(accumulator, "add_layer", spy)
    results = {}
    for dtype in ("float32", "bfloat16"):
        model = load_model(tmp_path / "llama", dtype=dtype)
        assert next(model.parameters()).dtype == snl.models.DTYPES[dtype]
        recording = snl.RecordingConfig(batch_size=16, progress=False)
        results[dtype] = compute_predictivity(
            model, train, dev, positions="last", n_permutations=0, recording=recording
        )
    # what reaches the accumulators is float64 (the recorder reduces in float64), and they sum in
    # float64 sums and int64 counts, whatever the model's dtype
    assert seen and all(values == torch.float64 for values, _ in seen)
    assert {dtype for _, tensors in seen for dtype in tensors} == {torch.float64, torch.int64}
    full, low = results["float32"], results["bfloat16"]
    assert low.baseline.dtype == torch.float64 and low.predictivity.dtype == torch.float64
    # bfloat16 keeps 8 significant bits (unit roundoff 2**-9, about 0.2%); through two layers of
    # products and sums the activations move by about 1% of their scale, so the baselines (means of
    # them) agree within 2% of the largest one
    scale = float(full.baseline.abs().max())
    torch.testing.assert_close(low.baseline, full.baseline, rtol=0.0, atol=0.02 * scale)
    # predictivity counts dev examples on the right side of the baseline: only examples within that
    # 1% of a neuron's baseline can change side. On this model that is at most 2 of 48 dev examples
    # for any neuron, and well under one example on average
    n_dev = len(dev[0])
    difference = (low.predictivity - full.predictivity).abs()
    assert float(difference.max()) <= 3 / n_dev
    assert float(difference.mean()) <= 0.5 / n_dev
    assert not torch.equal(low.baseline, full.baseline)  # the model did run in bfloat16
