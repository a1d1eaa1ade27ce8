"""The QKSpike model file: one versioned ``.npz`` holding everything the integer network needs.

Contents: int8 weights, integer biases, rescale shifts, per-channel thresholds, the neuron
settings (levels ``D``, leak shift, reset, optional per-head leak shifts; a file without
``head_leak_shifts`` has none), the integer widths, the front-end constants,
the class names, optional float reference weights (for the float accuracy) and training
metadata. Numpy only: the golden model and the RTL generator load it without PyTorch.

:func:`load` checks the schema: a wrong format or version, a missing field, a field the
network has no place for (a header field, a shift or an array of a block the config does
not have), a wrong shape or an out-of-range value raises :class:`ModelFileError` naming the
field. The float reference is all of its arrays, of their shapes and finite, or none.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .frontend import FrontendConfig
from .golden import contract
from .golden.neuron import NeuronParams
from . import topology
from .model_config import GROUPS, ModelConfig

__all__ = ["FORMAT", "VERSION", "ModelFileError", "Layer", "IntegerModel", "load", "save",
           "validate", "default_model_path", "layer_names", "group_names", "group_kind",
           "residual_layers", "BIAS_MAX", "CONFIG_RANGES"]

FORMAT = "qkspike-model"
VERSION = 1

#: Biases are stored as int32 and must stay symmetric, like the weights.
BIAS_MAX = (1 << 31) - 1

#: The schema's range for each integer field of ``config``: ``(lo, hi)``. The hardware
#: generator supports every value in these ranges (``hw.program`` derives its widths from
#: the model); where a whole model is too large for any supported part it says so by size.
CONFIG_RANGES = {
    "n_mels": (1, 256), "frames": (1, 10_000), "channels": (1, 4096), "blocks": (1, 64),
    "heads": (1, 4096), "mlp_ratio": (1, 16), "kernel": (1, 64), "stride": (1, 64),
    "theta_attn": (1, 1 << 16), "residual_bits": (2, 32), "state_bits": (2, 32),
}

#: The front end's fields: integers ``(lo, hi)`` and positive finite reals.
_FRONTEND_INTS = {"sample_rate": (1000, 192_000), "window_samples": (1, 10_000_000),
                  "n_fft": (2, 1 << 16), "hop": (1, 1 << 16), "n_mels": (1, 256)}
_FRONTEND_REALS = ("f_min", "f_max", "db_floor", "db_range")
#: The fields of a model file's header; any other is refused (a misspelt field is not ignored).
_HEADER_FIELDS = ("format", "version", "config", "frontend", "shifts", "metadata")


class ModelFileError(ValueError):
    """A model file that does not satisfy the schema; the message names the field."""


# Names and shapes come from the one topology table (pymodel/topology.py).

def layer_names(config: ModelConfig) -> list[str]:
    """Sparse layers in execution order within a time step, then the head."""
    return [lay.name for lay in topology.layers(config)]


def residual_layers(config: ModelConfig) -> list[str]:
    """Layers whose accumulator joins the residual stream: they carry a rescale shift."""
    return [lay.name for lay in topology.layers(config) if lay.residual]


def group_names(config: ModelConfig) -> list[str]:
    """Neuron populations in execution order within a time step."""
    return topology.groups(config)


group_kind = topology.group_kind
group_size = topology.group_size


def layer_shape(config: ModelConfig, name: str) -> tuple[int, int]:
    """(C_in, C_out) of a sparse layer."""
    lay = topology.layer(config, name)
    return lay.c_in, lay.c_out


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
        return NeuronParams(self.thresholds[group], levels=n.levels,
                            leak_shift=topology.leak_shifts(self.config, group_kind(group)),
                            reset=n.reset, state_bits=self.config.state_bits)

    def factor_max(self, name: str) -> int:
        """Largest input factor of a layer: feature, spike level or spike count."""
        return topology.factor_max(self.config, topology.layer(self.config, name))

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
    return Path(str(resources.files("qkspike.pymodel") / "data" / "qkspike_fsdd.npz"))


# --- writing -------------------------------------------------------------------------------

def _to_parts(model: IntegerModel) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and the arrays of a model file, as :func:`save` writes them."""
    header = {"format": FORMAT, "version": VERSION, "config": model.config.to_dict(),
              "frontend": model.frontend.to_dict(),
              "shifts": {name: layer.shift for name, layer in model.layers.items()
                         if layer.shift is not None},
              "metadata": model.metadata}
    arrays = {}
    for name, layer in model.layers.items():
        arrays[f"{name}.weight"] = np.asarray(layer.weight).astype(np.int8)
        arrays[f"{name}.bias"] = np.asarray(layer.bias).astype(np.int32)
    for group, theta in model.thresholds.items():
        arrays[f"theta.{group}"] = np.asarray(theta).astype(np.int32)
    for name, value in model.float_params.items():
        arrays[f"float.{name}"] = np.asarray(value, dtype=np.float32)
    return header, arrays


