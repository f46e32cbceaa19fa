"""find --stream: the command line's flag, the config's checks, and the in-memory run's numbers."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import skillneuron_lens as snl
import skillneuron_lens.cli.app as cli
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import PREDICTIVITY_TENSORS
from skillneuron_lens.runs.config import FindConfig
from skillneuron_lens.tasks.streaming import StreamedTask
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

OPTIONS = dict(
    model="tiny", n=0, fraction=0.05, max_length=16, quiet=True, no_report=True, readout="none",
    null_permutations=5, batch_size=8,
)


def _files(directory):
    paths = {}
    for k, role in enumerate(("train", "dev", "test")):
        texts, labels = toy_texts(30 + 10 * k, seed=k)
        paths[role] = directory / f"{role}.jsonl"
        paths[role].write_text(
            "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels, strict=True))
        )
    return paths


def test_the_command_line_parses_stream_into_the_config():
    args = cli.build_parser().parse_args(["find", "--train-file", "big.jsonl", "--stream", "--out", "x"])
    assert args.stream is True
    assert cli.build_parser().parse_args(["find", "--out", "x"]).stream is False


def test_stream_needs_files_and_the_frozen_model():
    with pytest.raises(SkillNeuronError, match="--stream reads --train-file"):
        FindConfig(stream=True, out="x")
    with pytest.raises(SkillNeuronError, match="use --tune frozen with --stream"):
        FindConfig(stream=True, train_file="big.jsonl", tune="prompt", out="x")


def test_the_config_streams_a_pool_with_the_dev_share_as_dev_fraction(tmp_path):
    texts, labels = toy_texts(200, seed=1)
    pool = tmp_path / "pool.jsonl"
    rows = zip(texts, labels, strict=True)
    pool.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    task = FindConfig(train_file=str(pool), stream=True, n=0, out="x").resolved().load_task()
    assert isinstance(task, StreamedTask)
    assert 0.35 < len(task.dev) / (len(task.dev) + len(task.train)) < 0.65  # --dev-share 0.5 by default
    small = FindConfig(train_file=str(pool), stream=True, n=50, out="x").resolved().load_task()
    assert isinstance(small, StreamedTask) and sum(len(split) for split in small.splits.values()) == 50


def test_find_stream_gives_the_in_memory_runs_numbers(tmp_path):
    model = tiny_gpt2()
    paths = {f"{role}_file": str(path) for role, path in _files(tmp_path).items()}
    streamed = snl.find(FindConfig(**OPTIONS, **paths, stream=True, out=str(tmp_path / "s")), model=model)
    in_memory = snl.find(FindConfig(**OPTIONS, **paths, out=str(tmp_path / "m")), model=model)
    assert streamed is not None and in_memory is not None
    got, expected = (load_file(str(run.path / PREDICTIVITY_TENSORS)) for run in (streamed, in_memory))
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name
    assert streamed.summary["arguments"]["stream"] is True
    assert streamed.summary["n_dev"] == in_memory.summary["n_dev"] == 40
