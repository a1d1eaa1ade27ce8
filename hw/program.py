"""The layer program: a model file compiled for a core with ``P`` lanes.

The sparse engine may be wider than the post-processor: ``E = R * P`` engine lanes, each
finished chunk of ``E`` accumulators handed on as ``R`` slices of ``P``. Weights and
biases are laid out in rows of ``E``, neuron state, thresholds and the residual stream in
rows of ``P``.

Pure Python and numpy (no Amaranth): the core's generator, the simulator harness and the
benchmarks all read the same :class:`Program`. One :class:`Descriptor` per layer; the
per-step list runs every time step (every ``stride`` frames) and the head descriptor once
per utterance, after the last frame.

Memory layouts:

* weights (rows of ``E``): layer ``l`` at ``weight_base``, chunk-major in blocks of
  ``row_stride`` rows (``C_in`` rounded up to a power of two): row
  ``weight_base + g * row_stride + i`` holds ``W[i, g*E : (g+1)*E]`` (zero past ``C_out`` and past ``C_in``). ``weight_base`` is a
  multiple of ``row_stride``, so a block's base has zeros where the input index goes and
  the walk addresses a row as ``base | index``: no adder between its priority encoder and
  the memory (the critical path of the core until it went);
* biases (rows of ``E``): row ``bias_base + g``;
* neuron state, thresholds and leak shifts (rows of ``P``): population at ``neuron_base``,
  row ``neuron_base + g`` for the ``g``-th chunk of ``P`` outputs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from qkspike.pymodel.golden import contract
from qkspike.pymodel import topology
from qkspike.pymodel.golden.network import step_layers
from qkspike.pymodel.modelfile import IntegerModel, group_names, layer_shape
from qkspike.pymodel.targets import BRAM36_BITS, largest_part, memory_bits

__all__ = ["Source", "Post", "Descriptor", "Program", "compile_program", "FitError",
           "check_design_size", "weight_rows_for"]


class FitError(ValueError):
    """The model does not fit the core's memories or widths; the message says what."""


def row_stride(c_in: int) -> int:
    """Rows of one chunk's block of a layer's weights: ``C_in`` rounded up to a power of 2."""
    return 1 << max(0, (c_in - 1).bit_length())


