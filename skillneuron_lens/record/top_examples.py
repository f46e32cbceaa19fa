"""Each neuron's top-activating texts, with its activation at every token of them.

This is what a feature browser (Neuronpedia, SAEDashboard) shows for a neuron: the texts where it
fires most, ranked by the neuron's largest activation over the text's tokens, with the value at every
token. The recorder's usual reduction keeps a few slots per example; here every non-padding token is
kept for the batch at hand, and only the ``k`` best texts of each neuron survive from batch to batch,
so memory does not grow with the number of texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import TokenBatch
from skillneuron_lens.record.accumulators import check_finite
from skillneuron_lens.record.positions import _check_aligned
from skillneuron_lens.record.recorder import Recorder, RecordingConfig, recording_config

__all__ = ["ActivatingExample", "NeuronExamples", "TopExampleAccumulator", "top_activating_examples"]


@dataclass(frozen=True)
class ActivatingExample:
    """One text as a neuron sees it.

    Attributes:
        example: Index of the text in the texts given.
        token_ids: The text's tokens as the model read them (padding left out), in order.
        values: The neuron's activation at each of those tokens (float64).
    """

    example: int
    token_ids: list[int]
    values: Float[torch.Tensor, " token"]

    @property
    def max_value(self) -> float:
        """The neuron's largest activation over the text's tokens."""
        return float(self.values.max())

    @property
    def max_token_index(self) -> int:
        """The token where the largest activation is (the first one on ties)."""
        return int(self.values.argmax())


@dataclass(frozen=True)
class NeuronExamples:
    """A neuron's top-activating texts and how often it is positive over all texts searched.

    Attributes:
        layer: Model layer of the neuron.
        neuron: Its index at the hook.
        examples: Its top texts, best first.
        positive_share: Share of all non-padding tokens of all texts at which its activation is above 0.
    """

    layer: int
    neuron: int
    examples: list[ActivatingExample]
    positive_share: float


def _every_token(
    activations: Float[torch.Tensor, "batch pos neuron"], attention_mask: Int[torch.Tensor, "batch pos"]
) -> Float[torch.Tensor, "batch pos neuron"]:
    """The reduction that keeps every position (padding is left out by the accumulator), in float64."""
    _check_aligned(activations, attention_mask)
    return activations.double()


class TopExampleAccumulator:
    """Keeps, for each chosen neuron, the ``k`` texts with the largest activation at any token.

    Texts are ranked by the neuron's maximum over their non-padding tokens; ties go to the text given
    first. Feed it batch by batch: :meth:`start_batch`, then the recorder's
    :meth:`~skillneuron_lens.record.recorder.Recorder.accumulate_batch` with a reduction that keeps
    every position.

    Args:
        neurons_per_slot: For each recorder layer slot, the neuron indices to follow there.
        k: Texts kept per neuron.
    """

    def __init__(self, neurons_per_slot: Sequence[Sequence[int]], k: int) -> None:
        """Start with no texts."""
        if k < 1:
            raise SkillNeuronError(f"k (texts per neuron) must be at least 1, got {k}.")
        self.k = int(k)
        self.neurons = [torch.tensor(list(neurons), dtype=torch.long) for neurons in neurons_per_slot]
        self.scores = [torch.full((len(n), 0), -torch.inf, dtype=torch.float64) for n in self.neurons]
        self.examples = [torch.zeros(len(n), 0, dtype=torch.long) for n in self.neurons]
        self.kept: list[dict[int, tuple[list[int], torch.Tensor]]] = [{} for _ in self.neurons]
        self.positive = [torch.zeros(len(n), dtype=torch.long) for n in self.neurons]
        self.tokens = [0 for _ in self.neurons]
        self._batch: TokenBatch | None = None
        self._first = 0

    def start_batch(self, batch: TokenBatch, first_example: int) -> None:
        """Name the batch that the next :meth:`add_layer` calls belong to and its first text's index."""
        self._batch = batch
        self._first = int(first_example)

    def add_examples(self, targets: Int[torch.Tensor, "batch subtask"]) -> None:
        """Nothing to count."""
        del targets

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch pos neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Offer the batch's texts to each followed neuron of one layer; keep the ``k`` best."""
        del targets
        if self._batch is None:
            raise SkillNeuronError("TopExampleAccumulator.start_batch must be called before each batch.")
        neurons = self.neurons[layer_slot]
        if len(neurons) == 0:
            return
        if int(neurons.max()) >= values.shape[-1]:
            raise SkillNeuronError(
                f"Neuron {int(neurons.max())} is out of range 0..{values.shape[-1] - 1} at {where}."
            )
        inside = self._batch.attention_mask.bool().cpu()
        followed = values[..., neurons.to(values.device)].cpu()
        check_finite(followed[inside], where)
        self.positive[layer_slot] += (followed[inside] > 0).sum(dim=0)
        self.tokens[layer_slot] += int(inside.sum())
        maxima = followed.masked_fill(~inside[:, :, None], -torch.inf).amax(dim=1)  # [batch, followed]
        batch_examples = torch.arange(self._first, self._first + followed.shape[0])
        scores = torch.cat([self.scores[layer_slot], maxima.T], dim=1)
        examples = torch.cat([self.examples[layer_slot], batch_examples.expand(len(neurons), -1)], dim=1)
        # Kept texts come first and precede the batch, so a stable sort gives ties to the earlier text.
        order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.scores[layer_slot] = scores.gather(1, order)
        self.examples[layer_slot] = examples.gather(1, order)
        self._keep(layer_slot, followed, inside)

    def _keep(self, layer_slot: int, followed: torch.Tensor, inside: torch.Tensor) -> None:
        """Store the tokens and values of the batch's texts that some neuron keeps; forget the rest."""
        assert self._batch is not None
        wanted = set(self.examples[layer_slot].flatten().tolist())
        kept = {example: texts for example, texts in self.kept[layer_slot].items() if example in wanted}
        token_ids = self._batch.input_ids.cpu()
        for row in range(followed.shape[0]):
            if self._first + row in wanted:
                mask = inside[row]
                kept[self._first + row] = (token_ids[row][mask].tolist(), followed[row][mask])
        self.kept[layer_slot] = kept

    def examples_of(self, layer_slot: int, member: int) -> list[ActivatingExample]:
        """The kept texts of the ``member``-th followed neuron of a slot, best first."""
        found = []
        for example in self.examples[layer_slot][member].tolist():
            token_ids, values = self.kept[layer_slot][example]
            found.append(ActivatingExample(example, token_ids, values[:, member].clone()))
        return found

    def positive_share(self, layer_slot: int, member: int) -> float:
        """Share of the tokens seen at which the ``member``-th followed neuron of a slot is above 0."""
        return int(self.positive[layer_slot][member]) / max(self.tokens[layer_slot], 1)


