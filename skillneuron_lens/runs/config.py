"""The options of a ``find`` run as one validated, versioned object: :class:`FindConfig`.

A :class:`FindConfig` holds every option of ``skillneuron-lens find`` under the same name (dashes become
underscores) and with the same default. It checks itself when made, with the messages the command line
gives, and is saved beside the run as JSON (:data:`~skillneuron_lens.files.FIND_CONFIG`) with a format
version, so a run can be reopened, repeated or changed from Python::

    config = snl.FindConfig(model="minilm", task="rotten_tomatoes", out="runs/rt")
    run = snl.find(config)
    again = snl.find(dataclasses.replace(run.config, seed=1, out="runs/rt-seed1"))
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import DEFAULT_HOOK
from skillneuron_lens.models.backends import DTYPES, resolve_device_map
from skillneuron_lens.neurons.sets import checked_count
from skillneuron_lens.notebook import HtmlTable, html_repr, text_repr
from skillneuron_lens.predictivity.compute import DEFAULT_PERMUTATIONS
from skillneuron_lens.record.checkpoints import DEFAULT_CHECKPOINT_EVERY
from skillneuron_lens.stats.significance import FDR_METHODS
from skillneuron_lens.tasks.catalog import load_task
from skillneuron_lens.tasks.readers import task_from_files
from skillneuron_lens.tasks.streaming import stream_task_from_files
from skillneuron_lens.tasks.task import DEFAULT_DEV_FRACTION, Task

__all__ = [
    "BALANCE_CHOICES",
    "DEFAULT_DEV_SHARE",
    "DEFAULT_FROZEN_EXAMPLES",
    "FIND_CONFIG_VERSION",
    "HEAD_CHOICES",
    "NAMED_POSITIONS",
    "POOLING_CHOICES",
    "READOUT_CHOICES",
    "TUNE_CHOICES",
    "FindConfig",
    "check_fractions",
    "label_order_problem",
    "non_negative_problem",
    "positions_problem",
    "probability_problem",
]

FIND_CONFIG_VERSION = 1
"""The format version of a saved :class:`FindConfig` (``find_config.json``)."""
DEFAULT_DEV_SHARE = 0.5
"""``find``'s share of train + dev that becomes dev: enough dev examples for significant skill neurons."""
DEFAULT_FROZEN_EXAMPLES = 4000
"""``find``'s example count on the frozen model (``--n-examples``); a tuned run uses all the data."""
NAMED_POSITIONS = ("auto", "last", "mean", "max")
"""The positions given by name (``--positions`` also takes an int or a list of ints)."""
BALANCE_CHOICES = ("auto", "on", "off")
TUNE_CHOICES = ("frozen", "prompt", "bitfit", "adapter", "none")
HEAD_CHOICES = ("auto", "linear", "verbalizer")
POOLING_CHOICES = ("auto", "read", "mean")
READOUT_CHOICES = ("linear", "verbalizer", "none")
_CHOICES: dict[str, Sequence[str]] = {
    "fdr_method": tuple(FDR_METHODS),
    "balance": BALANCE_CHOICES,
    "tune": TUNE_CHOICES,
    "dtype": tuple(DTYPES),
    "head": HEAD_CHOICES,
    "pooling": POOLING_CHOICES,
    "readout": READOUT_CHOICES,
}
_PATHS = ("train_file", "dev_file", "test_file", "out")
_ALWAYS_SHOWN = ("model", "task", "out")
"""The options a config's repr names even at their defaults."""


# ---- the rules, one definition each (the command line's argument types use them too) ---------------
def probability_problem(value: float) -> str | None:
    """Why ``value`` is not a probability strictly between 0 and 1, or None when it is one."""
    if not 0.0 < value < 1.0:
        return f"must be between 0 and 1 (exclusive), got {value:g}"
    return None


def non_negative_problem(value: int) -> str | None:
    """Why ``value`` is not 0 or more, or None when it is."""
    return f"must be 0 or more, got {value}" if value < 0 else None


def positions_problem(value: Any) -> str | None:
    """Why ``value`` is not a position spec (an int, a list of ints or a name), or None when it is one."""
    if isinstance(value, str) and value in NAMED_POSITIONS:
        return None
    if _is_int(value) or (isinstance(value, list) and value and all(_is_int(item) for item in value)):
        return None
    return f"{value!r} is not a position: use an int, a comma list of ints, last, mean, max or auto"


