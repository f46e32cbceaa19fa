"""On a GPU: interventions, pruning and the command line give what they give on the CPU.

Skipped where no CUDA device is available (CI). On a GPU machine: ``python -m pytest tests/test_cuda.py``.
``SNL_TEST_DEVICE=cpu`` runs the same checks on the CPU, which checks the tests' own logic anywhere.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

import skillneuron_lens.cli.app as cli
from skillneuron_lens.intervene.prune import prune_model
from skillneuron_lens.models.adapter import ModelAdapter
from tests.helpers.checkpoints import word_rows, write_bert, write_llama, write_split
from tests.helpers.interventions import CHOSEN, TEXTS, columns, neurons, others, trace
from tests.helpers.pruning import (
    BUILDERS,
    assert_roundoff,
    clamp_hooks,
    layer_counts,
    random_keep,
    random_means,
    run,
)
from tests.helpers.tiny_models import tiny_gpt2

DEVICE = os.environ.get("SNL_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(
        DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs a CUDA device"
    ),
]


def on_device(tensor: torch.Tensor) -> bool:
    return tensor.device.type == torch.device(DEVICE).type


# ---- interventions ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpu_model():
    return tiny_gpt2().to(DEVICE)


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("zero", {}),
        ("mean", {"mean": torch.arange(3 * 48, dtype=torch.float32).reshape(3, 48)}),  # a CPU table
        ("gaussian", {"std": 0.5}),
        ("resample", {}),
        ("scale", {"factor": -2.0}),
        ("clamp", {"value": torch.full((3, 48), -1.5)}),
    ],
)
def test_each_mode_on_the_device_changes_exactly_the_chosen_neurons(gpu_model, mode, kwargs):
    batch = ModelAdapter(gpu_model).tokenize(TEXTS)
    assert on_device(batch.input_ids)
    before, after = trace(gpu_model, batch, neurons(CHOSEN), mode, **kwargs)
    for layer in range(3):
        assert on_device(after[layer])
        rest, idx = others(layer), columns(layer)
        assert torch.equal(after[layer][..., rest], before[layer][..., rest])
        assert not torch.equal(after[layer][..., idx], before[layer][..., idx])
        if mode == "mean":
            expected = kwargs["mean"][layer, idx].to(after[layer].device)
            assert torch.equal(after[layer][..., idx], expected.expand_as(after[layer][..., idx]))


def test_same_seed_same_noise_on_the_device(gpu_model):
    batch = ModelAdapter(gpu_model).tokenize(TEXTS)
    _, first = trace(gpu_model, batch, neurons(CHOSEN), "gaussian", std=0.3, seed=7)
    _, again = trace(gpu_model, batch, neurons(CHOSEN), "gaussian", std=0.3, seed=7)
    _, other = trace(gpu_model, batch, neurons(CHOSEN), "gaussian", std=0.3, seed=8)
    assert all(torch.equal(first[layer], again[layer]) for layer in range(3))
    assert not torch.equal(first[0], other[0])


# ---- pruning --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_pruned_equals_clamped_on_the_device(kind):
    model = BUILDERS[kind]().to(DEVICE)
    keep = random_keep(model, layer_counts(model))
    means = random_means(keep)  # on the CPU, in float64: prune_model must move them
    pruned = prune_model(model, keep, means)
    assert all(on_device(parameter) for parameter in pruned.parameters())
    logits_ref, resid_ref, _ = run(model, clamp_hooks(keep, means))
    logits, resid, _ = run(pruned)
    assert on_device(logits)
    assert_roundoff(logits, logits_ref)
    assert_roundoff(resid, resid_ref)


# ---- the command line -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-cli")
    write_bert(root / "tiny-bert")
    write_llama(root / "tiny-llama")
    files = [
        "--train-file", write_split(root / "train.csv", word_rows(96, 0)),
        "--dev-file", write_split(root / "dev.csv", word_rows(64, 1)),
        "--test-file", write_split(root / "test.csv", word_rows(64, 2)),
        "--n", "0", "--quiet", "--no-report",
    ]
    return root, files


def predictivity(run_dir) -> torch.Tensor:
    return load_file(str(run_dir / "predictivity.safetensors"))["predictivity"]


@pytest.mark.parametrize("arch", ["tiny-bert", "tiny-llama"])
def test_find_on_the_device_matches_the_cpu(checkpoint_and_data, arch):
    root, files = checkpoint_and_data
    runs = {}
    for device in ("cpu", DEVICE):
        out = root / f"{arch}-{device.replace(':', '')}-frozen"
        args = ["find", "--model", str(root / arch), *files, "--device", device, "--fraction", "0.25",
                "--max-length", "32", "--out", str(out)]
        assert cli.main([*args, "--overwrite"]) == 0
        runs[device] = predictivity(out)
    cpu, gpu = runs["cpu"], runs[DEVICE]
    assert cpu.shape == gpu.shape
    # Accuracies over 64 dev examples: round-off may move a threshold past one tied example, no more.
    differs = (cpu - gpu).abs() > 1e-6
    assert float(differs.float().mean()) < 0.02
    assert float((cpu - gpu).abs().max()) <= 1 / 64 + 1e-6


def test_low_precision_on_the_device(checkpoint_and_data):
    root, files = checkpoint_and_data
    runs = {}
    for dtype in ("float32", "bfloat16"):
        out = root / f"bert-{dtype}"
        args = ["find", "--model", str(root / "tiny-bert"), *files, "--device", DEVICE, "--dtype", dtype,
                "--fraction", "0.25", "--max-length", "32"]
        assert cli.main([*args, "--out", str(out), "--overwrite"]) == 0
        runs[dtype] = predictivity(out)
    assert runs["bfloat16"].dtype == torch.float32 and bool(torch.isfinite(runs["bfloat16"]).all())
    assert float((runs["bfloat16"] - runs["float32"]).abs().mean()) < 0.05


def test_tune_perturb_and_prune_on_the_device(checkpoint_and_data):
    root, files = checkpoint_and_data
    run_dir = root / "bert-tuned"
    tune = ["find", "--model", str(root / "tiny-bert"), *files, "--device", DEVICE, "--tune", "prompt",
            "--prompt-length", "2", "--steps", "4", "--eval-every", "2", "--fraction", "0.25",
            "--max-length", "32", "--out", str(run_dir)]
    assert cli.main([*tune, "--overwrite"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert 0.0 <= summary["test_accuracy"] <= 1.0

    perturb = ["perturb", "--run", str(run_dir), "--fractions", "0.1,0.5", "--draws", "2", "--seed", "3",
               "--device", DEVICE, "--quiet", "--no-report"]
    curves = []
    for name in ("first.json", "again.json"):
        assert cli.main([*perturb, "--output", name]) == 0
        curves.append(json.loads((run_dir / name).read_text()))
    assert curves[0]["skill"] == curves[1]["skill"] and curves[0]["random"] == curves[1]["random"]

    pruned = root / "bert-pruned"
    prune = ["prune", "--run", str(run_dir), "--keep", "0.25", "--layers", "0-1", "--device", DEVICE,
             "--out", str(pruned), "--quiet"]
    assert cli.main(prune) == 0
    facts = json.loads((pruned / "prune.json").read_text())
    assert facts["parameters_after"] < facts["parameters_before"]
    assert 0.0 <= facts["accuracy_after"] <= 1.0