def save(model: IntegerModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (atomically: a partly written file never has the name)."""
    path = Path(path)
    validate(model)
    header, arrays = _to_parts(model)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
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


def _mapping(path, value, name: str) -> dict:
    if not isinstance(value, dict):
        _fail(path, name, f"expected an object, not {type(value).__name__}")
    return value


def _require(mapping: dict, key: str, path, prefix: str = ""):
    if key not in mapping:
        _fail(path, prefix + key, "missing")
    return mapping[key]


def _check_int(path, name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _fail(path, name, f"{value!r} is out of range (expected an integer in {lo}..{hi})")
    return value


def _check_keys(path, mapping: dict, allowed, prefix: str) -> None:
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        _fail(path, prefix + str(unknown[0]), "unknown field")


def _check_config(path, raw) -> ModelConfig:
    raw = _mapping(path, raw, "config")
    required = ["classes", *CONFIG_RANGES, "neurons"]
    for key in required:
        _require(raw, key, path, "config.")
    _check_keys(path, raw, required, "config.")
    for key, (lo, hi) in CONFIG_RANGES.items():
        _check_int(path, f"config.{key}", raw[key], lo, hi)
    if raw["channels"] % raw["heads"]:
        _fail(path, "config.heads", f"{raw['heads']} heads do not divide "
                                    f"{raw['channels']} channels")
    classes = raw["classes"]
    # Printable: every report prints a class name on one line.
    if not isinstance(classes, list) or len(classes) < 2 \
            or not all(isinstance(c, str) and c and c.isprintable() for c in classes) \
            or len(set(classes)) != len(classes):
        _fail(path, "config.classes", "expected a list of at least 2 distinct printable names")
    neurons = _mapping(path, raw["neurons"], "config.neurons")
    kinds = (*GROUPS, "head")
    _check_keys(path, neurons, kinds, "config.neurons.")
    for kind in kinds:
        n = _mapping(path, _require(neurons, kind, path, "config.neurons."),
                     f"config.neurons.{kind}")
        prefix = f"config.neurons.{kind}."
        _check_keys(path, n, ("levels", "leak_shift", "reset", "head_leak_shifts"), prefix)
        _check_int(path, prefix + "levels", _require(n, "levels", path, prefix), 1,
                   contract.MAX_LEVELS)
        leak = _require(n, "leak_shift", path, prefix)
        if leak is not None:
            _check_int(path, prefix + "leak_shift", leak, 0, contract.MAX_LEAK_SHIFT)
        head_leaks = n.get("head_leak_shifts", [])
        if not isinstance(head_leaks, list) or len(head_leaks) not in (0, raw["heads"]):
            _fail(path, prefix + "head_leak_shifts",
                  f"expected an empty list or one shift per head ({raw['heads']})")
        for head, shift in enumerate(head_leaks):
            _check_int(path, f"{prefix}head_leak_shifts[{head}]", shift, 0,
                       contract.MAX_LEAK_SHIFT)
        modes = [mode.value for mode in contract.ResetMode]
        if _require(n, "reset", path, prefix) not in modes:
            _fail(path, prefix + "reset", f"{n['reset']!r} is not "
                                          f"{' or '.join(repr(m) for m in modes)}")
    return ModelConfig.from_dict(raw)


def _check_frontend(path, raw) -> FrontendConfig:
    raw = _mapping(path, raw, "frontend")
    _check_keys(path, raw, (*_FRONTEND_INTS, *_FRONTEND_REALS), "frontend.")
    for key, (lo, hi) in _FRONTEND_INTS.items():
        _check_int(path, f"frontend.{key}", _require(raw, key, path, "frontend."), lo, hi)
    for key in _FRONTEND_REALS:
        value = _require(raw, key, path, "frontend.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            _fail(path, f"frontend.{key}", f"{value!r} is not a finite number")
    if raw["hop"] > raw["n_fft"]:
        _fail(path, "frontend.hop", f"{raw['hop']} is longer than n_fft = {raw['n_fft']}")
    if not 0 <= raw["f_min"] < raw["f_max"] <= raw["sample_rate"] / 2:
        _fail(path, "frontend.f_max", f"expected 0 <= f_min < f_max <= sample_rate / 2, got "
                                      f"{raw['f_min']}..{raw['f_max']} Hz")
    if raw["db_range"] <= 0:
        _fail(path, "frontend.db_range", f"{raw['db_range']!r} is not positive")
    frontend = FrontendConfig.from_dict(raw)
    if frontend.frames < 1:
        _fail(path, "frontend.window_samples", f"{raw['window_samples']} samples give no frame")
    return frontend


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


def float_reference_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of the float reference's arrays (``float.<name>`` in the file): each
    layer's ``w`` (C_in x C_out) and ``b``, each neuron group's ``theta``."""
    shapes = {}
    for name in layer_names(config):
        c_in, c_out = layer_shape(config, name)
        shapes[f"{name}.w"], shapes[f"{name}.b"] = (c_in, c_out), (c_out,)
    for group in group_names(config):
        shapes[f"{group}.theta"] = (group_size(config, group),)
    return shapes


def _check_float_reference(path, config: ModelConfig,
                           arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The float reference (``float.*``): absent, or every array of it, of its shape, finite.
    A part of it would leave the rest of the float network at random (a float accuracy of
    chance, silently), a wrong shape would stop evaluation with a traceback."""
    given = {key[len("float."):]: value for key, value in arrays.items()
             if key.startswith("float.")}
    if not given:
        return {}
    shapes = float_reference_shapes(config)
    for name in sorted(set(given) - set(shapes)):
        _fail(path, f"float.{name}", "unknown field: not part of this network's float reference")
    for name, shape in shapes.items():
        if name not in given:
            _fail(path, f"float.{name}", "missing (the float reference is all or nothing)")
        value = given[name]
        if not np.issubdtype(value.dtype, np.floating):
            _fail(path, f"float.{name}", f"dtype {value.dtype} is not a float type")
        if value.shape != shape:
            _fail(path, f"float.{name}", f"shape {value.shape}, expected {shape}")
        if not np.all(np.isfinite(value)):
            _fail(path, f"float.{name}", "holds NaN or infinite values")
        if name.endswith(".theta") and not np.all(value > 0):
            _fail(path, f"float.{name}", "a threshold is not positive (its log is trained)")
    return given


def _parse(path, header, arrays: dict[str, np.ndarray]) -> IntegerModel:
    """An :class:`IntegerModel` from a header and arrays, every field checked."""
    header = _mapping(path, header, "header")
    if header.get("format") != FORMAT:
        _fail(path, "format", f"{header.get('format')!r}, expected {FORMAT!r}")
    if header.get("version") != VERSION:
        _fail(path, "version", f"{header.get('version')!r}: this QKSpike reads version {VERSION}")
    _check_keys(path, header, _HEADER_FIELDS, "")
    config = _check_config(path, _require(header, "config", path))
    frontend = _check_frontend(path, _require(header, "frontend", path))
    if frontend.n_mels != config.n_mels or frontend.frames != config.frames:
        _fail(path, "frontend", f"{frontend.frames} frames x {frontend.n_mels} bands do not "
                                f"match config ({config.frames} x {config.n_mels})")
    if config.frames % config.stride:
        _fail(path, "config.stride", f"{config.stride} does not divide {config.frames} frames")
    shifts = _mapping(path, _require(header, "shifts", path), "shifts")
    _check_keys(path, shifts, residual_layers(config), "shifts.")
    metadata = _mapping(path, header.get("metadata", {}), "metadata")
    layers = {}
    for name in layer_names(config):
        c_in, c_out = layer_shape(config, name)
        weight = _check_array(path, arrays, f"{name}.weight", (c_in, c_out),
                              -contract.WEIGHT_MAX, contract.WEIGHT_MAX)
        bias = _check_array(path, arrays, f"{name}.bias", (c_out,), -BIAS_MAX, BIAS_MAX)
        shift = None
        if name in residual_layers(config):
            shift = _check_int(path, f"shifts.{name}", _require(shifts, name, path, "shifts."),
                               0, contract.MAX_RESCALE_SHIFT)
        layers[name] = Layer(weight, bias, shift)
    thresholds = {}
    theta_max = (1 << (config.state_bits - 1)) - 1
    for group in group_names(config):
        thresholds[group] = _check_array(path, arrays, f"theta.{group}",
                                         (group_size(config, group),), 1, theta_max)
    # An array this network has no place for (a layer of a block the config does not have,
    # say) means the header and the arrays disagree: refuse it rather than ignore it.
    expected = {f"{name}.{part}" for name in layers for part in ("weight", "bias")}
    expected |= {f"theta.{group}" for group in thresholds}
    unknown = sorted(key for key in arrays
                     if key not in expected and key != "header" and not key.startswith("float."))
    if unknown:
        _fail(path, unknown[0], f"unknown field: not part of this network ({config.blocks} "
                                f"block{'' if config.blocks == 1 else 's'}, "
                                f"{config.channels} channels)")
    float_params = _check_float_reference(path, config, arrays)
    return IntegerModel(config, frontend, layers, thresholds, metadata, float_params,
                        Path(path) if isinstance(path, (str, Path)) else None)


def validate(model: IntegerModel) -> IntegerModel:
    """Check an in-memory model against the schema that :func:`load` applies; returns it."""
    header, arrays = _to_parts(model)
    where = model.path or "<model>"
    # Values outside int8/int32 would wrap in _to_parts: check the originals' ranges first.
    for name, layer in model.layers.items():
        for key, value, limit in ((f"{name}.weight", layer.weight, contract.WEIGHT_MAX),
                                  (f"{name}.bias", layer.bias, BIAS_MAX)):
            arrays[key] = np.asarray(value)
            _check_array(where, arrays, key, arrays[key].shape, -limit, limit)
    for group, theta in model.thresholds.items():
        arrays[f"theta.{group}"] = np.asarray(theta)
    header = json.loads(json.dumps(header))    # the same types a file gives (lists, not tuples)
    _parse(where, header, arrays)
    return model


#: The first bytes of a zip archive (an .npz file is one).
_ZIP_MAGIC = b"PK\x03\x04"


def _read_archive(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz archive at ``path``; a damaged archive is a ModelFileError."""
    # The file is opened here, not by np.load, so that it is closed on every error too.
    with path.open("rb") as handle:
        magic = handle.read(len(_ZIP_MAGIC))
        if magic != _ZIP_MAGIC:
            what = "an empty file" if not magic else "not an .npz (zip) archive"
            raise ModelFileError(f"{path}: not a QKSpike model file ({what})")
        handle.seek(0)
        try:
            with np.load(handle, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
                NotImplementedError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if "allow_pickle" in reason:
                reason = "it holds an object array, which a model file never does"
            raise ModelFileError(f"{path}: not a readable QKSpike model file (damaged or "
                                 f"truncated archive: {reason})") from None


def load(path: str | Path | None = None) -> IntegerModel:
    """Load and validate a model file (default: the shipped model).

    Raises :class:`ModelFileError`, a one-line message that starts with the path, for every
    file that is not a valid model: missing, empty, not a zip, truncated or corrupt, a
    header that is not the schema's, or any field out of its range.
    """
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        arrays = _read_archive(path)
    except PermissionError:
        raise ModelFileError(f"{path}: permission denied") from None
    if "header" not in arrays:
        raise ModelFileError(f"{path}: not a QKSpike model file (no header)")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: field 'header': unreadable JSON ({error})") from None
    return _parse(path, header, arrays)