def label_order_problem(names: Sequence[str]) -> str | None:
    """Why ``names`` is not a label order (two or more distinct, non-empty names), or None."""
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        return (
            f"{','.join(names)!r} is not a label order: give two or more distinct names, e.g. "
            "negative,positive"
        )
    return None


def check_fractions(fractions: Sequence[float], n_neurons: int, option: str) -> None:
    """Refuse, before any work, fractions that select no neuron of an ``n_neurons``-wide layer.

    Raises:
        SkillNeuronError: For a fraction outside ``(0, 1]`` or one that selects no neuron.
    """
    for fraction in fractions:
        checked_count(fraction, n_neurons, option)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _option(name: str) -> str:
    """How the command line spells field ``name``."""
    return "--" + name.replace("_", "-")


# ---- the config -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True, repr=False)
class FindConfig:
    """Every option of ``skillneuron-lens find``, checked when made.

    The fields are the command's options with dashes as underscores (``--train-file`` is
    ``train_file``) and the same defaults; ``out`` (the run directory) is required. ``--help`` of the
    command describes each one. Paths are kept as strings.

    Raises:
        SkillNeuronError: For a value the command line would refuse, with the same message.
    """

    # model and data
    model: str = "minilm"
    task: str = "rotten_tomatoes"
    train_file: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    stream: bool = False
    text_column: str | None = None
    label_column: str = "label"
    labels: list[str] | None = None
    n: int | None = None
    dev_share: float | None = None
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    device_map: str | None = None
    # neurons
    hook: str = DEFAULT_HOOK
    layers: list[int] | None = None
    positions: int | str | list[int] = "auto"
    fraction: float = 0.02
    top: int = 20
    q: float = 0.05
    fdr_method: str = "bh"
    histograms: bool = False
    null_permutations: int = DEFAULT_PERMUTATIONS
    balance: str = "auto"
    # tuning
    tune: str = "frozen"
    prompt_length: int = 16
    head: str = "auto"
    pooling: str = "auto"
    steps: int = 450
    epochs: float | None = None
    lr: float = 3e-3
    train_batch_size: int = 16
    eval_every: int | None = None
    patience: int = 4
    bf16: bool = False
    head_lr: float | None = None
    input_control: bool = False
    runs: int = 1
    # read-out and run
    readout: str = "linear"
    readout_pooling: int | str | list[int] = "auto"
    template: str = "Review: {text}\nSentiment:"
    label_words: str = "negative,positive"
    batch_size: int = 32
    max_length: int = 64
    out: str
    overwrite: bool = False
    resume: bool = False
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY
    no_report: bool = False
    quiet: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        """Keep paths as strings and lists as lists; refuse what ``find`` would refuse."""
        for name in _PATHS:
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, name, os.fspath(value))
        for name in ("labels", "layers"):
            value = getattr(self, name)
            if isinstance(value, tuple):
                object.__setattr__(self, name, list(value))
        self._check_values()
        self._check_data_options()
        if self.quiet and self.verbose:
            raise SkillNeuronError("--quiet and --verbose exclude each other; choose one.")
        if self.resume and self.tuned:
            raise SkillNeuronError(
                f"--resume continues the checkpointed passes of a frozen-model run; --tune {self.tune} "
                "trains classifiers, which are not checkpointed. Run it again without --resume "
                "(with --overwrite to discard its partial run)."
            )

    def _check_values(self) -> None:
        """Values each option takes on its own (what the command line's argument types check)."""
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise SkillNeuronError(
                    f"{_option(name)} must be one of {', '.join(choices)}, got {getattr(self, name)!r}."
                )
        problems = {
            "q": probability_problem(self.q),
            "null_permutations": non_negative_problem(self.null_permutations),
            "checkpoint_every": non_negative_problem(self.checkpoint_every),
            "positions": positions_problem(self.positions),
            "readout_pooling": positions_problem(self.readout_pooling),
            "labels": None if self.labels is None else label_order_problem(self.labels),
        }
        for name, problem in problems.items():
            if problem is not None:
                raise SkillNeuronError(f"{_option(name)}: {problem}.")
        if self.device_map is not None:  # the backend is checked when the model loads
            resolve_device_map(self.device_map, "bridge", self.device)
        if self.layers is not None and not (self.layers and all(_is_int(layer) for layer in self.layers)):
            raise SkillNeuronError(
                f"--layers must list layer numbers (e.g. [2, 3, 4, 5]), got {self.layers!r}."
            )

    def _check_data_options(self) -> None:
        """The data options that exclude or need each other."""
        if (self.dev_file or self.test_file) and not self.train_file:
            raise SkillNeuronError("--dev-file and --test-file need --train-file.")
        if self.stream and not self.train_file:
            raise SkillNeuronError(
                "--stream reads --train-file (and --dev-file, --test-file) a line at a time; give "
                "--train-file (a named --task is loaded in memory)."
            )
        if self.stream and self.tune != "frozen":
            raise SkillNeuronError(
                f"--stream reads the data in file order, but --tune {self.tune} trains on batches drawn at "
                "random (each would read the file again); use --tune frozen with --stream, or load the data "
                "in memory."
            )
        columns = {"text_column": self.text_column, "label_column": self.label_column}
        for name, column in columns.items():
            if (column is not None or name == "label_column") and not (
                isinstance(column, str) and column.strip()
            ):
                raise SkillNeuronError(
                    f"{_option(name)} must name a column of the data files, got {column!r}."
                )
        if not self.train_file and (self.text_column is not None or self.label_column != "label"):
            raise SkillNeuronError(
                "--text-column and --label-column name columns of --train-file (a named --task has its "
                "own columns); give --train-file or drop them."
            )
        if self.text_column is not None and self.text_column == self.label_column:
            raise SkillNeuronError(
                f"--text-column and --label-column are both {self.text_column!r}; they must differ."
            )
        if self.dev_share is not None and self.dev_file:
            raise SkillNeuronError("--dev-share re-splits train and dev; it cannot be used with --dev-file.")
        if self.dev_share is not None and not 0.0 < self.dev_share < 1.0:
            raise SkillNeuronError(f"--dev-share must be between 0 and 1, got {self.dev_share}.")

    # ---- derived values -------------------------------------------------------------------------
    def resolved(self) -> FindConfig:
        """The config ``find`` runs, its automatic defaults filled in.

        ``dev_share`` is :data:`DEFAULT_DEV_SHARE` unless a dev file is given; ``n`` is
        :data:`DEFAULT_FROZEN_EXAMPLES` on the frozen model and 0 (all the data) for a tuned run.
        """
        config = self
        if config.dev_share is None and not config.dev_file:
            config = dataclasses.replace(config, dev_share=DEFAULT_DEV_SHARE)
        if config.n is None:
            config = dataclasses.replace(config, n=0 if config.tuned else DEFAULT_FROZEN_EXAMPLES)
        return config

    @property
    def balance_flag(self) -> bool | None:
        """``balance`` as :func:`~skillneuron_lens.predictivity.compute_predictivity` takes it."""
        return {"auto": None, "on": True, "off": False}[self.balance]

    @property
    def tuned(self) -> bool:
        """Whether the run tunes a classifier (every ``tune`` but ``frozen``)."""
        return self.tune != "frozen"

    def input_paths(self) -> list[str]:
        """The paths the run reads (its data files and a local model folder): never replaced by a write."""
        files = [self.train_file, self.dev_file, self.test_file]
        local_model = [self.model] if self.model and Path(self.model).expanduser().exists() else []
        return [file for file in files if file] + local_model

    def load_task(self) -> Task:
        """The task the data options name (files or a named task), re-split by ``dev_share`` if set.

        With ``stream``, the files are read a line at a time (a
        :class:`~skillneuron_lens.tasks.streaming.StreamedTask`), and ``dev_share`` is the dev fraction of
        their hash split rule instead of a re-split.

        Raises:
            SkillNeuronError: For unreadable data, or ``labels`` that contradict a named task.
        """
        n_examples = self.resolved().n
        if self.train_file and self.stream:
            dev_fraction = DEFAULT_DEV_FRACTION if self.dev_share is None else self.dev_share
            streamed = stream_task_from_files(
                self.train_file, self.dev_file, self.test_file, text_column=self.text_column,
                label_column=self.label_column, label_names=self.labels, seed=self.seed,
                dev_fraction=dev_fraction,
            )
            return streamed.subsample(n_examples, seed=self.seed) if n_examples else streamed
        if self.train_file:
            task = task_from_files(
                self.train_file,
                self.dev_file,
                self.test_file,
                text_column=self.text_column,
                label_column=self.label_column,
                label_names=self.labels,
                seed=self.seed,
            )
            task = task.subsample(n_examples, seed=self.seed) if n_examples else task
        else:
            task = load_task(self.task, seed=self.seed, n=n_examples or None)
            if self.labels is not None and list(self.labels) != task.label_names:
                raise SkillNeuronError(
                    f"--labels {','.join(self.labels)} does not match task {task.name!r}, whose labels are "
                    f"{','.join(task.label_names)} (a named task fixes its labels); drop --labels."
                )
        return task if self.dev_share is None else task.with_dev_share(self.dev_share, seed=self.seed)

    # ---- display ---------------------------------------------------------------------------------
    def changed_options(self) -> dict[str, Any]:
        """The options that differ from their defaults (and ``out``, which has none), in the option order."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.default is dataclasses.MISSING or getattr(self, field.name) != field.default
        }

    def __repr__(self) -> str:
        """``FindConfig(model=..., task=..., out=..., <changed options>)``: evaluates to an equal config."""
        shown = {name: getattr(self, name) for name in _ALWAYS_SHOWN} | self.changed_options()
        return text_repr(type(self).__name__, list(shown.items()))

    def _repr_html_(self) -> str:
        """A notebook table: the options changed from their defaults, then every option with its default."""
        every = []
        for field in dataclasses.fields(self):
            default = "" if field.default is dataclasses.MISSING else repr(field.default)
            every.append([field.name, repr(getattr(self, field.name)), default])
        changed = [(name, repr(value)) for name, value in self.changed_options().items()]
        table = HtmlTable(["option", "value", "default"], every, "every option")
        return html_repr(type(self).__name__, changed, [table])

    # ---- saving and loading ----------------------------------------------------------------------
    def arguments(self) -> dict[str, Any]:
        """The options as ``summary.json`` records them under ``"arguments"`` (with ``"command"``)."""
        return {"command": "find", **self._fields()}

    def namespace(self) -> argparse.Namespace:
        """The options as the ``find``-style argument namespace the data-provenance helpers read."""
        return argparse.Namespace(**self._fields())

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON-friendly data, with its ``format_version``."""
        return {"format_version": FIND_CONFIG_VERSION, **self._fields()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FindConfig:
        """The config :meth:`to_dict` gave (options it leaves out take their defaults).

        Raises:
            SkillNeuronError: For data that is not a dict, has no or a newer ``format_version``, holds
                unknown keys or lacks ``out``.
        """
        if not isinstance(data, Mapping):
            raise SkillNeuronError(f"A find config is a JSON object, got {type(data).__name__}.")
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SkillNeuronError(
                "A find config needs an integer format_version "
                f"(1 to {FIND_CONFIG_VERSION}), got {version!r}."
            )
        if version > FIND_CONFIG_VERSION:
            raise SkillNeuronError(
                f"This find config has format version {version}, newer than this skillneuron-lens reads "
                f"({FIND_CONFIG_VERSION}): upgrade skillneuron-lens to open it."
            )
        options = {key: value for key, value in data.items() if key != "format_version"}
        unknown = sorted(set(options) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise SkillNeuronError(
                f"A find config has unknown options {unknown}: it was not written by this version of "
                "skillneuron-lens (or was edited); remove them."
            )
        if "out" not in options:
            raise SkillNeuronError("A find config needs 'out', the run directory.")
        return cls(**options)

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> FindConfig:
        """The config of a run saved before ``find_config.json``, from its summary's ``"arguments"``.

        Options the run's version did not have take their defaults; entries that are no options
        (``command``) are dropped.

        Raises:
            SkillNeuronError: If the saved arguments are not valid options today.
        """
        names = {field.name for field in dataclasses.fields(cls)}
        options = {key: value for key, value in arguments.items() if key in names}
        options.setdefault("out", "")
        return cls(**options)

    def _fields(self) -> dict[str, Any]:
        """Every option by name, in the command line's order (lists copied: the config stays as it is)."""
        return dataclasses.asdict(self)