def top_activating_examples(
    model: Any,
    texts: Sequence[str],
    neurons: Sequence[tuple[int, int]],
    *,
    k: int = 20,
    text_pairs: Sequence[str] | None = None,
    recording: RecordingConfig | None = None,
    hook: str | None = None,
) -> list[NeuronExamples]:
    """The ``k`` texts on which each neuron fires most, with its activation at each of their tokens.

    A text's score for a neuron is the neuron's largest activation over the text's tokens (padding
    never counts; special tokens such as BOS or [CLS] do); ties go to the text that comes first. One
    pass over the texts records every followed layer at once and stops after the last one.

    Args:
        model: The model.
        texts: The texts to search (e.g. a task split's).
        neurons: ``(model layer, neuron index)`` pairs to follow.
        k: Texts per neuron (fewer when there are fewer texts).
        text_pairs: Second texts for pair tasks, or ``None``.
        recording: Hook, batch size, truncation and tokenization; its ``layers`` and ``positions`` are
            not used (the layers are those of ``neurons``; every token is kept).
        hook: Shortcut for the config's hook template.

    Returns:
        One :class:`NeuronExamples` per neuron, in the order given, with up to ``k`` texts, best first.

    Raises:
        SkillNeuronError: For no texts or neurons, a ``k`` below 1, an unknown hook or layer, or a
            neuron out of range.
    """
    if not neurons:
        raise SkillNeuronError(
            "No neurons to find top-activating texts for: give at least one (layer, neuron)."
        )
    layers = sorted({int(layer) for layer, _ in neurons})
    quiet = RecordingConfig(progress=False)
    config = recording_config(recording, hook=hook, layers=layers, positions="mean", default=quiet)
    recorder = Recorder(model, config)
    slot_of = {layer: slot for slot, layer in enumerate(recorder.layers)}
    followed: list[list[int]] = [[] for _ in recorder.layers]
    member_of: list[tuple[int, int]] = []
    for layer, neuron in neurons:
        slot = slot_of[int(layer)]
        if int(neuron) not in followed[slot]:
            followed[slot].append(int(neuron))
        member_of.append((slot, followed[slot].index(int(neuron))))
    if any(neuron < 0 for slot in followed for neuron in slot):
        raise SkillNeuronError(f"Neuron indices must be non-negative, got {list(neurons)}.")
    accumulator = TopExampleAccumulator(followed, k)
    first = 0
    for batch in recorder.text_batches(texts, text_pairs, "top-activating texts"):
        accumulator.start_batch(batch, first)
        no_targets = torch.zeros_like(batch.input_ids[:, :1])
        recorder.accumulate_batch(accumulator, batch, no_targets, reduce=_every_token)
        first += batch.input_ids.shape[0]
    return [
        NeuronExamples(
            int(layer),
            int(neuron),
            accumulator.examples_of(slot, member),
            accumulator.positive_share(slot, member),
        )
        for (layer, neuron), (slot, member) in zip(neurons, member_of, strict=True)
    ]
