"""Record neuron activations through hooks, reducing each batch into accumulators on the fly.

The recorder never keeps activations: inside each hook it reduces the batch to the requested
positions (float64) and adds it to an accumulator, then drops it. The forward pass ends right after
the last recorded layer's hook (no later layers, no unembedding or MLM head) and runs without
gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

import torch
from jaxtyping import Float, Int
from tqdm.auto import tqdm

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import (
    DEFAULT_HOOK,
    ModelAdapter,
    PaddingSide,
    StopForward,
    TokenBatch,
)
from skillneuron_lens.models.sites import NeuronSite
from skillneuron_lens.record.accumulators import (
    ActivationCollector,
    TokenMeanAccumulator,
    WeightedMeanAccumulator,
)
from skillneuron_lens.record.positions import PositionsLike, PositionSpec, reduce_positions, token_sums

__all__ = [
    "InputBuilder",
    "LayerAccumulator",
    "MeanWeighting",
    "Reduction",
    "RecordingConfig",
    "Recorder",
    "recording_config",
]

MeanWeighting = Literal["token", "example"]
Reduction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(activations [batch, pos, neuron], region [batch, pos]) -> values`` for the accumulator."""


class InputBuilder(Protocol):
    """Builds model inputs for a recorder when plain tokenization is not enough (e.g. soft prompts).

    ``encode`` makes the batch; ``hooks`` are attached for that batch's forward pass before the
    recording hooks (e.g. splicing soft-prompt vectors into the embeddings); ``region`` is the mask
    of the tokens whose positions the recorder reads (content coordinates count inside it).
    """

    def encode(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> TokenBatch:
        """Encode one batch."""

    def hooks(self, batch: TokenBatch) -> list[tuple[str, Any]]:
        """Hooks to run with this batch."""

    def region(self, batch: TokenBatch) -> Int[torch.Tensor, "batch pos"]:
        """1 for the tokens positions are counted in, 0 elsewhere."""


class LayerAccumulator(Protocol):
    """What the recorder feeds: per-batch example counts and per-layer reduced activations."""

    def add_examples(self, targets: Int[torch.Tensor, "batch subtask"]) -> None:
        """Count a batch's examples."""

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations."""


@dataclass(frozen=True)
class RecordingConfig:
    """Where and how to read neurons.

    Attributes:
        hook: The neuron site (:mod:`skillneuron_lens.models.sites`): a hook-name template with a
            ``{layer}`` field, or a concrete hook name (one layer), optionally with ``[head=H]``.
            Axes after ``pos`` (e.g. heads x d_head) are flattened into the neuron axis.
        layers: Layers to record (sorted); ``None`` for all (a concrete hook's one layer).
        positions: Positions to read (see :mod:`skillneuron_lens.record.positions`).
        batch_size: Examples per forward pass.
        max_length: Truncate encodings to this many tokens.
        padding_side: ``"right"`` or ``"left"``; ``None`` (default) for the model's own (its
            tokenizer's, as ``model.to_tokens`` pads). Results do not depend on it.
        prepend_bos: Start every text with the BOS token (``True``) or without it (``False``);
            ``None`` (default) for the model's own default, so that a recorded value equals
            ``model.run_with_cache(text)`` at the same position: ``cfg.default_prepend_bos`` for
            decoders, the tokenizer's own special tokens for encoders (see
            :meth:`~skillneuron_lens.models.adapter.ModelAdapter.encode_rows`).
        progress: Show a progress bar.
    """

    hook: str = DEFAULT_HOOK
    layers: tuple[int, ...] | None = None
    positions: PositionsLike = 0
    batch_size: int = 32
    max_length: int = 128
    padding_side: PaddingSide | None = None
    prepend_bos: bool | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        """Validate numbers and normalise layers."""
        if self.batch_size < 1:
            raise SkillNeuronError(f"batch_size must be at least 1, got {self.batch_size}.")
        if self.max_length < 1:
            raise SkillNeuronError(f"max_length must be at least 1, got {self.max_length}.")
        if self.padding_side not in (None, "left", "right"):
            raise SkillNeuronError(
                f"padding_side must be 'left', 'right' or None (the model's own), got {self.padding_side!r}."
            )
        if self.prepend_bos not in (None, True, False):
            raise SkillNeuronError(
                f"prepend_bos must be True, False or None (the model's own), got {self.prepend_bos!r}."
            )
        object.__setattr__(self, "hook", NeuronSite.parse(self.hook).name)
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(sorted(int(layer) for layer in self.layers)))
        object.__setattr__(self, "positions", PositionSpec.parse(self.positions))

    @property
    def position_spec(self) -> PositionSpec:
        """The parsed positions."""
        assert isinstance(self.positions, PositionSpec)
        return self.positions

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        out = asdict(self)
        out["positions"] = self.position_spec.to_json()
        out["layers"] = None if self.layers is None else list(self.layers)
        return out


def recording_config(
    recording: RecordingConfig | None = None,
    *,
    hook: str | None = None,
    layers: Sequence[int] | None = None,
    positions: PositionsLike | None = None,
    default: RecordingConfig | None = None,
    head: int | None = None,
) -> RecordingConfig:
    """The settings a function records with: a config, with the most-typed fields as shortcuts.

    Functions that record take ``recording=RecordingConfig(...)`` and, as shortcuts, ``hook=``,
    ``layers=`` and ``positions=``; each shortcut given replaces that field of the config.

    Args:
        recording: The caller's config, or ``None`` for ``default``.
        hook: Replaces ``hook`` when given.
        layers: Replaces ``layers`` when given.
        positions: Replaces ``positions`` when given.
        default: The function's own defaults (``RecordingConfig()`` when ``None``).
        head: Keeps one head of a per-head hook: the hook becomes ``"<hook>[head=H]"``.

    Returns:
        The config to record with.

    Raises:
        SkillNeuronError: If ``recording`` is not a :class:`RecordingConfig`.
    """
    base = recording if recording is not None else (default or RecordingConfig())
    if not isinstance(base, RecordingConfig):
        raise SkillNeuronError(
            f"recording must be a RecordingConfig, got {type(base).__name__}; build one with "
            "skillneuron_lens.RecordingConfig(hook=..., layers=..., positions=..., batch_size=...)."
        )
    if head is not None:
        hook = NeuronSite.parse(base.hook if hook is None else hook, head).name
    shortcuts: dict[str, Any] = {
        "hook": hook, "layers": None if layers is None else tuple(layers), "positions": positions
    }
    given = {name: value for name, value in shortcuts.items() if value is not None}
    return replace(base, **given) if given else base


class Recorder:
    """Runs a model over examples and feeds reduced activations to an accumulator.

    The recorder's :attr:`config` is ``config`` with the model's defaults filled in (``padding_side``,
    ``prepend_bos``), so results record the values used.

    Args:
        model: Any supported TransformerLens model.
        config: What to record.
        inputs: Optional input builder (soft prompts and other tuned inputs); default: plain
            tokenization with the config's padding.
    """

    def __init__(self, model: Any, config: RecordingConfig, inputs: InputBuilder | None = None) -> None:
        """Resolve hooks and positions up front, so bad settings fail before any forward pass."""
        self.adapter = ModelAdapter(model)
        self.config = replace(
            config,
            padding_side=self.adapter.default_padding_side
            if config.padding_side is None
            else config.padding_side,
            prepend_bos=(
                self.adapter.default_prepend_bos if config.prepend_bos is None else config.prepend_bos
            ),
        )
        self.inputs = inputs
        self.site = NeuronSite.parse(config.hook)
        self.layers, self.hook_names = self.adapter.resolve_site(self.site, config.layers)

    def encode(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> TokenBatch:
        """Tokenize one batch with the configured padding (or the input builder)."""
        if self.inputs is not None:
            return self.inputs.encode(texts, text_pairs)
        return self.adapter.tokenize(
            texts,
            text_pairs,
            max_length=self.config.max_length,
            padding_side=self.config.padding_side,
            prepend_bos=self.config.prepend_bos,
        )

    def _batches(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None,
        targets: Int[torch.Tensor, "example subtask"],
        skip_batches: int = 0,
    ) -> Iterator[tuple[TokenBatch, torch.Tensor]]:
        used = (targets >= 0).any(dim=1).nonzero().flatten().tolist()
        size = self.config.batch_size
        for start in range(skip_batches * size, len(used), size):
            rows = used[start : start + size]
            pairs = None if text_pairs is None else [text_pairs[i] for i in rows]
            yield self.encode([texts[i] for i in rows], pairs), targets[rows]

    def n_batches(self, targets: Int[torch.Tensor, "example subtask"]) -> int:
        """How many forward passes :meth:`accumulate` will make."""
        used = int((targets >= 0).any(dim=1).sum())
        return -(-used // self.config.batch_size)

    def accumulate(
        self,
        accumulator: LayerAccumulator,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None,
        targets: Int[torch.Tensor, "example subtask"],
        description: str = "recording",
        *,
        skip_batches: int = 0,
        after_batch: Callable[[int], None] | None = None,
    ) -> None:
        """Stream examples through the model into ``accumulator``.

        Examples whose targets are all ``-1`` (in no subtask) are skipped without a forward pass.

        Args:
            accumulator: What receives the reduced activations.
            texts: The texts.
            text_pairs: Second texts for pair tasks, or ``None``.
            targets: Per-example targets, ``-1`` where an example is in no subtask.
            description: The progress bar's label.
            skip_batches: Batches already in ``accumulator`` (restored from a checkpoint): the pass
                starts after them, without encoding them.
            after_batch: Called with the number of batches done after each batch (e.g. to checkpoint).

        Raises:
            SkillNeuronError: If ``skip_batches`` is negative or more than the pass has.
        """
        total = self.n_batches(targets)
        if not 0 <= skip_batches <= total:
            raise SkillNeuronError(f"skip_batches must lie in 0..{total} for this pass, got {skip_batches}.")
        batches = self._batches(texts, text_pairs, targets, skip_batches)
        progress = tqdm(
            batches,
            total=total,
            initial=skip_batches,
            desc=description,
            disable=not self.config.progress,
            unit="batch",
        )
        for done, (batch, batch_targets) in enumerate(progress, start=skip_batches + 1):
            self.accumulate_batch(accumulator, batch, batch_targets.to(self.adapter.device))
            if after_batch is not None:
                after_batch(done)

    def accumulate_batch(
        self,
        accumulator: LayerAccumulator,
        batch: TokenBatch,
        targets: Int[torch.Tensor, "batch subtask"],
        reduce: Reduction | None = None,
    ) -> None:
        """Run one batch and feed every recorded layer to ``accumulator``.

        Args:
            accumulator: What receives the reduced activations.
            batch: The encoded batch.
            targets: Per-example targets (or weights) handed to the accumulator.
            reduce: How a hook's activations become the accumulator's values; default the configured
                positions (:func:`~skillneuron_lens.record.positions.reduce_positions`).
        """
        accumulator.add_examples(targets)
        spec = self.config.position_spec
        region = self.region(batch)
        fired: list[str] = []

        def make_hook(layer_slot: int, name: str) -> Any:
            def hook(activations: torch.Tensor, hook: Any) -> None:
                activations = self.site.neurons(activations, name)
                if reduce is None:
                    values = reduce_positions(activations, region, spec)
                else:
                    values = reduce(activations, region)
                accumulator.add_layer(layer_slot, values, targets, where=name)
                fired.append(name)
                if len(fired) == len(self.hook_names):
                    raise StopForward

            return hook

        hooks = [(name, make_hook(slot, name)) for slot, name in enumerate(self.hook_names)]
        self.run(batch, hooks)
        if len(fired) != len(self.hook_names):
            silent = sorted(set(self.hook_names) - set(fired))
            raise SkillNeuronError(
                f"Hook(s) {silent} never fired during the forward pass, so their neurons cannot be "
                "recorded. Choose hooks on the path of the forward pass."
            )

    def run(self, batch: TokenBatch, hooks: Sequence[tuple[str, Any]]) -> None:
        """One forward pass with the input builder's hooks (if any) followed by ``hooks``."""
        extra = [] if self.inputs is None else self.inputs.hooks(batch)
        self.adapter.run_until_stopped(batch, [*extra, *hooks])

    def region(self, batch: TokenBatch) -> Int[torch.Tensor, "batch pos"]:
        """The tokens positions count in: the attention mask, or the input builder's region."""
        return batch.attention_mask if self.inputs is None else self.inputs.region(batch)

    # ---- the common reductions ------------------------------------------------------------------
    def text_batches(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None, description: str
    ) -> Iterator[TokenBatch]:
        """Every text in order, encoded a batch at a time, with the configured progress bar.

        Raises:
            SkillNeuronError: For no texts, a bare string, or text pairs of another length.
        """
        if isinstance(texts, str) or len(texts) == 0:
            raise SkillNeuronError("texts must be a non-empty list of strings.")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise SkillNeuronError(f"{len(text_pairs)} text pairs were given for {len(texts)} texts.")
        size = self.config.batch_size
        starts = range(0, len(texts), size)
        for start in tqdm(starts, desc=description, disable=not self.config.progress, unit="batch"):
            pairs = None if text_pairs is None else list(text_pairs[start : start + size])
            yield self.encode(list(texts[start : start + size]), pairs)

    def means(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None = None, *, per: MeanWeighting = "example"
    ) -> Float[torch.Tensor, "layer neuron"]:
        """Each recorded neuron's mean activation over texts (float64, on the CPU).

        Each example contributes its value averaged over its slots; ``per="example"`` weighs every
        example the same, ``per="token"`` weighs each by its number of tokens (with ``positions="mean"``
        that is the mean over every token of every text).

        Args:
            texts: The texts.
            text_pairs: Second texts for pair tasks, or ``None``.
            per: ``"example"`` or ``"token"`` weighting.

        Returns:
            ``[layer, neuron]`` with rows in the order of :attr:`layers`.

        Raises:
            SkillNeuronError: For an unknown ``per``, or ``per="token"`` without ``positions="mean"``.
        """
        if per not in ("token", "example"):
            raise SkillNeuronError(f"per must be 'token' or 'example', got {per!r}.")
        if per == "token" and self.config.position_spec.pooling != "mean":
            raise SkillNeuronError(
                f"per='token' averages over every token, which needs positions='mean'; got "
                f"{self.config.position_spec.to_json()!r}. Record with positions='mean', or use "
                "per='example' to average the chosen positions over examples."
            )
        if per == "token":
            by_token = TokenMeanAccumulator(len(self.layers))
            for batch in self.text_batches(texts, text_pairs, "neuron means"):
                counts = self.region(batch).sum(dim=1)[:, None].long()
                self.accumulate_batch(by_token, batch, counts, reduce=token_sums)
            return by_token.means()
        by_example = WeightedMeanAccumulator(len(self.layers))
        for batch in self.text_batches(texts, text_pairs, "neuron means"):
            self.accumulate_batch(by_example, batch, torch.ones_like(batch.input_ids[:, :1]))
        return by_example.means()

    def activations(
        self,
        texts: Sequence[str],
        text_pairs: Sequence[str] | None = None,
        *,
        neuron: int | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> list[Float[torch.Tensor, "example slot neuron"]]:
        """Every example's reduced activations, one tensor per recorded layer (on the CPU).

        This keeps a value per example, slot and neuron: size the texts accordingly, or keep one
        ``neuron`` only.

        Args:
            texts: The texts.
            text_pairs: Second texts for pair tasks, or ``None``.
            neuron: Keep only this neuron (its axis then has size 1); ``None`` keeps all.
            dtype: The stored dtype.

        Returns:
            ``[example, slot, neuron]`` per layer, in the order of :attr:`layers`.
        """
        collector = ActivationCollector(len(self.layers), neuron=neuron, dtype=dtype)
        for batch in self.text_batches(texts, text_pairs, "activations"):
            self.accumulate_batch(collector, batch, torch.zeros_like(batch.input_ids[:, :1]))
        return collector.per_layer()

    def pool(
        self, texts: Sequence[str], text_pairs: Sequence[str] | None = None
    ) -> Float[torch.Tensor, "sample layer neuron"]:
        """Every example's reduced activations as one float32 pool (one sample per example and slot).

        Returns:
            ``[sample, layer, neuron]`` with samples ordered by example, then slot.

        Raises:
            SkillNeuronError: If the recorded layers differ in width.
        """
        per_layer = self.activations(texts, text_pairs)
        rows = [values.reshape(-1, values.shape[-1]) for values in per_layer]
        if len({tuple(row.shape) for row in rows}) != 1:
            raise SkillNeuronError(
                "The layers have different widths (an already pruned model?); read them one layer at a "
                "time with layers=[l]."
            )
        return torch.stack(rows, dim=1)
