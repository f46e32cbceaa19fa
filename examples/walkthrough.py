# %% [markdown]
# # Walkthrough: find, plot and ablate skill neurons
#
# A notebook in plain Python (`# %%` cells: run them one by one in VS Code, PyCharm or Jupytext, or
# the whole file with `python examples/walkthrough.py OUT_DIR`). Fully offline on the packaged
# defaults: MiniLM (all-MiniLM-L6-v2, 6 x 1,536 MLP neurons) and Rotten Tomatoes review snippets.
#
# 1. prompt-tune a 16-slot soft prompt and a linear head on the frozen model (the paper's setting);
# 2. compute every neuron's predictivity at the soft-prompt slots and select the top 2% per layer
#    as skill neurons, with layer-matched random controls;
# 3. draw the figures (predictivity heatmap, per-layer distribution, skill neurons per layer,
#    position x layer, one neuron's activations against its threshold);
# 4. ablate the skill neurons and as many random ones with `snl.perturb` and compare test accuracy;
# 5. run a small perturbation curve (skill vs random vs bottom neurons) and draw it;
# 6. save the run and write its self-contained HTML report.
#
# Figures go to OUT_DIR as HTML files that share one `plotly.min.js` in the same folder, so they
# open offline; `OUT_DIR/run/report.html` embeds plotly.js and is a single file. Without OUT_DIR a
# new temporary folder is used. An existing non-empty OUT_DIR is refused, never overwritten.
#
# `SNL_EXAMPLE_QUICK=1` runs a tiny version (200 examples, 10 training steps, 32 tokens, 2 random
# controls, a curve of 2 fractions with 1 random draw each): the numbers are then noise, but every
# step runs (the test suite uses it).

# %%
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import torch

import skillneuron_lens as snl

QUICK = os.environ.get("SNL_EXAMPLE_QUICK", "").strip() not in ("", "0")
SEED = 0
N_EXAMPLES = 200 if QUICK else 2000  # train + dev + test
MAX_LENGTH = 32 if QUICK else 64  # tokens per text (the soft prompt comes on top)
PROMPT_LENGTH = 16  # soft-prompt slots (the paper's)
TRAIN = snl.TrainConfig(
    steps=10 if QUICK else 300,
    eval_every=10 if QUICK else 50,
    batch_size=16,
    lr=3e-2,
    seed=SEED,
    progress=not QUICK,
)
SKILL_FRACTION = 0.02  # top 2% of each layer (the paper)
CONTROL_DRAWS = 2 if QUICK else 5  # layer-matched random sets compared with the skill set
CURVE_FRACTIONS = (0.02, 0.1) if QUICK else (0.01, 0.02, 0.05, 0.1, 0.15, 0.2)
CURVE_DRAWS = 1 if QUICK else 3
PROGRESS = not QUICK


