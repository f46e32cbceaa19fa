"""The same tiny model gives the same predictivity on TransformerLens 2.18 and 4.3.

The tiny GPT-2 is built from identical weights as a ``HookedTransformer`` (2.x) and as a
``TransformerBridge`` (4.x). This test runs the probe here and in the other version's interpreter,
named by ``SNL_OTHER_PYTHON`` (``.ci/run`` sets it for both of its runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import skillneuron_lens as snl
from tests.helpers.tiny_models import has_bridge  # noqa: E402

pytestmark = pytest.mark.models
PROBE = Path(__file__).resolve().parents[1] / "helpers" / "cross_version_probe.py"


def run_probe(python: str, out: Path, *extra: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        [python, str(PROBE), str(out), *extra], capture_output=True, text=True, env=env, timeout=900
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_results_agree_across_transformerlens_versions(tmp_path):
    other = os.environ.get("SNL_OTHER_PYTHON")
    if not other:
        pytest.skip("SNL_OTHER_PYTHON (the other TransformerLens version's python) is not set")
    run_probe(sys.executable, tmp_path / "here")
    run_probe(other, tmp_path / "there")
    for directory in sorted((tmp_path / "here").iterdir()):
        here = snl.PredictivityResult.load(directory)
        there = snl.PredictivityResult.load(tmp_path / "there" / directory.name)
        assert {here.fingerprint["class"], there.fingerprint["class"]} == {
            "HookedTransformer", "TransformerBridge",
        }
        torch.testing.assert_close(here.baseline, there.baseline, rtol=1e-5, atol=1e-6)
        assert torch.equal(here.accuracy, there.accuracy), directory.name


@pytest.mark.slow
def test_real_model_skill_neurons_agree_across_backends(tmp_path):
    """HookedEncoder (TransformerLens 2.x) and TransformerBridge (4.x) run the same MiniLM weights with
    activations equal to about 1e-5: the skill neurons they select agree once fragile neurons are set
    aside, and every neuron whose score differs is within a few dev examples."""
    other = os.environ.get("SNL_OTHER_PYTHON")
    if not other:
        pytest.skip("SNL_OTHER_PYTHON (the other TransformerLens version's python) is not set")
    if not has_bridge():
        pytest.skip("runs once, from the TransformerLens 4.x leg (it runs both backends itself)")
    run_probe(sys.executable, tmp_path / "bridge", "minilm")
    run_probe(other, tmp_path / "hooked", "minilm")
    bridge = snl.PredictivityResult.load(tmp_path / "bridge" / "minilm")
    hooked = snl.PredictivityResult.load(tmp_path / "hooked" / "minilm")
    classes = {bridge.fingerprint["class"], hooked.fingerprint["class"]}
    assert classes == {"HookedEncoder", "TransformerBridge"}
    assert torch.equal(
        snl.NeuronSet.top(bridge, fraction=0.02).mask, snl.NeuronSet.top(hooked, fraction=0.02).mask
    )
    assert torch.equal(
        snl.NeuronSet.significant(bridge).mask, snl.NeuronSet.significant(hooked).mask
    )
    changed = bridge.predictivity != hooked.predictivity
    assert int(changed.sum()) <= 50
    assert float((bridge.predictivity - hooked.predictivity).abs().max()) <= 3 / 320 + 1e-12
