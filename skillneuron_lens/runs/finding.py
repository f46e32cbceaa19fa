"""``find`` as a library call: :func:`find` does what ``skillneuron-lens find`` does, returning a Run.

Load the task and the model, fit a read-out (or tune classifiers), compute every neuron's predictivity,
select skill neurons with layer-matched random controls and their evidence, and write the run directory
(whose ``summary.json`` schema is built here).

Several processes: under ``torchrun`` (``WORLD_SIZE > 1``), :func:`torchrun_process_group` starts
``torch.distributed`` and :func:`find` then shares every predictivity pass (train, dev with its label
permutations and histograms, test) among the processes; rank 0 alone fits the read-out and writes the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import TUNED_RUN_PREFIX
from skillneuron_lens.io import check_destination
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.models.load import load_model
from skillneuron_lens.neurons.evidence import held_out_summary, significance_summary, warn_if_dev_too_small
from skillneuron_lens.neurons.majority import WARN_SHARE, scored_majority_share, warn_about_constant_neurons
from skillneuron_lens.neurons.sets import NeuronSet, fraction_to_count
from skillneuron_lens.predictivity.compute import compute_predictivity, hook_width
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.checkpoints import PassCheckpoints
from skillneuron_lens.record.recorder import RecordingConfig
from skillneuron_lens.record.sharding import process_rank
from skillneuron_lens.runs.config import FindConfig, check_fractions
from skillneuron_lens.runs.resume import check_partial_run, discard_partial_run, open_checkpoints
from skillneuron_lens.runs.run import RUN_KIND, Run
from skillneuron_lens.tasks.provenance import data_record
from skillneuron_lens.tasks.subtasks import describe_subtasks
from skillneuron_lens.tasks.task import Task
from skillneuron_lens.tuning.classifier import ClassifierConfig
from skillneuron_lens.tuning.pipeline import TunedRuns, tune_runs
from skillneuron_lens.tuning.readouts import LinearReadout, VerbalizerReadout
from skillneuron_lens.tuning.training import TrainConfig

__all__ = [
    "check_device_map_processes",
    "find",
    "process_device",
    "process_rank",  # defined in skillneuron_lens.record.sharding, kept here for old imports
    "torchrun_process_group",
]

_LOGGER = logging.getLogger("skillneuron_lens")


def find(config: FindConfig, *, model: Any = None) -> Run | None:
    """Find a task's skill neurons as ``skillneuron-lens find`` does, and save the run at ``config.out``.

    The destination and the data are checked before the model loads; everything is written in one
    atomic step at the end (see :meth:`Run.write`). Progress bars follow ``config.quiet``; nothing is
    printed (the command line prints the table).

    When ``torch.distributed`` is initialised with several processes (see :func:`torchrun_process_group`),
    every process takes its share of the examples of each predictivity pass (train, dev with its label
    permutations and histograms, test) and the accumulators are summed, which gives the one-process
    numbers; rank 0 alone fits the read-out, writes the run (with ``"distributed"`` in its summary)
    and returns it, the other processes draw no progress bars and return None once it is written.
    Tuned runs (``config.tune`` other than ``frozen``) are refused there: training is not shared.

    A frozen-model run in one process checkpoints its passes every ``config.checkpoint_every`` batches
    beside ``config.out``; ``config.resume`` continues a killed run from there, with the same numbers
    (see :mod:`skillneuron_lens.runs.resume` for the rules).

    Args:
        config: The options (``config.out`` is the run directory to create).
        model: The model ``config.model`` names, already loaded (default: load it by that name; under
            several processes ``--device cuda`` means each process's own GPU, ``cuda:LOCAL_RANK``).

    Returns:
        The run, opened from its directory (None on the processes other than rank 0).

    Raises:
        FileExistsError: ``config.out`` exists and ``config.overwrite`` is false.
        SkillNeuronError: For bad options, data or destination, or a partial run that may not be
            continued (or must be), with what to change.
    """
    started = time.perf_counter()
    rank, world_size = process_rank()
    if world_size > 1 and config.tuned:
        raise SkillNeuronError(
            f"find --tune {config.tune} cannot run in several processes yet (training is not shared "
            "among them): run it as one process, without torchrun, or use --tune frozen."
        )
    check_partial_run(config, RUN_KIND)
    check_device_map_processes(config.device_map, world_size)
    check_destination(config.out, RUN_KIND, overwrite=config.overwrite, inputs=config.input_paths())
    if rank == 0 and config.overwrite and not config.resume:
        discard_partial_run(config)
    config = config.resolved()
    if rank > 0:  # rank 0 draws the progress bars
        config = dataclasses.replace(config, quiet=True, verbose=False)
    task = config.load_task()  # cheap checks first: bad data fails before the model loads
    _announce_subtasks(task)
    data = data_record(config.namespace())
    share = scored_majority_share(list(task.dev.labels), task.n_classes, config.balance_flag)
    _warn_if_imbalanced(task, share)
    loading = time.perf_counter()
    if model is None:
        device = process_device(config.device)
        model = load_model(config.model, device=device, dtype=config.dtype, device_map=config.device_map)
    timings = {"model_load": time.perf_counter() - loading}
    check_fractions([config.fraction], hook_width(model, config.hook, config.layers), "--fraction")
    _check_max_length(config, model, task)
    checkpoints = open_checkpoints(config, task, model, data, world_size=world_size)
    test_split = task.splits.get("test")
    tuned: TunedRuns | None = None
    if config.tuned:
        positions = None if config.positions == "auto" else config.positions
        tuned = _tune(config, model, task, positions)
        result, test_accuracy = tuned.combined, tuned.mean_test_accuracy
    else:
        positions = config.positions
        if positions == "auto":
            positions = 0 if ModelAdapter(model).is_encoder else "last"
        test_accuracy = _test_accuracy(config, model, task, checkpoints) if rank == 0 else None
        recording = RecordingConfig(
            batch_size=config.batch_size, max_length=config.max_length, progress=not config.quiet
        )
        passes = time.perf_counter()
        result = compute_predictivity(
            model, task.train, task.dev, hook=config.hook, layers=config.layers, positions=positions,
            recording=recording, n_classes=task.n_classes, seed=config.seed, balance=config.balance_flag,
            test=test_split, n_permutations=config.null_permutations, histograms=config.histograms,
            distributed=world_size > 1, checkpoints=checkpoints,
        )
        timings["predictivity_passes"] = time.perf_counter() - passes
    if rank > 0:
        torch.distributed.barrier()  # until rank 0 has written the run
        return None
    too_small = warn_if_dev_too_small(result, q=config.q)
    skill_summary, significance, held_out = _evidence(result, config, tuned=tuned is not None)
    skill_summary["dev_majority_share"] = share
    skill_summary["at_majority_share"] = (
        None if share is None else warn_about_constant_neurons("find", result, share, config.fraction)
    )
    summary = {
        "model": config.model,
        "task": task.name,
        "task_source": task.source,
        "data": data,
        "label_names": list(task.label_names),
        "n_train": len(task.train),
        "n_dev": len(task.dev),
        "n_test": 0 if test_split is None else len(test_split),
        "readout": config.readout,
        "test_accuracy": test_accuracy,
        "positions": positions,
        "hook": config.hook,
        "top_neurons": result.top_neurons(min(config.top, result.n_layers * result.n_neurons)),
        "skill_neurons": skill_summary,
        "significance": significance,
        "held_out": held_out,
        "null": _null_summary(result),
        "dev_too_small": too_small,
        "seconds": round(time.perf_counter() - started, 1),
        "timings": {name: round(seconds, 3) for name, seconds in timings.items()},
        "tune": config.tune,
        "arguments": config.arguments(),
    }
    if world_size > 1:
        summary["distributed"] = {"world_size": world_size, "backend": str(torch.distributed.get_backend())}
    if tuned is not None:
        summary["tuning"] = _tuning_summary(config, tuned, task)
    classifiers = () if tuned is None else tuned.classifiers
    run = Run.write(config, result, summary, classifiers=classifiers)
    discard_partial_run(config)
    if world_size > 1:
        torch.distributed.barrier()  # the others may go now
    return run


# ---- several processes --------------------------------------------------------------------------
def _environment_number(name: str, default: int) -> int:
    """An integer that ``torchrun`` sets in the environment (``WORLD_SIZE``, ``LOCAL_RANK``)."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return int(text)
    except ValueError:
        raise SkillNeuronError(
            f"The environment variable {name}={text!r} is not an integer; torchrun sets it: start the "
            f"command with `torchrun --nproc-per-node N -m skillneuron_lens ...`, or unset {name}."
        ) from None


def check_device_map_processes(device_map: str | None, world_size: int) -> None:
    """Refuse a device map in several processes: it splits one model, torchrun starts one per process.

    Raises:
        SkillNeuronError: For a ``device_map`` with ``world_size`` above 1.
    """
    if world_size > 1 and device_map is not None:
        raise SkillNeuronError(
            f"--device-map {device_map} splits one model over the devices, and torchrun starts one model "
            "per process: use one or the other (torchrun with --device cuda puts each process on its own "
            "GPU)."
        )


def process_device(device: str) -> str:
    """The device this process loads the model on: ``cuda`` is each process's own GPU under torchrun.

    Args:
        device: The device asked for (``cpu``, ``cuda``, ``cuda:N``, ...).

    Returns:
        ``cuda:LOCAL_RANK`` for ``cuda`` in a process group of several processes, else ``device``.
    """
    rank, world_size = process_rank()
    if device == "cuda" and world_size > 1:
        return f"cuda:{_environment_number('LOCAL_RANK', rank)}"
    return device


@contextlib.contextmanager
def torchrun_process_group(device: str = "cpu") -> Iterator[int]:
    """Start ``torch.distributed`` from ``torchrun``'s environment for the block, and end it after.

    Outside ``torchrun`` (no ``WORLD_SIZE``, or 1), or when a process group is already initialised (by
    the caller, who then ends it), nothing is started. Otherwise the group uses ``gloo`` on CPU and
    ``nccl`` on CUDA devices (each process on GPU ``LOCAL_RANK``), and is destroyed when the block
    ends, also on error.

    Args:
        device: The device the model runs on (``cpu``, ``cuda`` or ``cuda:N``), which picks the backend.

    Yields:
        The number of processes (1 outside ``torchrun``).

    Raises:
        SkillNeuronError: For a CUDA device that this machine lacks, fewer GPUs than processes on it,
            or a malformed ``torchrun`` environment.
    """
    world_size = _environment_number("WORLD_SIZE", 1)
    dist = torch.distributed
    if world_size <= 1 or (dist.is_available() and dist.is_initialized()):
        yield process_rank()[1]
        return
    if not dist.is_available():
        raise SkillNeuronError("This torch build has no torch.distributed: run find as one process.")
    backend = "gloo"
    if device.startswith("cuda"):
        local_rank = _environment_number("LOCAL_RANK", 0)
        if device != "cuda":
            raise SkillNeuronError(
                f"--device {device} names one GPU for all {world_size} processes; pass --device cuda "
                "under torchrun: each process then uses its own GPU (cuda:LOCAL_RANK)."
            )
        if local_rank >= torch.cuda.device_count():
            raise SkillNeuronError(
                f"Process {local_rank} of this machine has no GPU (torch sees {torch.cuda.device_count()}): "
                "start at most one process per GPU (--nproc-per-node), or use --device cpu."
            )
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    dist.init_process_group(backend)
    try:
        yield world_size
    finally:
        dist.destroy_process_group()


def _test_accuracy(
    config: FindConfig, model: Any, task: Task, checkpoints: PassCheckpoints | None
) -> float | None:
    """The read-out's test accuracy (None without a read-out or a test split), kept with the checkpoints.

    A resumed run takes it from its checkpoint instead of fitting the read-out again.
    """
    key = "readout_test_accuracy"
    if checkpoints is not None and key in checkpoints.values:
        return checkpoints.values[key]
    readout = _readout(config, model, task)
    test_split = task.splits.get("test")
    accuracy = None if readout is None or test_split is None else readout.accuracy(test_split)
    if checkpoints is not None:
        checkpoints.keep(key, accuracy)
    return accuracy


def _readout(config: FindConfig, model: Any, task: Task) -> Any:
    """The frozen-model read-out ``config.readout`` names, fitted (None for ``none``)."""
    if config.readout == "none":
        return None
    if config.readout == "verbalizer":
        words = [word.strip() for word in config.label_words.split(",")]
        if len(words) != task.n_classes:
            raise SkillNeuronError(
                f"--label-words gives {len(words)} words for a task with {task.n_classes} classes "
                f"({', '.join(task.label_names)})."
            )
        return VerbalizerReadout(
            model, config.template, words, batch_size=config.batch_size, progress=not config.quiet
        )
    pooling: Any = config.readout_pooling
    if pooling == "auto":
        pooling = "mean" if ModelAdapter(model).is_encoder else "last"
    recording = RecordingConfig(
        batch_size=config.batch_size, max_length=config.max_length, progress=not config.quiet
    )
    readout = LinearReadout(model, pooling=pooling, recording=recording)
    return readout.fit(task.train, task.dev, n_classes=task.n_classes)


def _evidence(
    result: PredictivityResult, config: FindConfig, *, tuned: bool
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """The skill set's summary, with its significance and held-out blocks."""
    skill = NeuronSet.top(result, fraction=config.fraction)
    controls = skill.random_controls(n_draws=5, seed=config.seed)
    random_means = [float(c.scores(result).mean()) for c in controls]
    skill_summary = {
        "fraction_per_layer": config.fraction,
        "count_per_layer": skill.counts_per_layer().tolist(),
        "mean_predictivity": float(skill.scores(result).mean()),
        "random_control_mean_predictivity": random_means,
    }
    method: Any = config.fdr_method
    significance = significance_summary(result, skill, q=config.q, method=method, model_selected_on_dev=tuned)
    held_out = held_out_summary(result, skill, controls, q=config.q, method=method)
    return skill_summary, significance, held_out


def _check_max_length(config: FindConfig, model: Any, task: Task) -> None:
    """Refuse a ``max_length`` the tokenizer cannot honour or the model's context cannot hold."""
    adapter = ModelAdapter(model)
    added = {
        "soft-prompt slots": config.prompt_length if config.tune == "prompt" else 0,
        "the [MASK] slot": int(adapter.is_encoder and config.tuned and config.head == "verbalizer"),
        "the BOS token": int(not adapter.is_encoder and adapter.bos_added_here()),
    }
    adapter.check_max_length(
        config.max_length, pair=task.is_pair, reserved=sum(added.values()), option="--max-length",
        what_is_reserved=" and ".join(f"{what} ({count})" for what, count in added.items() if count),
    )


def _announce_subtasks(task: Task) -> None:
    """Log how a task with three or more classes is split into the binary subtasks that are scored."""
    if task.n_classes >= 3:
        _LOGGER.warning(
            "%d classes (%s): predictivity is scored on the binary subtasks %s",
            task.n_classes, ", ".join(f"{name}={k}" for k, name in enumerate(task.label_names)),
            describe_subtasks(task.label_names),
        )


def _warn_if_imbalanced(task: Task, share: float | None) -> None:
    """Warn before scoring when a majority side makes constant neurons look predictive."""
    if share is None or share < WARN_SHARE:
        return
    where = "of the dev examples are one class" if task.n_classes == 2 else (
        "of the dev examples are on one side of each one-vs-rest subtask, on average"
    )
    _LOGGER.warning(
        "%.0f%% %s: a neuron that is always above (or below) its baseline scores %.3f predictivity without "
        "telling the classes apart, and can rank among the skill neurons. Pass --balance on to measure "
        "predictivity on class-balanced splits.",
        100 * share, where, share,
    )


def _null_summary(result: PredictivityResult) -> dict[str, Any] | None:
    """The per-layer chance band: the 95% quantile of each layer's best score under shuffled labels."""
    maxima = result.null_layer_maxima(0.95)
    if maxima is None or result.null_run_predictivity is None:
        return None
    return {
        "n_permutations": int(result.null_run_predictivity.shape[0]),
        "level": 0.95,
        "layer_maxima": [float(value) for value in maxima],
    }


def _tune(config: FindConfig, model: Any, task: Task, positions: Any) -> TunedRuns:
    """Tune ``config.runs`` classifiers and score their neurons."""
    words = tuple(word.strip() for word in config.label_words.split(",")) if config.label_words else ()
    if config.head == "linear" or len(words) != task.n_classes:
        if config.head == "verbalizer":
            raise SkillNeuronError(
                f"--label-words gives {len(words)} words for a task with {task.n_classes} classes."
            )
        words = ()
    head: Any = config.head
    classifier = ClassifierConfig(
        method=config.tune, head=head, pooling=config.pooling, n_classes=task.n_classes,
        label_words=words, prompt_length=config.prompt_length, max_length=config.max_length,
        batch_size=config.batch_size, seed=config.seed,
    )
    training = TrainConfig(
        steps=None if config.epochs else config.steps, epochs=config.epochs or 4.0,
        lr=config.lr, head_lr=config.head_lr,
        batch_size=config.train_batch_size, eval_every=config.eval_every, patience=config.patience or None,
        bf16=config.bf16, seed=config.seed, progress=not config.quiet,
    )
    return tune_runs(
        model, task, classifier, training, runs=config.runs, positions=positions, hook=config.hook,
        layers=config.layers, balance=config.balance_flag, progress=not config.quiet,
        n_permutations=config.null_permutations,
    )


def _tuning_summary(config: FindConfig, tuned: TunedRuns, task: Task) -> dict[str, Any]:
    """The ``tuning`` block of a tuned run's summary."""
    block: dict[str, Any] = {
        "method": config.tune,
        "head": tuned.classifiers[0].head_kind,
        "runs": config.runs,
        "run_test_accuracies": tuned.test_accuracies,
        "run_best_dev_accuracies": tuned.dev_accuracies,
        "trainable_parameters": tuned.classifiers[0].parts.n_trainable(),
        "classifiers": [f"{TUNED_RUN_PREFIX}{index}" for index in range(config.runs)],
        "history": [classifier.history for classifier in tuned.classifiers],
        "run_best_predictivity": [float(r.predictivity.max()) for r in tuned.results],
        "run_top1pct_mean_predictivity": [_top_share_mean(r) for r in tuned.results],
    }
    if config.input_control:
        block["input_control"] = _input_control(config, tuned, task)
    return block


def _input_control(config: FindConfig, tuned: TunedRuns, task: Task) -> dict[str, Any]:
    """Predictivity over the input tokens (mean / max pooled) next to the prompt slots, first run."""
    classifier, prompt = tuned.classifiers[0], tuned.results[0]
    out: dict[str, Any] = {"prompt_slots": _headline(prompt)}
    for pooling in ("mean", "max"):
        result = classifier.predictivity(
            task.train, task.dev, region="input", positions=pooling, hook=config.hook, layers=config.layers,
            recording=RecordingConfig(batch_size=classifier.config.batch_size, progress=not config.quiet),
        )
        out[f"input_{pooling}"] = _headline(result)
    return out


def _headline(result: PredictivityResult) -> dict[str, float]:
    return {
        "best": float(result.predictivity.max()),
        "top1pct_mean": _top_share_mean(result),
        "mean": float(result.predictivity.mean()),
    }


def _top_share_mean(result: PredictivityResult, share: float = 0.01) -> float:
    """Mean predictivity of each layer's top ``share`` of neurons (at least one per layer)."""
    count = max(1, fraction_to_count(share, result.n_neurons))
    return float(NeuronSet.top(result, k=count).scores(result).mean())