def weight_layout(shapes: list[tuple[int, int]], lanes: int) -> tuple[list[int], int]:
    """Each layer's ``weight_base`` (aligned to its :func:`row_stride`) and the rows of the
    whole weight memory, for layers of shape ``(C_in, C_out)`` in program order."""
    bases, row = [], 0
    for c_in, c_out in shapes:
        stride = row_stride(c_in)
        row = -(-row // stride) * stride
        bases.append(row)
        row += contract.lane_chunks(c_out, lanes) * stride
    return bases, row


def check_design_size(model: IntegerModel, lanes: int) -> None:
    """Raise :class:`FitError` before any work when ``model`` at ``lanes`` exceeds the
    largest supported part: weight memory against its block RAM, and the registers that
    hold the engine's input vector and the spike buffer against its flip-flops."""
    cfg = model.config
    # The largest part of pymodel.targets bounds what the generator builds: a model past it
    # fits no supported FPGA, and elaborating it would take minutes and gigabytes first.
    part = largest_part()
    _, rows = weight_layout([layer_shape(cfg, name) for name in model.layers], lanes)
    weight_bits = rows * lanes * contract.WEIGHT_BITS
    capacity = part.bram36 * BRAM36_BITS
    if weight_bits > capacity:
        raise FitError(f"the model needs {weight_bits:,} bits of weight memory "
                       f"({weight_bits / BRAM36_BITS:,.0f} BRAM36); the largest supported "
                       f"part, the {part.name}, has {part.bram36} ({capacity:,} bits)")
    entries = max(max(layer_shape(cfg, name)) for name in model.layers)
    registers = entries * (contract.FEATURE_BITS + contract.spike_bits(contract.MAX_LEVELS))
    if registers > part.ffs:
        raise FitError(f"the model's widest layer ({entries:,} channels) needs about "
                       f"{registers:,} flip-flops for its input and spike buffers; the largest "
                       f"supported part, the {part.name}, has {part.ffs:,}")


class Source(enum.IntEnum):
    """Where a layer's input vector comes from: the hardware codes of
    :class:`pymodel.topology.Source` (same member names)."""

    FEATURES = 0     # the encoder window: K frames of uint8 features
    SPIKES = 1       # the spike buffer the previous layer wrote
    ATTENTION = 2    # the k half of the spike buffer, gated per head by the q half
    COUNTS = 3       # the head's spike counts


class Post(enum.IntEnum):
    """What happens to a finished chunk of accumulators: the hardware codes of
    :class:`pymodel.topology.Post` (same member names)."""

    NEURON = 0            # spikes = N(acc)
    RESIDUAL_REPLACE = 1  # r = sat(rescale(acc)); spikes = N(r)
    RESIDUAL_ADD = 2      # r = sat(r + rescale(acc)); spikes = N(r)
    LOGITS = 3            # acc are the logits


@dataclass(frozen=True)
class Descriptor:
    name: str
    source: Source
    c_in: int
    c_out: int
    chunks: int                 # chunks of P outputs: the post-processor's rows
    weight_base: int
    row_stride: int             # rows per chunk: C_in rounded up to a power of two
    bias_base: int
    post: Post
    shift: int = 0
    neuron_base: int = 0
    levels: int = 1
    #: None (no leak), one k, or one per channel (the lanes read theirs from leak_rows)
    leak_shift: Optional[int] | tuple[int, ...] = None
    reset: contract.ResetMode = contract.ResetMode.SOFT
    count_spikes: bool = False  # the neuron's spikes feed the head's counts
    theta_attn: int = 1
    #: chunks of E outputs: the engine's walks (``chunks`` when E = P)
    engine_chunks: int = 0

    def __post_init__(self):
        if not self.engine_chunks:
            object.__setattr__(self, "engine_chunks", self.chunks)


@dataclass
class Program:
    lanes: int
    step: list[Descriptor]
    head: Descriptor
    weight_rows: np.ndarray       # (rows, E) int8
    bias_rows: np.ndarray         # (rows, E) int64
    threshold_rows: np.ndarray    # (rows, P) int64
    #: (rows, P) int64: each neuron's leak shift k, beside its threshold (per-head leaks
    #: make it differ between lanes; 0 in populations without leak)
    leak_rows: np.ndarray
    widths: dict[str, int]
    sizes: dict[str, int]
    #: population name -> first row, for reading state and thresholds back
    neuron_bases: dict[str, int] = field(default_factory=dict)
    #: ``E``: lanes of the sparse engine, a multiple of ``lanes`` (0: as many as ``lanes``)
    engine_lanes: int = 0

    def __post_init__(self):
        if not self.engine_lanes:
            self.engine_lanes = self.lanes

    @property
    def descriptors(self) -> list[Descriptor]:
        """Every layer in counter order: the step's layers, then the head."""
        return [*self.step, self.head]

    def chunks(self, name: str) -> int:
        return {d.name: d.chunks for d in self.descriptors}[name]

    def bound(self, events: dict[str, int]) -> dict[str, int]:
        """The sparse cycle bound per layer: ``events * ceil(C_out / E)``."""
        return {d.name: int(events[d.name]) * d.engine_chunks for d in self.descriptors}

    def memory_bits(self) -> dict:
        """On-chip memory of a core running this program: the rows of ``P`` lanes it holds,
        padding included, at the core's widths (:func:`pymodel.targets.memory_bits`)."""
        return memory_bits(weights=int(self.weight_rows.size), biases=int(self.bias_rows.size),
                           bias_bits=self.widths["bias"],
                           thresholds=int(self.threshold_rows.size),
                           threshold_bits=self.widths["threshold"],
                           state_bits=self.widths["state"],
                           residuals=self.sizes["residual_rows"] * self.lanes,
                           residual_bits=self.widths["residual"])

    def dense(self, steps: int) -> dict[str, int]:
        """Cycles of the same walk without zero-skipping: every input, every chunk."""
        return {d.name: d.c_in * d.engine_chunks * (1 if d is self.head else steps)
                for d in self.descriptors}


def weight_rows_for(matrix: np.ndarray, lanes: int) -> np.ndarray:
    """(C_in, C_out) -> chunk-major rows of ``lanes``: (chunks * row_stride, lanes), zero
    padded past ``C_out`` and past ``C_in`` within each chunk's block."""
    c_in, c_out = matrix.shape
    chunks, stride = contract.lane_chunks(c_out, lanes), row_stride(c_in)
    padded = np.zeros((stride, chunks * lanes), dtype=np.int64)
    padded[:c_in, :c_out] = matrix
    return padded.reshape(stride, chunks, lanes).transpose(1, 0, 2).reshape(chunks * stride,
                                                                            lanes)


def compile_program(model: IntegerModel, lanes: int, *,
                    weight_rows: Optional[int] = None,
                    neuron_rows: Optional[int] = None,
                    engine_lanes: Optional[int] = None) -> Program:
    """Compile ``model`` for ``lanes`` post-processing lanes and ``engine_lanes`` engine
    lanes (default: as many; a multiple of ``lanes``); ``weight_rows``/``neuron_rows`` are
    the core's memory depths (default: exactly what the model needs). Raises
    :class:`FitError` naming what does not fit."""
    for name, value in (("lanes", lanes), ("engine_lanes", engine_lanes)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 1):
            raise FitError(f"{name} must be a positive integer, not {value!r}")
    if lanes is None:
        raise FitError("lanes must be a positive integer, not None")
    engine = lanes if engine_lanes is None else engine_lanes
    if engine % lanes:
        raise FitError(f"engine lanes ({engine}) must be a multiple of the "
                       f"post-processing lanes ({lanes})")
    check_design_size(model, engine)
    cfg = model.config

    # Neuron populations: state, threshold and leak-shift rows.
    neuron_bases, threshold_chunks, leak_chunks = {}, [], []
    row = 0
    for group in group_names(cfg):
        neuron_bases[group] = row
        # Padding lanes get the largest threshold; their spikes are never read.
        theta = model.thresholds[group]
        threshold_chunks.append(contract.split_into_lanes(theta, lanes, fill=int(theta.max())))
        leak_chunks.append(model.neuron_params(group).leak_rows(lanes))
        row += threshold_chunks[-1].shape[0]
    thresholds = np.concatenate(threshold_chunks)
    leak_shifts = np.concatenate(leak_chunks)

    # Layers: weight and bias rows, and the descriptor of each.
    weights, biases, descriptors = [], [], {}
    weight_base = bias_base = 0
    # The attention comparator holds thresholds up to the largest head sum + 1 only.
    theta_attn = contract.token_mask_threshold(cfg.theta_attn, cfg.channels // cfg.heads,
                                               cfg.neurons["qk"].levels)
    layers = list(topology.layers(cfg))
    weight_bases, _ = weight_layout([(lay.c_in, lay.c_out) for lay in layers], engine)
    for lay, aligned in zip(layers, weight_bases):
        name, c_in, c_out, group = lay.name, lay.c_in, lay.c_out, lay.output_group
        layer = model.layers[name]
        rows = weight_rows_for(layer.weight, engine)
        stride = row_stride(c_in)
        engine_chunks = rows.shape[0] // stride
        if aligned > weight_base:        # zero rows up to the layer's aligned base
            weights.append(np.zeros((aligned - weight_base, engine), dtype=np.int64))
            weight_base = aligned
        weights.append(rows)
        biases.append(contract.split_into_lanes(layer.bias, engine))
        fields = dict(name=name, source=Source[lay.source.name], c_in=c_in, c_out=c_out,
                      chunks=contract.lane_chunks(c_out, lanes), engine_chunks=engine_chunks,
                      weight_base=weight_base, row_stride=stride,
                      bias_base=bias_base,
                      post=Post[lay.post.name], shift=layer.shift or 0, theta_attn=theta_attn)
        if group is not None:
            params = model.neuron_params(group)
            fields.update(neuron_base=neuron_bases[group], levels=params.levels,
                          leak_shift=params.leak_shift,
                          reset=params.reset,
                          count_spikes=lay.counts_spikes)
        descriptors[name] = Descriptor(**fields)
        weight_base += rows.shape[0]
        bias_base += engine_chunks

    weight_array = np.concatenate(weights).astype(np.int8)
    bias_array = np.concatenate(biases)
    step = [descriptors[name] for name in step_layers(cfg)]
    levels_max = max(model.neuron_params(g).levels for g in group_names(cfg))
    spike_layers = [d for d in step if d.source is not Source.FEATURES]
    widths = {
        # At least 2 bits: an all-zero model needs 1, but a 1-bit signed word holds no +1
        # and the datapath's adders (acc + 1 in the rounding, say) need the headroom.
        "accumulator": max(2, *(model.accumulator_bits(name) for name in model.layers)),
        "bias": max(2, contract.signed_bits(int(bias_array.min(initial=0)),
                                            int(bias_array.max(initial=0)))),
        "threshold": contract.unsigned_bits(int(thresholds.max())),
        "state": cfg.state_bits,
        "residual": cfg.residual_bits,
        "spike": contract.spike_bits(levels_max),
        "count": contract.COUNT_BITS,
        "levels_max": levels_max,
    }
    sizes = {
        "weight_rows": int(weight_array.shape[0]),
        "bias_rows": int(bias_array.shape[0]),
        "neuron_rows": int(thresholds.shape[0]),
        "residual_rows": contract.lane_chunks(cfg.channels, lanes),
        "walk_entries": max(d.c_in for d in [*step, descriptors["head"]]),
        "spike_entries": max(d.c_out for d in step),
        "channels": cfg.channels,
        "heads": cfg.heads,
        "classes": len(cfg.classes),
        "kernel": cfg.kernel,
        "stride": cfg.stride,
        "n_mels": cfg.n_mels,
        "frames": cfg.frames,
        "max_chunks": max(d.chunks for d in [*step, descriptors["head"]]),
        "engine_chunks": max(d.engine_chunks for d in [*step, descriptors["head"]]),
    }
    for what, needed, available in (("weight rows", sizes["weight_rows"], weight_rows),
                                    ("neuron rows", sizes["neuron_rows"], neuron_rows)):
        if available is not None and needed > available:
            width = engine if what == "weight rows" else lanes
            raise FitError(f"the model needs {needed} {what} of {width} lanes; the core has "
                           f"{available}")
    if any(d.source is Source.ATTENTION and d.c_in != cfg.channels for d in spike_layers):
        raise FitError("attention layers must take the model's channel count as input")
    return Program(lanes, step, descriptors["head"], weight_array, bias_array, thresholds,
                   leak_shifts, widths, sizes, neuron_bases, engine)
