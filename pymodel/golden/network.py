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
from .neuron import NeuronPopulation

__all__ = ["GoldenResult", "run", "step_layers", "encoder_window"]


def step_layers(config) -> list[str]:
    """The layers of one time step, in order (the head runs once, after the last frame)."""
    names = ["enc"]
    for block in range(config.blocks):
        names += [f"b{block}_{layer}" for layer in ("qk", "o", "fc1", "fc2")]
    return names


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
    c, heads = cfg.channels, cfg.heads
    layers = model.layers
    populations = {group: NeuronPopulation(model.neuron_params(group))
                   for group in model.thresholds}
    names = step_layers(cfg)
    events = {name: np.zeros(steps, dtype=np.int64) for name in names}
    factor_sums = {name: np.zeros(steps, dtype=np.int64) for name in names}
    spikes = {name: [] for name in names}
    residual = {name: [] for name in names if name == "enc" or name.endswith(("_o", "_fc2"))}
    counts = np.zeros(c, dtype=np.int64)

    def sparse(name, t, factors):
        acc, nnz = contract.sparse_accumulate(factors, layers[name].weight, layers[name].bias)
        events[name][t] = nnz
        factor_sums[name][t] = int(np.sum(factors))
        return acc

    def residual_neuron(name, t, r, group):
        residual[name].append(r) if trace else None
        out = populations[group].step(r)
        spikes[name].append(out) if trace else None
        return out

    for t in range(steps):
        window = encoder_window(features, t, cfg.kernel, cfg.stride)
        r = contract.residual_add(0, sparse("enc", t, window), layers["enc"].shift,
                                  cfg.residual_bits)
        a = residual_neuron("enc", t, r, "b0_attn_in")
        for b in range(cfg.blocks):
            key = f"b{b}"
            qk = populations[f"{key}_qk"].step(sparse(f"{key}_qk", t, a))
            spikes[f"{key}_qk"].append(qk) if trace else None
            mask = contract.qk_token_mask(qk[:c], heads, cfg.theta_attn)
            k_masked = contract.apply_token_mask(qk[c:], mask)
            r = contract.residual_add(r, sparse(f"{key}_o", t, k_masked),
                                      layers[f"{key}_o"].shift, cfg.residual_bits)
            a2 = residual_neuron(f"{key}_o", t, r, f"{key}_mlp_in")
            hidden = populations[f"{key}_hidden"].step(sparse(f"{key}_fc1", t, a2))
            spikes[f"{key}_fc1"].append(hidden) if trace else None
            r = contract.residual_add(r, sparse(f"{key}_fc2", t, hidden),
                                      layers[f"{key}_fc2"].shift, cfg.residual_bits)
            next_group = f"b{b + 1}_attn_in" if b + 1 < cfg.blocks else "head"
            a = residual_neuron(f"{key}_fc2", t, r, next_group)
        counts = contract.count_add(counts, a)

    logits, nnz = contract.sparse_accumulate(counts, layers["head"].weight, layers["head"].bias)
    events["head"] = np.array([nnz])
    factor_sums["head"] = np.array([int(counts.sum())])
    as_arrays = {name: np.stack(values) for name, values in spikes.items() if values}
    residual_arrays = {name: np.stack(values) for name, values in residual.items() if values}
    return GoldenResult(logits, contract.argmax_lowest(logits), counts, events, factor_sums,
                        as_arrays, residual_arrays)
