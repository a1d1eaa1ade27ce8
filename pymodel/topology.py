"""The network's topology, once: which layer reads what, and what happens behind it.

One time step runs the encoder and then, per block, the four layers of :data:`BLOCK`; after
the last frame the head runs once. Each entry says where the layer's input comes from, which
neuron group produced that input (its spike levels bound the factors), what the
post-processing does with the accumulators, and which neuron group takes the result. The
golden model (:func:`pymodel.golden.network.run`), the PyTorch forward
(:mod:`pymodel.model`), the model file's shapes and widths (:mod:`pymodel.modelfile`) and the
RTL's layer program (:func:`hw.program.compile_program`) all walk :func:`layers`.

A new layer kind, or another order inside a block, is a change to this table (and, for a new
``Source`` or ``Post``, to the interpreters that give it meaning).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .golden import contract
from .model_config import ModelConfig

__all__ = ["Source", "Post", "LayerKind", "Layer", "ENCODER", "BLOCK", "HEAD", "GROUP_SIZES",
           "layers", "step_layers", "layer", "groups", "group_kind", "group_size",
           "channel_heads", "leak_shifts", "factor_max"]


class Source(enum.Enum):
    """Where a layer's input vector comes from."""

    FEATURES = "features"     # the encoder window: K frames of uint8 features
    SPIKES = "spikes"         # the spikes the previous layer's neurons wrote
    ATTENTION = "attention"   # their K half, gated per head by their Q half (QKFormer)
    COUNTS = "counts"         # the head's spike counts over the utterance


class Post(enum.Enum):
    """What happens to a layer's accumulators."""

    RESIDUAL_REPLACE = "residual_replace"   # r = sat(rescale(acc)); spikes = N(r)
    NEURON = "neuron"                       # spikes = N(acc)
    RESIDUAL_ADD = "residual_add"           # r = sat(r + rescale(acc)); spikes = N(r)
    LOGITS = "logits"                       # the accumulators are the logits


#: Neuron group kind -> its size from (channels C, hidden E).
GROUP_SIZES: dict[str, Callable[[int, int], int]] = {
    "attn_in": lambda c, e: c, "qk": lambda c, e: 2 * c, "mlp_in": lambda c, e: c,
    "hidden": lambda c, e: e, "head": lambda c, e: c,
}


@dataclass(frozen=True)
class LayerKind:
    """One row of the table.

    ``input_group`` / ``output_group`` are group kinds within the layer's block; the output
    ``"next"`` is the next block's ``attn_in`` (the head's group after the last block).
    ``ends_block``: the residual here is the block's output (calibration reads its range).
    """

    kind: str
    source: Source
    input_group: Optional[str]
    post: Post
    output_group: Optional[str]
    shape: Callable[[ModelConfig], tuple[int, int]]
    ends_block: bool = False


ENCODER = LayerKind("enc", Source.FEATURES, None, Post.RESIDUAL_REPLACE, "attn_in",
                    lambda cfg: (cfg.kernel * cfg.n_mels, cfg.channels), ends_block=True)
BLOCK = (
    LayerKind("qk", Source.SPIKES, "attn_in", Post.NEURON, "qk",
              lambda cfg: (cfg.channels, 2 * cfg.channels)),
    LayerKind("o", Source.ATTENTION, "qk", Post.RESIDUAL_ADD, "mlp_in",
              lambda cfg: (cfg.channels, cfg.channels)),
    LayerKind("fc1", Source.SPIKES, "mlp_in", Post.NEURON, "hidden",
              lambda cfg: (cfg.channels, cfg.hidden)),
    LayerKind("fc2", Source.SPIKES, "hidden", Post.RESIDUAL_ADD, "next",
              lambda cfg: (cfg.hidden, cfg.channels), ends_block=True),
)
HEAD = LayerKind("head", Source.COUNTS, "head", Post.LOGITS, None,
                 lambda cfg: (cfg.channels, len(cfg.classes)))


