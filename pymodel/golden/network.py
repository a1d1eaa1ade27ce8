"""Golden twin of :mod:`hw.core`: the whole integer network on one utterance.

Integers only, from a model file (:class:`pymodel.modelfile.IntegerModel`), with the
numerics of :mod:`pymodel.golden.contract`. Returns the logits, the predicted class, a
per-layer trace and per-layer event counts.

The network runs as a list of *layers*, the unit the accelerator's sequencer runs and the
trace names. A layer is one sparse product plus the post-processing fused behind it:

=============  =====================  ===========================================
layer          sparse input (events)  post-processing (what the trace records)
=============  =====================  ===========================================
``enc``        K frames of features   ``r = sat(rescale(acc))``; ``a = N_attn_in(r)``
``bN_qk``      ``a``                  ``[q | k] = N_qk(acc)``
``bN_o``       ``k' = m * k``         ``r = sat(r + rescale(acc))``; ``a2 = N_mlp_in(r)``
``bN_fc1``     ``a2``                 ``h = N_hidden(acc)``
``bN_fc2``     ``h``                  ``r = sat(r + rescale(acc))``; next block's
                                      ``a`` or the head's ``s = N_head(r)``, counted
``head``       spike counts ``n``     logits (after the last frame only)
=============  =====================  ===========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import contract
from .. import topology
from .neuron import NeuronPopulation

__all__ = ["GoldenResult", "run", "step_layers", "encoder_window"]


def step_layers(config) -> list[str]:
    """The layers of one time step, in order (the head runs once, after the last frame)."""
    return [lay.name for lay in topology.step_layers(config)]


@dataclass
class GoldenResult:
    """What the golden model computed for one utterance."""

    logits: np.ndarray
    predicted: int
    counts: np.ndarray
    #: layer -> (steps,) non-zero inputs walked per step (head: shape (1,))
    events: dict[str, np.ndarray]
    #: layer -> (steps,) sum of input factors per step (synaptic operations / C_out)
    factor_sums: dict[str, np.ndarray]
    #: layer -> (steps, outputs) spikes written by the layer's post-processing
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    #: layer -> (steps, C) residual stream after the layer (enc, bN_o, bN_fc2)
    residual: dict[str, np.ndarray] = field(default_factory=dict)

    def cycle_bound(self, lanes: int, shapes: dict[str, tuple[int, int]]) -> dict[str, int]:
        """Per layer, the sparse bound ``sum_steps nnz * ceil(C_out / P)``."""
        return {name: (int(self.events[name].sum())
                      * contract.lane_chunks(shapes[name][1], lanes))
                for name in self.events}


def encoder_window(features: np.ndarray, step: int, kernel: int, stride: int) -> np.ndarray:
    """The encoder's input at ``step``: frames ``s*t + s - 1 - j`` for ``j = 0..K-1``, zeros
    before frame 0, flattened lag-major (row ``j * n_mels + f``)."""
    last = stride * step + stride - 1
    rows = [features[last - lag] if last - lag >= 0 else np.zeros_like(features[0])
            for lag in range(kernel)]
    return np.concatenate(rows).astype(np.int64)


def run(model, features: np.ndarray, *, trace: bool = True,
        frames: Optional[int] = None) -> GoldenResult:
    """Run the integer network on one utterance of uint8 features, shape (frames, n_mels).

    ``frames`` (default: the model's) may differ for streaming use; the utterance must hold
    a whole number of strides.
    """
    cfg = model.config
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] != cfg.n_mels:
        raise ValueError(f"features must have shape (frames, {cfg.n_mels}), "
                         f"not {features.shape}")
    if features.dtype != np.uint8 and (features.min() < 0 or features.max() > 255):
        raise ValueError("features must be uint8 values 0..255")
    frames = features.shape[0] if frames is None else frames
    if frames % cfg.stride:
        raise ValueError(f"{frames} frames is not a whole number of strides ({cfg.stride})")
    steps = frames // cfg.stride
    layers = model.layers
    populations = {group: NeuronPopulation(model.neuron_params(group))
                   for group in model.thresholds}
    plan = topology.step_layers(cfg)
    events = {lay.name: np.zeros(steps, dtype=np.int64) for lay in plan}
    factor_sums = {lay.name: np.zeros(steps, dtype=np.int64) for lay in plan}
    spikes = {lay.name: [] for lay in plan}
    residual = {lay.name: [] for lay in plan if lay.residual}
    counts = np.zeros(cfg.channels, dtype=np.int64)

    for t in range(steps):
        buffer = r = None      # the spikes the last layer wrote; the residual stream
        for lay in plan:
            if lay.source is topology.Source.FEATURES:
                factors = encoder_window(features, t, cfg.kernel, cfg.stride)
            elif lay.source is topology.Source.ATTENTION:
                q, k = buffer[:cfg.channels], buffer[cfg.channels:]
                factors = contract.apply_token_mask(
                    k, contract.qk_token_mask(q, cfg.heads, cfg.theta_attn))
            else:
                factors = buffer
            acc, events[lay.name][t] = contract.sparse_accumulate(
                factors, layers[lay.name].weight, layers[lay.name].bias)
            factor_sums[lay.name][t] = int(np.sum(factors))
            if lay.residual:
                keep = r if lay.post is topology.Post.RESIDUAL_ADD else 0
                r = acc = contract.residual_add(keep, acc, layers[lay.name].shift,
                                                cfg.residual_bits)
                if trace:
                    residual[lay.name].append(r)
            buffer = populations[lay.output_group].step(acc)
            if trace:
                spikes[lay.name].append(buffer)
            if lay.counts_spikes:
                counts = contract.count_add(counts, buffer)

    logits, nnz = contract.sparse_accumulate(counts, layers["head"].weight, layers["head"].bias)
    events["head"] = np.array([nnz])
    factor_sums["head"] = np.array([int(counts.sum())])
    as_arrays = {name: np.stack(values) for name, values in spikes.items() if values}
    residual_arrays = {name: np.stack(values) for name, values in residual.items() if values}
    return GoldenResult(logits, contract.argmax_lowest(logits), counts, events, factor_sums,
                        as_arrays, residual_arrays)
