"""The QKSpike model file: one versioned ``.npz`` holding everything the integer network needs.

Contents: int8 weights, integer biases, rescale shifts, per-channel thresholds, the neuron
settings (levels ``D``, leak shift, reset), the integer widths, the front-end constants,
the class names, optional float reference weights (for the float accuracy) and training
metadata. Numpy only: the golden model and the RTL generator load it without PyTorch.

:func:`load` checks the schema: a wrong format or version, a missing field, a wrong shape
or an out-of-range value raises :class:`ModelFileError` naming the field.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .frontend import FrontendConfig
from .golden import contract
from .golden.neuron import NeuronParams
from .model_config import GROUPS, ModelConfig

__all__ = ["FORMAT", "VERSION", "ModelFileError", "Layer", "IntegerModel", "load", "save",
           "default_model_path", "layer_names", "group_names", "group_kind"]

FORMAT = "qkspike-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that does not satisfy the schema; the message names the field."""


def layer_names(config: ModelConfig) -> list[str]:
    """Sparse layers in execution order within a time step, then the head."""
    names = ["enc"]
    for block in range(config.blocks):
        names += [f"b{block}_{layer}" for layer in ("qk", "o", "fc1", "fc2")]
    return names + ["head"]


def group_names(config: ModelConfig) -> list[str]:
    """Neuron populations in execution order within a time step."""
    return [f"b{b}_{g}" for b in range(config.blocks) for g in GROUPS] + ["head"]


def group_kind(group: str) -> str:
    """``b1_qk`` -> ``qk``: the key of ``ModelConfig.neurons``."""
    return group if group == "head" else group.split("_", 1)[1]


def layer_shape(config: ModelConfig, name: str) -> tuple[int, int]:
    """(C_in, C_out) of a sparse layer."""
    c, e = config.channels, config.hidden
    if name == "enc":
        return config.kernel * config.n_mels, c
    if name == "head":
        return c, len(config.classes)
    return {"qk": (c, 2 * c), "o": (c, c), "fc1": (c, e), "fc2": (e, c)}[name.split("_", 1)[1]]


def group_size(config: ModelConfig, group: str) -> int:
    c = config.channels
    return {"attn_in": c, "qk": 2 * c, "mlp_in": c, "hidden": config.hidden,
            "head": c}[group_kind(group)]


@dataclass
class Layer:
    """One sparse layer: ``acc = bias + sum a_i W[i]``; ``shift`` rescales it into the residual."""

    weight: np.ndarray            # (C_in, C_out), int, |w| <= WEIGHT_MAX
    bias: np.ndarray              # (C_out,), int
    shift: Optional[int] = None   # rescale shift, for layers that feed the residual stream


@dataclass
class IntegerModel:
    """A loaded, validated model file."""

    config: ModelConfig
    frontend: FrontendConfig
    layers: dict[str, Layer]
    thresholds: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)
    float_params: dict[str, np.ndarray] = field(default_factory=dict)
    path: Optional[Path] = None

    def neuron_params(self, group: str) -> NeuronParams:
        n = self.config.neurons[group_kind(group)]
        return NeuronParams(self.thresholds[group], levels=n.levels, leak_shift=n.leak_shift,
                            reset=n.reset, state_bits=self.config.state_bits)

    def factor_max(self, name: str) -> int:
        """Largest input factor of a layer: feature, spike level or spike count."""
        if name == "enc":
            return contract.FEATURE_MAX
        if name == "head":
            return contract.COUNT_MAX
        group = {"qk": "attn_in", "o": "qk", "fc1": "mlp_in", "fc2": "hidden"}[name.split("_")[1]]
        return self.config.neurons[group].levels

    def accumulator_bits(self, name: str) -> int:
        layer = self.layers[name]
        return contract.accumulator_bits(layer.weight, layer.bias, self.factor_max(name))

    def summary(self) -> dict[str, Any]:
        cfg = self.config
        weights = sum(layer.weight.size for layer in self.layers.values())
        biases = sum(layer.bias.size for layer in self.layers.values())
        thresholds = sum(t.size for t in self.thresholds.values())
        return {"classes": list(cfg.classes), "channels": cfg.channels, "blocks": cfg.blocks,
                "heads": cfg.heads, "hidden": cfg.hidden, "steps": cfg.steps,
                "weights": int(weights), "biases": int(biases),
                "thresholds": int(thresholds),
                "accumulator_bits": {n: self.accumulator_bits(n) for n in self.layers}}


def default_model_path() -> Path:
    """The trained model that ships inside the package: the default of every command."""
    return Path(str(resources.files("pymodel") / "data" / "qkspike_fsdd.npz"))


# --- writing -------------------------------------------------------------------------------