@dataclass(frozen=True)
class Layer:
    """A layer of a concrete network: names resolved, shape known."""

    name: str
    kind: LayerKind
    input_group: Optional[str]     # e.g. "b0_attn_in"; None for features
    output_group: Optional[str]    # e.g. "b0_qk"; None for the head
    c_in: int
    c_out: int

    @property
    def source(self) -> Source:
        return self.kind.source

    @property
    def post(self) -> Post:
        return self.kind.post

    @property
    def residual(self) -> bool:
        """The layer writes the residual stream (and so carries a rescale shift)."""
        return self.post in (Post.RESIDUAL_REPLACE, Post.RESIDUAL_ADD)

    @property
    def counts_spikes(self) -> bool:
        """Its neurons' spikes are the head's, counted over the utterance."""
        return self.output_group == "head"


def _group(block: int, kind: Optional[str], blocks: int) -> Optional[str]:
    if kind is None:
        return None
    if kind == "next":
        return f"b{block + 1}_attn_in" if block + 1 < blocks else "head"
    return kind if kind == "head" else f"b{block}_{kind}"


def layers(config: ModelConfig) -> list[Layer]:
    """Every layer in execution order: a time step's layers, then the head."""
    out = [Layer("enc", ENCODER, None, _group(0, ENCODER.output_group, config.blocks),
                 *ENCODER.shape(config))]
    for block in range(config.blocks):
        out += [Layer(f"b{block}_{kind.kind}", kind,
                      _group(block, kind.input_group, config.blocks),
                      _group(block, kind.output_group, config.blocks), *kind.shape(config))
                for kind in BLOCK]
    return out + [Layer("head", HEAD, "head", None, *HEAD.shape(config))]


def step_layers(config: ModelConfig) -> list[Layer]:
    """The layers of one time step (the head runs once, after the last frame)."""
    return layers(config)[:-1]


def layer(config: ModelConfig, name: str) -> Layer:
    for candidate in layers(config):
        if candidate.name == name:
            return candidate
    raise KeyError(f"no layer {name!r}")


def groups(config: ModelConfig) -> list[str]:
    """Neuron groups in execution order within a time step (each layer's output group)."""
    return [lay.output_group for lay in layers(config) if lay.output_group is not None]


def group_kind(group: str) -> str:
    """``b1_qk`` -> ``qk``: the key of ``ModelConfig.neurons``."""
    return group if group == "head" else group.split("_", 1)[1]


def group_size(config: ModelConfig, group: str) -> int:
    return GROUP_SIZES[group_kind(group)](config.channels, config.hidden)


def channel_heads(config: ModelConfig, kind: str) -> np.ndarray:
    """The attention head of every channel of a neuron kind: the kind's channels split into
    ``heads`` equal runs, except ``qk``, whose Q half and K half each split that way (head
    ``h``'s Q and K channels share a head)."""
    size = GROUP_SIZES[kind](config.channels, config.hidden)
    half = size // 2 if kind == "qk" else size
    return (np.arange(size) % half) // (half // config.heads)


def leak_shifts(config: ModelConfig, kind: str):
    """A neuron kind's leak: ``None``, one shift for every channel, or, with per-head leak
    shifts, one per channel (:class:`pymodel.golden.neuron.NeuronParams`' ``leak_shift``)."""
    n = config.neurons[kind]
    if not n.head_leak_shifts:
        return n.leak_shift
    return tuple(int(n.head_leak_shifts[h]) for h in channel_heads(config, kind))


def factor_max(config: ModelConfig, lay: Layer) -> int:
    """The largest input factor of a layer: a feature, a spike count, or a spike level."""
    if lay.source is Source.FEATURES:
        return contract.FEATURE_MAX
    if lay.source is Source.COUNTS:
        return contract.COUNT_MAX
    return config.neurons[group_kind(lay.input_group)].levels
