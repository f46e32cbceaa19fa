"""A run as a library object: FindConfig, snl.find and Run, against the command line on the tiny model."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import skillneuron_lens as snl
import skillneuron_lens.cli.app as cli
import skillneuron_lens.runs.finding as runs_finding
import skillneuron_lens.runs.run as runs_run
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import FIND_CONFIG, PREDICTIVITY_TENSORS, SUMMARY_FILE
from skillneuron_lens.runs.config import (
    DEFAULT_DEV_SHARE,
    DEFAULT_FROZEN_EXAMPLES,
    FIND_CONFIG_VERSION,
    FindConfig,
)

TINY = ["--model", "tiny", "--n", "0", "--fraction", "0.05", "--max-length", "16", "--quiet", "--no-report"]
TUNED = ["--tune", "none", "--head", "linear", "--steps", "2", "--eval-every", "1"]


def _toy_csv(path):
    from tests.helpers.tiny_models import toy_texts

    texts, labels = toy_texts(60, 3)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        names = ("negative", "positive")
        writer.writerows((text, names[label]) for text, label in zip(texts, labels, strict=True))
    return path


@pytest.fixture(scope="module")
def tiny_model():
    """The tiny GPT-2, loaded for every model name (the CLI's load and the run's reload)."""
    from tests.helpers.tiny_models import tiny_gpt2

    model = tiny_gpt2()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runs_finding, "load_model", lambda *args, **kwargs: model)
        patch.setattr(runs_run, "load_model", lambda *args, **kwargs: model)
        yield model


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    return _toy_csv(tmp_path_factory.mktemp("data") / "train.csv")


@pytest.fixture(scope="module")
def cli_run(tiny_model, train_file, tmp_path_factory):
    """A tuned (head only) run of the tiny model made by the command line."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert cli.main(["find", "--train-file", str(train_file), *TINY, *TUNED, "--out", str(out)]) == 0
    return out


def _without_times_and_paths(summary):
    summary = json.loads(json.dumps(summary))
    summary.pop("seconds")
    summary["arguments"].pop("out")
    for history in summary.get("tuning", {}).get("history", []):
        for evaluation in history:
            evaluation.pop("seconds")
            evaluation.pop("train_seconds")
    return summary


# ---- snl.find is the command line ----------------------------------------------------------------
def test_snl_find_writes_what_the_command_line_writes(cli_run, tiny_model, train_file, tmp_path):
    config = FindConfig(
        model="tiny", train_file=str(train_file), n=0, fraction=0.05, max_length=16, quiet=True,
        no_report=True, tune="none", head="linear", steps=2, eval_every=1, out=str(tmp_path / "lib"),
    )
    run = snl.find(config, model=tiny_model)
    assert isinstance(run, snl.Run) and run.path == tmp_path / "lib"
    made_by_cli = load_file(str(cli_run / PREDICTIVITY_TENSORS))
    made_by_library = load_file(str(run.path / PREDICTIVITY_TENSORS))
    assert made_by_cli.keys() == made_by_library.keys()
    for name, tensor in made_by_cli.items():
        assert torch.equal(tensor, made_by_library[name]), name
    cli_summary = json.loads((cli_run / SUMMARY_FILE).read_text())
    assert _without_times_and_paths(run.summary) == _without_times_and_paths(cli_summary)
    assert run.summary["arguments"]["out"] == str(tmp_path / "lib")
    # the saved config is the summary's arguments (dev_share resolved) with a version
    saved = json.loads((cli_run / FIND_CONFIG).read_text())
    options = {key: value for key, value in cli_summary["arguments"].items() if key != "command"}
    assert saved == {"format_version": FIND_CONFIG_VERSION, **options}
    assert saved["dev_share"] == DEFAULT_DEV_SHARE
    assert (run.path / "tuned-run0").is_dir() and not (run.path / "report.html").exists()


def test_the_summary_arguments_keep_the_command_lines_order(cli_run):
    """summary.json's bytes: "arguments" lists the options as argparse parses them (command first)."""
    parsed = vars(cli.build_parser().parse_args(["find", "--out", "x"]))
    options = [key for key in parsed if key not in ("command", "func")]
    assert [field.name for field in dataclasses.fields(FindConfig)] == options
    arguments = json.loads((cli_run / SUMMARY_FILE).read_text())["arguments"]
    assert list(arguments) == ["command", *options]


def test_the_parser_and_the_config_have_the_same_defaults():
    args = cli.build_parser().parse_args(["find", "--out", "x"])
    parsed = {key: value for key, value in vars(args).items() if key not in ("command", "func")}
    assert parsed == dataclasses.asdict(FindConfig(out="x"))


def test_find_refuses_an_existing_out_before_any_work(cli_run, tiny_model):
    config = snl.Run(cli_run).config  # the run's own options: the same out, no overwrite
    with pytest.raises(FileExistsError, match="already exists"):
        snl.find(config, model=tiny_model)


