"""Smoke test of benchmarks/bench_evidence.py: its variants record the same dev counts as the library."""

from __future__ import annotations

import pytest
import torch

from skillneuron_lens import Recorder, RecordingConfig, compute_predictivity
from tests.helpers.scripts import import_benchmark
from tests.helpers.tiny_models import tiny_encoder, toy_texts

bench_evidence = import_benchmark("bench_evidence")

BATCH = 12
MAX_LENGTH = 16


@pytest.fixture(scope="module")
def model():
    return tiny_encoder(seed=3)


def test_variants_give_the_library_correct_counts(model):
    texts, labels = toy_texts(2 * BATCH, seed=5)
    splits = bench_evidence.split_examples(texts, labels, dev_share=0.5, test_share=0.0)
    data = splits.train
    assert len(data.train_texts) == len(data.dev_texts) == BATCH
    config = RecordingConfig(positions=0, batch_size=BATCH, max_length=MAX_LENGTH, progress=False)
    recorder = Recorder(model, config)
    shape = bench_evidence.recording_shape(recorder, data.train_texts)
    train_batches = bench_evidence.encode(recorder, data.train_texts, BATCH)
    dev_batches = bench_evidence.encode(recorder, data.dev_texts, BATCH)
    assert len(train_batches) == len(dev_batches) == 1
    means, _ = bench_evidence.train_pass(
        recorder, train_batches, bench_evidence.binary_targets(data.train_labels), shape
    )
    dev_targets = bench_evidence.binary_targets(data.dev_labels)
    variants = bench_evidence.dev_variants(means, shape, dev_targets, n_permutations=7, histogram_bins=32)
    assert set(variants) == set(bench_evidence.VARIANTS)
    offsets = bench_evidence.batch_offsets(dev_batches)
    for variant in variants.values():
        bench_evidence.variant_step(recorder, variant, offsets)(0, dev_batches[0])
    held_out = bench_evidence.held_out_accumulator(means, shape)
    recorder.accumulate_batch(held_out, dev_batches[0], dev_targets)

    # the library's own path over the same two splits: the counts it scores accuracy from
    result = compute_predictivity(
        model,
        (data.train_texts, data.train_labels),
        (data.dev_texts, data.dev_labels),
        positions=0,
        recording=RecordingConfig(batch_size=BATCH, max_length=MAX_LENGTH, progress=False),
        n_permutations=0,
    )
    expected = (result.accuracy[0] * BATCH).round().long()
    assert 0 < int(expected.sum()) < BATCH * expected.numel()  # neither all wrong nor all right
    for name, variant in variants.items():
        assert variant.hits.counts.tolist() == [BATCH], name
        assert torch.equal(variant.hits.correct, expected), name
    assert torch.equal(held_out.correct, expected)
    # the fan-out variants really fed the permutation null (and the histograms) as well
    null = variants["evidence"].fed.parts[1][0]
    assert null.counts.tolist() == [BATCH]
    assert null.correct.shape[0] == 7
    histograms = variants["histograms"].fed.parts[2][0]
    assert int(histograms.class_counts.sum()) == BATCH * shape["n_layers"] * shape["n_neurons"]


def test_paired_steps_rotates_the_order():
    calls: list[str] = []
    steps = {name: (lambda index, batch, name=name: calls.append(name)) for name in ("a", "b")}
    times = bench_evidence.paired_steps(steps, [object(), object()])  # type: ignore[list-item]
    assert calls == ["a", "b", "b", "a"]
    assert [len(values) for values in times.values()] == [2, 2]
