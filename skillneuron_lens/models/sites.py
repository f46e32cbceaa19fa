"""Neuron sites: which hook's activations are the neurons, and how they map onto a neuron axis.

A site is written as one string, the ``hook`` of recordings, results and neuron sets:

* a per-layer template with a ``{layer}`` field, e.g. ``blocks.{layer}.mlp.hook_post`` (the default),
  ``blocks.{layer}.attn.hook_z`` or, on a SAELens ``HookedSAETransformer`` with SAEs attached,
  ``blocks.{layer}.hook_resid_pre.hook_sae_acts_post`` (the SAE's latents);
* a concrete hook name without ``{layer}``, e.g. ``hook_embed``, ``hook_pos_embed`` or
  ``blocks.3.attn.hook_z``: one "layer", numbered by the block in its name (``3``) or ``0`` when the
  name has none;
* either of them followed by ``[head=H]`` (or built with ``head=H``): only head ``H`` of a per-head hook
  (``attn.hook_z``, ``hook_q``/``hook_k``/``hook_v``, ``hook_result``: ``[batch, pos, head, d_head]``).

The hook's activation is ``[batch, pos, ...]``; every axis after ``pos`` is flattened into one neuron
axis in C order, so on a per-head hook neuron ``n`` is head ``n // d_head``, component ``n % d_head``
(:func:`neuron_coordinates`, :func:`neuron_label`). Interventions write new values back through the
same view (:meth:`NeuronSite.write_back`), so the hook's output keeps its shape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float

from skillneuron_lens.errors import HookNotFoundError, SkillNeuronError

__all__ = ["NeuronSite", "head_coordinates", "neuron_coordinates", "neuron_label"]

_HEAD_SUFFIX = re.compile(r"^(?P<hook>.+?)\[head=(?P<head>-?\d+)\]$")
_BLOCK_NUMBER = re.compile(r"^blocks\.(\d+)\.")


@dataclass(frozen=True)
class NeuronSite:
    """A hook (template or concrete name), optionally narrowed to one attention head.

    Attributes:
        hook: The hook name or per-layer template (with ``{layer}``), without the head suffix.
        head: The one head kept on a per-head hook, or ``None`` for every value of the activation.
    """

    hook: str
    head: int | None = None

    @classmethod
    def parse(cls, site: str | NeuronSite, head: int | None = None) -> NeuronSite:
        """Read a site string such as ``blocks.{layer}.attn.hook_z[head=3]``.

        Args:
            site: The site string (or a site, returned as it is when ``head`` is ``None``).
            head: A head to keep; the same as writing ``[head=H]`` after the hook.

        Returns:
            The site.

        Raises:
            SkillNeuronError: For an empty hook, a negative head, or two different heads.
        """
        if isinstance(site, NeuronSite):
            site = site.name
        if not isinstance(site, str) or not site.strip():
            raise SkillNeuronError(f"hook must be a non-empty hook name or template, got {site!r}.")
        written_head = None
        match = _HEAD_SUFFIX.match(site)
        if match is not None:
            site, written_head = match["hook"], int(match["head"])
        if head is not None and (isinstance(head, bool) or not isinstance(head, int)):
            raise SkillNeuronError(f"head must be an int (a head index), got {head!r}.")
        if head is not None and written_head is not None and head != written_head:
            raise SkillNeuronError(
                f"The hook names head {written_head} but head={head} was given; give the head once."
            )
        chosen = written_head if head is None else head
        if chosen is not None and chosen < 0:
            raise SkillNeuronError(f"head must be 0 or more, got {chosen}.")
        if "[" in site:
            raise SkillNeuronError(
                f"Cannot read the hook {site!r}: the only suffix understood is '[head=H]', e.g. "
                "'blocks.{layer}.attn.hook_z[head=3]'."
            )
        return cls(site, chosen)

    @property
    def name(self) -> str:
        """The site string, which :meth:`parse` reads back."""
        return self.hook if self.head is None else f"{self.hook}[head={self.head}]"

    @property
    def per_layer(self) -> bool:
        """Whether the hook is a template read at every chosen layer."""
        return "{layer}" in self.hook

    @property
    def fixed_layer(self) -> int:
        """The one "layer" of a concrete hook: its block number, or 0 for hooks outside the blocks."""
        match = _BLOCK_NUMBER.match(self.hook)
        return 0 if match is None else int(match.group(1))

    def hook_names(self, layers: Sequence[int] | None, n_layers: int) -> tuple[tuple[int, ...], list[str]]:
        """The layers read and their hook names (the model's check of the names comes after).

        Args:
            layers: Layers asked for; ``None`` for every layer (or a concrete hook's one layer).
            n_layers: The model's number of blocks.

        Returns:
            ``(layers, hook_names)`` in the order given.

        Raises:
            HookNotFoundError: For no, repeated or out-of-range layers, or layers that a concrete hook
                does not have.
        """
        if not self.per_layer:
            own = self.fixed_layer
            if layers is not None and [int(layer) for layer in layers] != [own]:
                raise HookNotFoundError(
                    f"The hook {self.hook!r} names one site, read as layer {own}, but layers="
                    f"{list(layers)} was given. Leave layers out (or give [{own}]), or write the hook "
                    "as a template with '{layer}'."
                )
            return (own,), [self.hook]
        chosen = list(range(n_layers)) if layers is None else [int(layer) for layer in layers]
        if not chosen:
            raise HookNotFoundError("layers is empty: choose at least one layer.")
        if len(set(chosen)) != len(chosen):
            raise HookNotFoundError(f"layers has repeated entries: {chosen}.")
        bad = [layer for layer in chosen if not 0 <= layer < n_layers]
        if bad:
            raise HookNotFoundError(f"Layer(s) {bad} do not exist: the model has layers 0..{n_layers - 1}.")
        return tuple(chosen), [self.hook.format(layer=layer) for layer in chosen]

    # ---- the neuron view of an activation -------------------------------------------------------
    def check(self, activations: torch.Tensor, hook_name: str) -> None:
        """Check that an activation has a position axis and, with a head, a head axis holding it.

        Raises:
            SkillNeuronError: If it has fewer than three axes, or the head does not exist.
        """
        if activations.ndim < 3:
            raise SkillNeuronError(
                f"The activation at {hook_name} has shape {tuple(activations.shape)}; a neuron site needs "
                "[batch, pos, ...] (one vector per token, e.g. blocks.{layer}.mlp.hook_post)."
            )
        if self.head is None:
            return
        if activations.ndim != 4:
            raise SkillNeuronError(
                f"head={self.head} needs a per-head hook [batch, pos, head, d_head] (e.g. "
                f"blocks.{{layer}}.attn.hook_z), but {hook_name} gives shape {tuple(activations.shape)}."
            )
        if self.head >= activations.shape[2]:
            raise SkillNeuronError(
                f"head={self.head} does not exist at {hook_name}: it has {activations.shape[2]} heads "
                f"(0..{activations.shape[2] - 1})."
            )

    def neuron_shape(self, activations: torch.Tensor, hook_name: str = "the hook") -> tuple[int, ...]:
        """The axes flattened into neurons: ``(n_heads, d_head)`` on ``hook_z``, ``(d_head,)`` with a head."""
        self.check(activations, hook_name)
        trailing = tuple(int(size) for size in activations.shape[2:])
        return trailing[1:] if self.head is not None else trailing

    def neurons(
        self, activations: Float[torch.Tensor, "batch pos *site"], hook_name: str = "the hook"
    ) -> Float[torch.Tensor, "batch pos neuron"]:
        """The activation as ``[batch, pos, neuron]`` (a view when the memory layout allows).

        Raises:
            SkillNeuronError: See :meth:`check`.
        """
        self.check(activations, hook_name)
        kept = activations if self.head is None else activations[:, :, self.head]
        return kept.reshape(kept.shape[0], kept.shape[1], -1)

    def write_back(
        self,
        activations: Float[torch.Tensor, "batch pos *site"],
        values: Float[torch.Tensor, "batch pos neuron"],
    ) -> Float[torch.Tensor, "batch pos *site"]:
        """A copy of ``activations`` with the site's neurons replaced by ``values``.

        Args:
            activations: The hook's original activation.
            values: New values for every neuron of the site, as :meth:`neurons` lays them out.

        Returns:
            The new activation, in the original shape and dtype (other heads untouched).
        """
        out = activations.clone()
        target = out if self.head is None else out[:, :, self.head]
        target.copy_(values.reshape(target.shape).to(out.dtype))
        return out


def neuron_coordinates(neuron: int, shape: Sequence[int]) -> tuple[int, ...]:
    """The index of a flattened neuron along each site axis, e.g. ``(head, component)`` on ``hook_z``.

    Args:
        neuron: The neuron's index on the flattened neuron axis.
        shape: The site's neuron shape (:meth:`NeuronSite.neuron_shape`); empty or one axis is plain.

    Returns:
        One index per axis of ``shape``.

    Raises:
        SkillNeuronError: If ``neuron`` is outside the site.
    """
    size = math.prod(shape) if shape else None
    if neuron < 0 or (size is not None and neuron >= size):
        raise SkillNeuronError(f"Neuron {neuron} does not exist at a site of shape {tuple(shape)}.")
    if len(shape) <= 1:
        return (int(neuron),)
    coordinates = []
    for size_of_axis in reversed(shape):
        coordinates.append(int(neuron) % size_of_axis)
        neuron //= size_of_axis
    return tuple(reversed(coordinates))


def neuron_label(layer: int, neuron: int, shape: Sequence[int] = (), head: int | None = None) -> str:
    """A neuron's name for figures and tables: ``L3 N17``, or ``L3 H2:5`` on a per-head site.

    Args:
        layer: The model layer.
        neuron: The flattened neuron index.
        shape: The site's neuron shape; two axes are read as ``(head, d_head)``.
        head: The head of a one-head site (then ``neuron`` is its component).

    Returns:
        The label.
    """
    if head is not None:
        return f"L{layer} H{head}:{neuron}"
    if len(shape) == 2:
        head_index, component = neuron_coordinates(neuron, shape)
        return f"L{layer} H{head_index}:{component}"
    return f"L{layer} N{neuron}"


def head_coordinates(site: str, neuron_shape: Sequence[int], neuron: int) -> dict[str, int]:
    """The head and the component within it of a neuron on a per-head site, for tables.

    Args:
        site: The site string (a result's ``hook``).
        neuron_shape: The site's neuron shape (a result's ``config["neuron_shape"]``), or empty when
            unknown.
        neuron: The flattened neuron index.

    Returns:
        ``{"head": h, "head_neuron": d}`` on a per-head site (``[head=H]`` or a two-axis neuron
        shape), else an empty dict.
    """
    match = _HEAD_SUFFIX.match(site)
    if match is not None:
        return {"head": int(match["head"]), "head_neuron": int(neuron)}
    if len(neuron_shape) == 2:
        head, component = neuron_coordinates(int(neuron), neuron_shape)
        return {"head": head, "head_neuron": component}
    return {}