# ---- FindConfig -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"q": 1.5}, "--q: must be between 0 and 1 (exclusive), got 1.5"),
        ({"q": 0.0}, "--q: must be between 0 and 1 (exclusive), got 0"),
        ({"null_permutations": -1}, "--null-permutations: must be 0 or more, got -1"),
        ({"positions": "middle"}, "'middle' is not a position"),
        ({"positions": [0, "x"]}, "is not a position"),
        ({"readout_pooling": 1.5}, "--readout-pooling: 1.5 is not a position"),
        ({"labels": ["a", "a"]}, "'a,a' is not a label order"),
        ({"labels": ["only"]}, "is not a label order"),
        ({"dev_file": "d.csv"}, "--dev-file and --test-file need --train-file."),
        ({"test_file": "t.csv"}, "need --train-file"),
        ({"train_file": "a.csv", "dev_file": "b.csv", "dev_share": 0.3}, "cannot be used with --dev-file"),
        ({"dev_share": 1.5}, "--dev-share must be between 0 and 1, got 1.5"),
        ({"tune": "lora"}, "--tune must be one of frozen, prompt, bitfit, adapter, none, got 'lora'"),
        ({"fdr_method": "bonferroni"}, "--fdr-method must be one of bh, by, holm"),
        ({"balance": True}, "--balance must be one of auto, on, off"),
        ({"layers": []}, "--layers must list layer numbers"),
        ({"quiet": True, "verbose": True}, "--quiet and --verbose exclude each other"),
        ({"text_column": "sentence"}, "--text-column and --label-column name columns of --train-file"),
        ({"label_column": "gold"}, "give --train-file or drop them"),
        ({"train_file": "a.tsv", "label_column": " "}, "--label-column must name a column of the data files"),
        (
            {"train_file": "a.tsv", "text_column": 3},
            "--text-column must name a column of the data files, got 3",
        ),
        ({"train_file": "a.tsv", "text_column": "y", "label_column": "y"}, "are both 'y'; they must differ"),
        ({"dtype": "int8"}, "--dtype must be one of float32, bfloat16, float16, got 'int8'"),
        ({"device_map": "everywhere"}, "Unknown device map 'everywhere'; use one of auto, balanced"),
        ({"device_map": "auto", "device": "cuda"}, "device='cuda' and device_map='auto' both place"),
    ],
)
def test_find_config_refuses_bad_options_with_the_command_lines_message(options, message):
    with pytest.raises(SkillNeuronError) as caught:
        FindConfig(out="x", **options)
    assert message in str(caught.value)


def test_the_command_line_gives_the_same_messages(capsys):
    with pytest.raises(SystemExit):
        cli.main(["find", "--q", "1.5", "--out", "x"])
    assert "argument --q: must be between 0 and 1 (exclusive), got 1.5" in capsys.readouterr().err
    assert cli.main(["find", "--test-file", "t.csv", "--out", "x"]) == 2
    assert "--dev-file and --test-file need --train-file." in capsys.readouterr().err


def test_find_config_resolves_the_dev_share_and_keeps_paths_as_strings(tmp_path):
    assert FindConfig(out="x").dev_share is None
    assert FindConfig(out="x").resolved().dev_share == DEFAULT_DEV_SHARE
    given = FindConfig(out=tmp_path, train_file=tmp_path / "a.csv", dev_file=tmp_path / "b.csv")
    assert given.resolved().dev_share is None and given.out == str(tmp_path)
    assert given.train_file == str(tmp_path / "a.csv")
    assert given.input_paths() == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    assert FindConfig(out="x", layers=(1, 2), labels=("n", "p")).layers == [1, 2]


def test_the_example_count_defaults_to_4000_frozen_and_all_data_tuned():
    assert FindConfig(out="x").n is None
    assert FindConfig(out="x").resolved().n == DEFAULT_FROZEN_EXAMPLES == 4000
    assert FindConfig(out="x", tune="prompt").resolved().n == 0
    assert FindConfig(out="x", tune="prompt", n=800).resolved().n == 800
    assert FindConfig(out="x", n=0).resolved().n == 0
    parsed = vars(cli.build_parser().parse_args(["find", "--out", "x"]))
    assert parsed["n"] is None and parsed["eval_every"] is None
    defaults = FindConfig(out="x")
    assert (parsed["steps"], parsed["lr"]) == (defaults.steps, defaults.lr) == (450, 3e-3)


def test_find_config_round_trips_through_json():
    config = FindConfig(
        model="gpt2", train_file="a.csv", labels=["neg", "pos"], layers=[2, 3], positions=[0, -1], q=0.1,
        fdr_method="holm", tune="prompt", epochs=2.5, head_lr=0.001, dev_share=0.3, out="runs/x",
    )
    data = json.loads(json.dumps(config.to_dict()))
    assert data["format_version"] == FIND_CONFIG_VERSION and data["positions"] == [0, -1]
    assert FindConfig.from_dict(data) == config
    assert FindConfig.from_dict({"format_version": 1, "out": "y"}) == FindConfig(out="y")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format_version": 1, "out": "x", "colour": "red"}, "unknown options ['colour']"),
        ({"format_version": FIND_CONFIG_VERSION + 1, "out": "x"}, "newer than this skillneuron-lens reads"),
        ({"out": "x"}, "needs an integer format_version"),
        ({"format_version": "1", "out": "x"}, "needs an integer format_version"),
        ({"format_version": 1}, "needs 'out'"),
        ([1, 2], "is a JSON object"),
        ({"format_version": 1, "out": "x", "q": 7}, "--q: must be between 0 and 1"),
    ],
)
def test_from_dict_refuses_what_it_cannot_read(data, message):
    with pytest.raises(SkillNeuronError) as caught:
        FindConfig.from_dict(data)
    assert message in str(caught.value)


