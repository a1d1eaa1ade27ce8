"""Hypothesis strategies: valid model files across every schema field, and feature clips.

Shapes stay small (a core of a few channels elaborates and simulates in seconds), but every
field reaches its extremes: int8 weight limits, int32 bias limits, theta 1 and the largest
the state width allows, D = 1..7, leak none / 0 / 15 / one per head, soft and hard reset,
rescale shifts 0..31, theta_attn up to the schema's 65536, residual and state widths from
2 to 32 bits, all-zero models, 2 classes, and lane counts larger than every layer.

The values of the arrays come from a numpy generator seeded by a drawn integer: shrinking
then works on the seed and the ranges (which say what matters), not on thousands of
individual weights.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from qkspike.pymodel.golden import contract
from qkspike.pymodel.model_config import GROUPS, ModelConfig, NeuronConfig
from qkspike.pymodel.modelfile import BIAS_MAX, CONFIG_RANGES
from qkspike.pymodel.synthetic import integer_model

__all__ = ["neuron_configs", "model_configs", "models", "feature_clips", "lanes_for"]


def neuron_configs(heads: int = 1):
    """A neuron kind: levels, leak (none, one shift, or one per head), reset."""
    shifts = st.sampled_from([0, 1, 2, contract.MAX_LEAK_SHIFT])
    return st.builds(
        NeuronConfig,
        levels=st.integers(1, contract.MAX_LEVELS),
        leak_shift=st.one_of(st.none(), shifts),
        reset=st.sampled_from([mode.value for mode in contract.ResetMode]),
        head_leak_shifts=st.one_of(st.just(()), st.tuples(*[shifts] * heads)))


@st.composite
def model_configs(draw):
    heads = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    lo, hi = CONFIG_RANGES["theta_attn"]
    return ModelConfig(
        classes=tuple(f"c{i}" for i in range(draw(st.integers(2, 4)))),
        n_mels=draw(st.integers(1, 5)),
        frames=stride * draw(st.integers(1, 3)),
        channels=heads * draw(st.integers(1, 3)),
        blocks=draw(st.integers(1, 2)),
        heads=heads,
        mlp_ratio=draw(st.integers(1, 2)),
        kernel=draw(st.integers(1, 3)),
        stride=stride,
        theta_attn=draw(st.one_of(st.integers(lo, 6), st.just(hi))),
        residual_bits=draw(st.one_of(st.integers(2, 10), st.just(CONFIG_RANGES["residual_bits"][1]))),
        state_bits=draw(st.one_of(st.integers(2, 12), st.just(CONFIG_RANGES["state_bits"][1]))),
        neurons={kind: draw(neuron_configs(heads)) for kind in (*GROUPS, "head")},
    )


@st.composite
def models(draw, configs=None):
    """A valid :class:`~pymodel.modelfile.IntegerModel` (it passes the schema check)."""
    config = draw(configs or model_configs())
    seed = draw(st.integers(0, 2**32 - 1))
    # The value profile comes from the seeded generator, uniformly: hypothesis's own draws
    # favour the first choice of each list, which would make most models all-zero.
    rng = np.random.default_rng(seed)
    weight_max = int(rng.choice([0, 1, 7, contract.WEIGHT_MAX]))
    bias_max = int(rng.choice([0, 3, 300, BIAS_MAX]))
    theta_limit = (1 << (config.state_bits - 1)) - 1
    theta_max = int(rng.choice(sorted({1, min(5, theta_limit), min(300, theta_limit),
                                       theta_limit})))
    density = float(rng.choice([0.0, 0.3, 1.0]))
    extremes = bool(rng.random() < 0.25)   # weights, biases, thresholds at their limits only
    shift_max = int(rng.choice([0, 4, contract.MAX_RESCALE_SHIFT]))

    def values(name, shape, lo, hi):
        if extremes:
            out = rng.choice(np.array([lo, hi], dtype=np.int64), size=shape)
        else:
            out = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
        if name.endswith(".weight"):
            out[rng.random(shape) >= density] = 0
        return out

    return integer_model(config, values, lambda name: int(rng.integers(0, shift_max + 1)),
                         weight_max=weight_max, bias_max=bias_max, theta_max=theta_max)


@st.composite
def feature_clips(draw, config):
    """One utterance of uint8 features: random, all 255, all 0, or sparse."""
    kind = draw(st.sampled_from(["random", "all-255", "zeros", "sparse"]))
    shape = (config.frames, config.n_mels)
    if kind == "all-255":
        return np.full(shape, contract.FEATURE_MAX, dtype=np.uint8)
    if kind == "zeros":
        return np.zeros(shape, dtype=np.uint8)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, contract.FEATURE_MAX + 1, size=shape)
    if kind == "sparse":
        x[rng.random(shape) < 0.8] = 0
    return x.astype(np.uint8)


def lanes_for(config: ModelConfig):
    """From 1 lane up to more lanes than the widest layer has outputs."""
    widest = max(2 * config.channels, config.hidden, len(config.classes))
    return st.one_of(st.integers(1, 4), st.just(widest + 1))