def output_dir() -> Path:
    """The folder to write to: ``argv[1]`` (a script) or a new temporary folder.

    Returns:
        An empty folder (created when missing).

    Raises:
        SystemExit: If the folder given exists and is not empty (nothing is written then).
    """
    in_notebook = "ipykernel" in sys.modules  # a kernel's argv holds its own arguments
    given = None if in_notebook or len(sys.argv) < 2 else sys.argv[1]
    if given is None:
        return Path(tempfile.mkdtemp(prefix="snl-walkthrough-"))
    path = Path(given)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SystemExit(
            f"walkthrough: {path} exists and is not an empty folder; nothing was written. "
            "Give a new folder (or none, for a temporary one)."
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


OUT = output_dir()
STARTED = time.perf_counter()


def elapsed() -> str:
    """Seconds since the walkthrough started, for the printed lines."""
    return f"[{time.perf_counter() - STARTED:.0f} s]"


print(f"mode: {'QUICK (tiny, numbers are noise)' if QUICK else 'full'}; writing to {OUT}")


def save(fig: go.Figure, name: str) -> go.Figure:
    """Write ``OUT/<name>.html`` (plotly.js shared in ``OUT/plotly.min.js``) and return the figure.

    In a notebook, a cell ending in ``save(...)`` also shows the figure.
    """
    fig.write_html(OUT / f"{name}.html", include_plotlyjs="directory", full_html=True)
    return fig


# %% [markdown]
# ## Model and data
# `load_model("minilm")` boots the packaged weights as a TransformerLens `TransformerBridge`;
# `load_task` splits the packaged reviews into train (baselines, training), dev (predictivity,
# early stopping) and test (every accuracy below).

# %%
model = snl.load_model("minilm")
task = snl.load_task("rotten_tomatoes", seed=SEED, n=N_EXAMPLES)
print(f"{elapsed()} {task.name}: train {len(task.train)}, dev {len(task.dev)}, test {len(task.test)}; "
      f"labels {task.label_names}")

# %% [markdown]
# ## Prompt tuning
# Only the soft prompt and the linear head are trained; the model's weights stay frozen (and
# bit-identical). The best checkpoint on dev is kept.

# %%
classifier = snl.TunedClassifier(
    model,
    snl.ClassifierConfig(
        method="prompt",
        n_classes=task.n_classes,
        prompt_length=PROMPT_LENGTH,
        max_length=MAX_LENGTH,
        batch_size=32,
        seed=SEED,
    ),
)
history = snl.train_classifier(classifier, task.train, task.dev, TRAIN)
clean_accuracy = classifier.accuracy(task.test, progress=PROGRESS)
best = max(history, key=lambda row: row["dev_accuracy"])
print(f"{elapsed()} prompt tuning: {history[-1]['step']} steps, best dev accuracy {best['dev_accuracy']:.3f} "
      f"(step {best['step']}); test accuracy {clean_accuracy:.3f}")

# %% [markdown]
# ## Predictivity at the soft-prompt slots
# For every neuron and every prompt slot: the train mean is the threshold, and the predictivity is
# `max(Acc, 1 - Acc)` of "fires above the threshold" as a label predictor on dev, maxed over slots.

# %%
result = classifier.predictivity(task.train, task.dev, recording=snl.RecordingConfig(progress=PROGRESS))
top = result.top_neurons(5)
print(f"{elapsed()} predictivity of {result.n_layers} x {result.n_neurons} neurons at "
      f"{len(result.slot_names)} prompt slots; best neurons:")
for row in top:
    print(f"  layer {row['layer']}, neuron {row['neuron']:>4}: {row['predictivity']:.3f} "
          f"(polarity {row['polarity']:+d})")

# %% [markdown]
# ## Skill neurons and layer-matched random controls

# %%
skill = snl.NeuronSet.top(result, fraction=SKILL_FRACTION)
controls = skill.random_controls(n_draws=CONTROL_DRAWS, seed=SEED)
skill_mean = float(skill.scores(result).mean())
control_means = [float(control.scores(result).mean()) for control in controls]
print(f"skill neurons: top {SKILL_FRACTION:.0%} per layer = {len(skill)} neurons "
      f"({skill.counts_per_layer().tolist()} per layer); mean predictivity {skill_mean:.3f} vs "
      f"random {', '.join(f'{value:.3f}' for value in control_means)}")

# %% [markdown]
# ## Figures
# Every figure function returns a plotly `go.Figure` and draws nothing by itself. `layout=` overrides
# anything (title, size, fonts) after the house style. Each subtitle says what was scored (model, hook,
# positions, n_train/n_dev, and `task=` when given); for a 3-class task, `subtask="pn"` or `"neu"`
# shows one subtask instead of their mean.

# %%
save(snl.predictivity_heatmap(result, task=task.name), "predictivity_heatmap")
save(snl.predictivity_heatmap(result, order="sorted", task=task.name), "predictivity_heatmap_sorted")
save(snl.layer_distribution(result, "violin", task=task.name), "layer_distribution")
save(snl.skill_counts(skill, result=result, task=task.name, layout={"height": 380}), "skill_counts")
save(snl.plot.position_layer_heatmap(result, task=task.name), "position_layer_heatmap")

# %% [markdown]
# ## One neuron: activations by class against its threshold
# The best neuron on the dev split, with the soft prompt in place. `neuron_baseline` gives its
# threshold and best slot; the activations come as `[example, slot]` and `activation_histogram`
# picks the column with `slot=`. (`snl.neuron_activations` reads a bare model; with a tuned prompt the
# recorder needs the classifier's input builder, so this cell asks `snl.Recorder` directly.)

# %%
layer, neuron = top[0]["layer"], top[0]["neuron"]
threshold, slot = snl.plot.neuron_baseline(result, layer, neuron)
every_slot = list(range(len(result.slot_names)))  # the prompt slots the result was computed at
recorder = snl.Recorder(
    model,
    snl.RecordingConfig(layers=(layer,), positions=every_slot, batch_size=32, progress=False),
    inputs=classifier.inputs("prompt"),
)
dev_texts, dev_labels = list(task.dev.texts), list(task.dev.labels)
values = recorder.activations(dev_texts, neuron=neuron, dtype=torch.float64)[0][..., 0]  # [example, slot]
above = (values[:, slot] > threshold).long()
rule_accuracy = float((above == torch.tensor(dev_labels)).double().mean())
print(f"layer {layer}, neuron {neuron} at prompt slot {slot}: threshold {threshold:.4f}; on dev, "
      f"'fires above' = '{task.label_names[1]}' is right {rule_accuracy:.3f} of the time "
      f"(predictivity {max(rule_accuracy, 1 - rule_accuracy):.3f}, stored {top[0]['predictivity']:.3f})")
save(
    snl.activation_histogram(
        (values, dev_labels), threshold, slot=slot, label_names=task.label_names, layer=layer, neuron=neuron
    ),
    "activation_histogram",
)

# %% [markdown]
# ## Ablation: skill neurons vs random neurons
# `snl.perturb` is a context manager: the hooks exist only inside the `with` block. Zeroing at every
# position (the paper perturbs all positions); `where=classifier.position_mask("prompt")` restricts
# the change to the soft-prompt slots.

# %%
ablated: dict[str, Any] = {}
with snl.perturb(model, skill, "zero"):
    ablated["skill"] = classifier.accuracy(task.test, progress=False)
ablated["random"] = []
for control in controls:
    with snl.perturb(model, control, "zero"):
        ablated["random"].append(classifier.accuracy(task.test, progress=False))
with snl.perturb(model, skill, "zero", where=classifier.position_mask("prompt")):
    ablated["skill, prompt slots only"] = classifier.accuracy(task.test, progress=False)
random_mean = sum(ablated["random"]) / len(ablated["random"])
print(f"{elapsed()} test accuracy with neurons zeroed at every position (clean {clean_accuracy:.3f}):")
print(f"  {len(skill)} skill neurons: {ablated['skill']:.3f} ({ablated['skill'] - clean_accuracy:+.3f})")
print(f"  {len(skill)} layer-matched random neurons: {random_mean:.3f} ({random_mean - clean_accuracy:+.3f}; "
      f"draws {', '.join(f'{value:.3f}' for value in ablated['random'])})")
print(f"  the skill neurons at the prompt slots only: {ablated['skill, prompt slots only']:.3f}")

# %% [markdown]
# ## Perturbation curve
# For each fraction `p` of every layer: Gaussian noise (std 0.1, the paper's) on the top-`p` skill
# neurons, on layer-matched random sets and on the `p` least predictive ("bottom") neurons, with
# bootstrap intervals and a paired sign-flip test of "skill hurts more than random".

# %%
curve = snl.perturbation_curve(
    model,
    lambda: classifier.correct(task.test, progress=False),
    result,
    fractions=CURVE_FRACTIONS,
    mode="gaussian",
    std=0.1,
    draws=CURVE_DRAWS,
    seed=SEED,
    progress=PROGRESS,
)
print(f"{elapsed()} perturbation curve (gaussian, std 0.1), test accuracy:")
print("fraction  neurons  skill  random  bottom  p (skill < random)")
for row in curve.table():
    print(f"{row['fraction']:>8.2f}  {row['neurons']!s:>7}  {row['skill']:.3f}  {row['random']:.3f}   "
          f"{row['bottom']:.3f}   {row['p_value']:.3g}")
save(snl.perturbation_curves(curve), "perturbation_curve")

# %% [markdown]
# ## Save the run and write the report
# The run folder holds the result (`predictivity.safetensors`, `cfg.json`), a `summary.json` the
# report reads, the curve (`perturbation.json`) and the tuned prompt; `snl.write_report` turns it
# into one offline `report.html` (the CLI's `skillneuron-lens report RUN` does the same).

# %%
run_dir = OUT / "run"
summary = {
    "model": "minilm",
    "task": task.name,
    "task_source": task.source,
    "label_names": list(task.label_names),
    "n_train": len(task.train),
    "n_dev": len(task.dev),
    "n_test": len(task.test),
    "readout": f"soft prompt ({PROMPT_LENGTH} slots) + linear head",
    "test_accuracy": clean_accuracy,
    "top_neurons": result.top_neurons(20),
    "skill_neurons": {
        "fraction_per_layer": SKILL_FRACTION,
        "count_per_layer": skill.counts_per_layer().tolist(),
        "mean_predictivity": skill_mean,
        "random_control_mean_predictivity": control_means,
    },
    "ablation_zero_test_accuracy": ablated,
    "quick": QUICK,
}
result.save(run_dir, extra_files={"summary.json": json.dumps(summary, indent=2)})
curve.save(run_dir / "perturbation.json")
classifier.save(run_dir / "tuned-run0")
report = snl.write_report(run_dir)
figures = sorted(path.name for path in OUT.glob("*.html"))
print(f"wrote {len(figures)} figures to {OUT}: {', '.join(figures)}")
print(f"{elapsed()} wrote the run to {run_dir} and its report to {report}")