def test_find_reads_a_tsv_with_named_columns(tiny_model, tmp_path):
    """SST-2's layout end to end: --text-column/--label-column, quotes kept, options saved and reloaded."""
    from tests.helpers.tiny_models import toy_texts

    texts, labels = toy_texts(60, 3)
    texts[0] = '"' + texts[0]  # an opening quote that a quoting reader would run to the end of the file
    data = tmp_path / "train.tsv"
    data.write_text(
        "idx\tsentence\tsentiment\n"
        + "".join(
            f"{k}\t{text}\t{label}\n" for k, (text, label) in enumerate(zip(texts, labels, strict=True))
        ),
        encoding="utf-8",
    )
    out = tmp_path / "run"
    arguments = [
        "find", "--train-file", str(data), "--text-column", "sentence", "--label-column", "sentiment"
    ]
    assert cli.main([*arguments, *TINY, "--out", str(out)]) == 0
    saved = json.loads((out / FIND_CONFIG).read_text())
    assert saved["text_column"] == "sentence" and saved["label_column"] == "sentiment"
    task = snl.Run(out).task()
    assert sorted(text for split in task.splits.values() for text in split.texts) == sorted(texts)
    old = {key: value for key, value in saved.items() if key not in ("text_column", "label_column")}
    assert FindConfig.from_dict(old).text_column is None and FindConfig.from_dict(old).label_column == "label"


# ---- Run ------------------------------------------------------------------------------------------
def test_a_run_opens_with_its_config_model_task_and_classifier(cli_run, tiny_model):
    run = snl.Run(cli_run)
    assert run.config == FindConfig.from_dict(json.loads((cli_run / FIND_CONFIG).read_text()))
    assert run.config.tune == "none" and run.arguments["command"] == "find"
    assert run.model() is tiny_model
    task = run.task()
    assert task.label_names == ["negative", "positive"] and len(task.dev) == run.summary["n_dev"]
    assert run.classifier(tiny_model).head_kind == "linear"
    assert run.split(task, "dev") is task.dev
    with pytest.raises(SkillNeuronError, match="has no 'validation' split"):
        run.split(task, "validation")


def test_a_run_saved_before_the_config_file_opens(cli_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(cli_run, old)
    (old / FIND_CONFIG).unlink()
    assert snl.Run(old).config == snl.Run(cli_run).config  # rebuilt from summary.json's arguments
    summary = json.loads((old / SUMMARY_FILE).read_text())
    for option in ("labels", "dev_share", "balance", "null_permutations"):  # options added later
        del summary["arguments"][option]
    (old / SUMMARY_FILE).write_text(json.dumps(summary))
    config = snl.Run(old).config
    assert config.dev_share is None and config.labels is None and config.balance == "auto"
    assert config.train_file == summary["arguments"]["train_file"]
    summary["arguments"]["q"] = 2.0  # no longer a valid option
    (old / SUMMARY_FILE).write_text(json.dumps(summary))
    with pytest.raises(SkillNeuronError, match=f"without {FIND_CONFIG}.*Convert it by writing"):
        snl.Run(old)


def test_run_refuses_what_is_not_a_run(cli_run, tmp_path):
    with pytest.raises(SkillNeuronError, match="is not a run directory \\(no summary.json\\)"):
        snl.Run(tmp_path)
    (tmp_path / SUMMARY_FILE).write_text(json.dumps({"model": "tiny"}))
    with pytest.raises(SkillNeuronError, match="does not hold the find arguments"):
        snl.Run(tmp_path)
    (tmp_path / SUMMARY_FILE).write_text("{not json")
    with pytest.raises(SkillNeuronError, match="is damaged"):
        snl.Run(tmp_path)
    (tmp_path / SUMMARY_FILE).write_text(json.dumps({"arguments": {"model": "tiny"}}))
    with pytest.raises(SkillNeuronError, match="is not a finished skillneuron-lens result"):
        snl.Run(tmp_path)
    newer = tmp_path / "newer"
    shutil.copytree(cli_run, newer)
    saved = json.loads((newer / FIND_CONFIG).read_text())
    (newer / FIND_CONFIG).write_text(json.dumps({**saved, "format_version": FIND_CONFIG_VERSION + 1}))
    with pytest.raises(SkillNeuronError, match="upgrade skillneuron-lens"):
        snl.Run(newer)
    (newer / FIND_CONFIG).write_text("{")
    with pytest.raises(SkillNeuronError, match=f"{FIND_CONFIG} is damaged"):
        snl.Run(newer)