def save(model: IntegerModel, path: str | Path) -> Path:
    path = Path(path)
    header = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(),
              "frontend": model.frontend.to_dict(),
              "shifts": {name: layer.shift for name, layer in model.layers.items()
                         if layer.shift is not None},
              "metadata": model.metadata}
    arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    for name, layer in model.layers.items():
        arrays[f"{name}.weight"] = layer.weight.astype(np.int8)
        arrays[f"{name}.bias"] = layer.bias.astype(np.int32)
    for group, theta in model.thresholds.items():
        arrays[f"theta.{group}"] = theta.astype(np.int32)
    for name, value in model.float_params.items():
        arrays[f"float.{name}"] = np.asarray(value, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(buffer.getvalue())
    temporary.replace(path)
    return path


# --- reading and the schema ----------------------------------------------------------------

def _fail(path, field_name: str, problem: str):
    raise ModelFileError(f"{path}: field '{field_name}': {problem}")


def _require(mapping: dict, key: str, path, prefix: str = ""):
    if key not in mapping:
        _fail(path, prefix + key, "missing")
    return mapping[key]


def _check_int(path, name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _fail(path, name, f"{value!r} is out of range (expected an integer in {lo}..{hi})")
    return value


def _check_config(path, raw: dict) -> ModelConfig:
    required = ["classes", "n_mels", "frames", "channels", "blocks", "heads", "mlp_ratio",
                "kernel", "stride", "theta_attn", "residual_bits", "state_bits", "neurons"]
    for key in required:
        _require(raw, key, path, "config.")
    for key, lo, hi in (("n_mels", 1, 256), ("frames", 1, 10_000), ("channels", 1, 4096),
                        ("blocks", 1, 64), ("heads", 1, 4096), ("mlp_ratio", 1, 16),
                        ("kernel", 1, 64), ("stride", 1, 64), ("theta_attn", 1, 1 << 16),
                        ("residual_bits", 2, 32), ("state_bits", 2, 32)):
        _check_int(path, f"config.{key}", raw[key], lo, hi)
    if raw["channels"] % raw["heads"]:
        _fail(path, "config.heads", f"{raw['heads']} heads do not divide "
                                    f"{raw['channels']} channels")
    classes = raw["classes"]
    if not isinstance(classes, list) or not classes or len(set(classes)) != len(classes):
        _fail(path, "config.classes", "expected a non-empty list of distinct names")
    neurons = raw["neurons"]
    for kind in (*GROUPS, "head"):
        n = _require(neurons, kind, path, "config.neurons.")
        _check_int(path, f"config.neurons.{kind}.levels", _require(
            n, "levels", path, f"config.neurons.{kind}."), 1, contract.MAX_LEVELS)
        leak = _require(n, "leak_shift", path, f"config.neurons.{kind}.")
        if leak is not None:
            _check_int(path, f"config.neurons.{kind}.leak_shift", leak, 0,
                       contract.MAX_LEAK_SHIFT)
        if _require(n, "reset", path, f"config.neurons.{kind}.") not in ("soft", "hard"):
            _fail(path, f"config.neurons.{kind}.reset",
                  f"{n['reset']!r} is not 'soft' or 'hard'")
    return ModelConfig.from_dict(raw)


def _check_array(path, arrays, key: str, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    if key not in arrays:
        _fail(path, key, "missing")
    value = arrays[key]
    if not np.issubdtype(value.dtype, np.integer):
        _fail(path, key, f"dtype {value.dtype} is not an integer type")
    if value.shape != shape:
        _fail(path, key, f"shape {value.shape}, expected {shape}")
    value = value.astype(np.int64)
    if value.size and (value.min() < lo or value.max() > hi):
        bad = value.min() if value.min() < lo else value.max()
        _fail(path, key, f"value {bad} is out of range {lo}..{hi}")
    return value


def load(path: str | Path | None = None) -> IntegerModel:
    """Load and validate a model file (default: the shipped model)."""
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as error:
        raise ModelFileError(f"{path}: not a QKSpike model file ({error})") from None
    if "header" not in arrays:
        raise ModelFileError(f"{path}: not a QKSpike model file (no header)")
    try:
        header = json.loads(arrays["header"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: field 'header': unreadable JSON ({error})") from None
    if header.get("format") != FORMAT:
        _fail(path, "format", f"{header.get('format')!r}, expected {FORMAT!r}")
    if header.get("version") != VERSION:
        _fail(path, "version", f"{header.get('version')!r}: this QKSpike reads version {VERSION}")
    config = _check_config(path, _require(header, "config", path))
    frontend_raw = _require(header, "frontend", path)
    try:
        frontend = FrontendConfig.from_dict(frontend_raw)
    except TypeError as error:
        _fail(path, "frontend", str(error))
    if frontend.n_mels != config.n_mels or frontend.frames != config.frames:
        _fail(path, "frontend", f"{frontend.frames} frames x {frontend.n_mels} bands do not "
                                f"match config ({config.frames} x {config.n_mels})")
    if config.frames % config.stride:
        _fail(path, "config.stride", f"{config.stride} does not divide {config.frames} frames")
    shifts = _require(header, "shifts", path)
    bias_limit = (1 << 31) - 1
    layers = {}
    for name in layer_names(config):
        c_in, c_out = layer_shape(config, name)
        weight = _check_array(path, arrays, f"{name}.weight", (c_in, c_out),
                              -contract.WEIGHT_MAX, contract.WEIGHT_MAX)
        bias = _check_array(path, arrays, f"{name}.bias", (c_out,), -bias_limit, bias_limit)
        shift = None
        if name == "enc" or name.endswith(("_o", "_fc2")):
            shift = _check_int(path, f"shifts.{name}", _require(shifts, name, path, "shifts."),
                               0, contract.MAX_RESCALE_SHIFT)
        layers[name] = Layer(weight, bias, shift)
    thresholds = {}
    theta_max = (1 << (config.state_bits - 1)) - 1
    for group in group_names(config):
        thresholds[group] = _check_array(path, arrays, f"theta.{group}",
                                         (group_size(config, group),), 1, theta_max)
    float_params = {key[len("float."):]: value for key, value in arrays.items()
                    if key.startswith("float.")}
    return IntegerModel(config, frontend, layers, thresholds, header.get("metadata", {}),
                        float_params, path)
