"""Synthetic model files: valid :class:`~pymodel.modelfile.IntegerModel` objects built from
integers alone (no PyTorch, no training), for verification across the whole schema.

:func:`integer_model` fills every array of a :class:`~pymodel.model_config.ModelConfig` with
values drawn by the caller's functions, so a property-based test (``hypothesis``) or a
seeded ``numpy`` generator decides the values and this module only knows the shapes. A
model made here passes :func:`pymodel.modelfile.validate`, the same check ``load`` applies.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .frontend import FrontendConfig
from .modelfile import (IntegerModel, Layer, group_names, group_size, layer_names, layer_shape,
                        residual_layers, validate)
from .model_config import ModelConfig

__all__ = ["frontend_for", "integer_model", "random_model"]

#: ``draw(name, shape, lo, hi) -> int array``: integers in ``lo..hi`` for the named array.
ArrayDraw = Callable[[str, tuple, int, int], np.ndarray]


def frontend_for(config: ModelConfig) -> FrontendConfig:
    """The front end whose frame count and band count match ``config`` (hop 80 samples)."""
    base = FrontendConfig()
    return FrontendConfig(window_samples=base.hop * config.frames, n_mels=config.n_mels)


def integer_model(config: ModelConfig, draw: ArrayDraw, shift: Callable[[str], int], *,
                  weight_max: int, bias_max: int, theta_max: int) -> IntegerModel:
    """A model of shape ``config`` whose arrays come from ``draw`` and shifts from ``shift``.

    ``weight_max``, ``bias_max`` and ``theta_max`` bound the draws (the caller keeps them
    inside the schema: :data:`pymodel.golden.contract.WEIGHT_MAX`, the int32 bias range,
    ``2**(state_bits-1) - 1``); thresholds are at least 1.
    """
    layers = {}
    for name in layer_names(config):
        c_in, c_out = layer_shape(config, name)
        layers[name] = Layer(draw(f"{name}.weight", (c_in, c_out), -weight_max, weight_max),
                             draw(f"{name}.bias", (c_out,), -bias_max, bias_max),
                             shift(name) if name in residual_layers(config) else None)
    thresholds = {group: draw(f"theta.{group}", (group_size(config, group),), 1, theta_max)
                  for group in group_names(config)}
    model = IntegerModel(config, frontend_for(config), layers, thresholds,
                         {"source": "qkspike.pymodel.synthetic"})
    validate(model)
    return model


def random_model(config: ModelConfig, seed: int = 0, *, weight_max: int = 127,
                 bias_max: int = 64, theta_max: int = 64, shift_max: int = 4,
                 density: float = 0.5) -> IntegerModel:
    """A seeded random model: ``density`` of the weights non-zero, the rest from the ranges."""
    rng = np.random.default_rng(seed)

    def draw(name, shape, lo, hi):
        values = rng.integers(lo, hi + 1, size=shape)
        if name.endswith(".weight"):
            values[rng.random(shape) >= density] = 0
        return values.astype(np.int64)

    return integer_model(config, draw, lambda name: int(rng.integers(0, shift_max + 1)),
                         weight_max=weight_max, bias_max=bias_max,
                         theta_max=min(theta_max, (1 << (config.state_bits - 1)) - 1))
