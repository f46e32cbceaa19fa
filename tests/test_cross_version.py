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

pytestmark = pytest.mark.models
PROBE = Path(__file__).with_name("cross_version_probe.py")


def run_probe(python: str, out: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    completed = subprocess.run(
        [python, str(PROBE), str(out)], capture_output=True, text=True, env=env, timeout=600
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
