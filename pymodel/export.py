"""Export a trained network to a model file, and run a model file's integers in PyTorch.

:func:`export` takes the integers straight from ``QKSpikeNet.integer_params()``, the same
tensors the quantization-aware forward used, so the model file holds exactly what was
trained. :func:`torch_integer_logits` runs those integers through the PyTorch integer
forward (the training code path), which must equal the golden model bit for bit.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from .frontend import FrontendConfig
from .model import QKSpikeNet, integer_forward
from .modelfile import IntegerModel, Layer, group_names, layer_names

__all__ = ["export", "torch_integer_params", "torch_integer_logits", "float_network"]


def export(net: QKSpikeNet, frontend: FrontendConfig, *,
           float_state: Optional[dict] = None, metadata: Optional[dict[str, Any]] = None
           ) -> IntegerModel:
    """The trained, calibrated ``net`` as a validated :class:`IntegerModel` (not yet saved)."""
    config = net.config
    with torch.no_grad():
        params = net.integer_params()

    def ints(tensor):
        array = tensor.detach().numpy()
        if not np.all(array == np.round(array)):
            raise AssertionError("integer_params returned a non-integer value")
        return array.astype(np.int64)

    layers = {}
    for name in layer_names(config):
        shift = params.get(f"{name}.shift")
        layers[name] = Layer(ints(params[f"{name}.w"]), ints(params[f"{name}.b"]),
                             None if shift is None else int(shift))
    thresholds = {group: ints(params[f"{group}.theta"]) for group in group_names(config)}
    float_params = {}
    if float_state is not None:
        reference = QKSpikeNet(config)
        # Only the float parameters: the calibration buffer is not part of the float network.
        reference.load_state_dict({k: v for k, v in float_state.items() if k != "exponents"},
                                  strict=False)
        for key, value in reference._float_params().items():
            float_params[key] = value.detach().numpy().astype(np.float32)
    model = IntegerModel(config, frontend, layers, thresholds, dict(metadata or {}),
                         float_params)
    return model


#: The check path computes in float64: exact for every integer below 2**53, which bounds
#: every value any model the schema admits can produce (int32 biases plus at most
#: 127 * 255 * 16384 per accumulator). Training stays in float32, exact below 2**24.
CHECK_DTYPE = np.float64


def torch_integer_params(model: IntegerModel) -> dict:
    """A model file's integers as float64 tensors, keyed as ``QKSpikeNet.integer_params``."""
    params: dict = {}
    for name, layer in model.layers.items():
        params[f"{name}.w"] = torch.from_numpy(layer.weight.astype(CHECK_DTYPE))
        params[f"{name}.b"] = torch.from_numpy(layer.bias.astype(CHECK_DTYPE))
        if layer.shift is not None:
            params[f"{name}.shift"] = layer.shift
    for group, theta in model.thresholds.items():
        params[f"{group}.theta"] = torch.from_numpy(theta.astype(CHECK_DTYPE))
    return params


@torch.no_grad()
def torch_integer_logits(model: IntegerModel, features: np.ndarray,
                         batch_size: int = 128) -> np.ndarray:
    """Integer logits of the PyTorch integer forward for uint8 features (N, frames, n_mels)."""
    params = torch_integer_params(model)
    out = []
    for start in range(0, len(features), batch_size):
        x = torch.from_numpy(np.asarray(features[start:start + batch_size], dtype=CHECK_DTYPE))
        logits = integer_forward(model.config, params, x)["logits_int"].numpy()
        if not np.all(logits == np.round(logits)):
            raise AssertionError("the integer forward produced a non-integer logit")
        out.append(logits.astype(np.int64))
    return np.concatenate(out) if out else np.zeros((0, len(model.config.classes)), np.int64)


def float_network(model: IntegerModel) -> Optional[QKSpikeNet]:
    """The float reference network stored in the model file, or ``None`` if it has none."""
    if not model.float_params:
        return None
    net = QKSpikeNet(model.config)
    with torch.no_grad():
        for key, value in model.float_params.items():
            name, kind = key.rsplit(".", 1)
            tensor = torch.from_numpy(np.asarray(value, dtype=np.float32))
            if kind == "theta":
                net.log_theta[name].copy_(torch.log(tensor))
            else:
                weight, bias = net.weight(name)
                (weight if kind == "w" else bias).copy_(tensor)
    return net.eval()
