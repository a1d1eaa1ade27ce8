"""The model file: round trip, and a schema check that names the offending field."""

import json

import numpy as np
import pytest

from pymodel import modelfile
from pymodel.modelfile import ModelFileError
from tests.conftest import exported_random_model, small_config


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    _, model = exported_random_model(small_config())
    path = tmp_path_factory.mktemp("model") / "small.npz"
    modelfile.save(model, path)
    return model, path


def test_round_trip_keeps_every_integer(saved):
    model, path = saved
    loaded = modelfile.load(path)
    assert loaded.config == model.config and loaded.frontend == model.frontend
    for name, layer in model.layers.items():
        assert np.array_equal(loaded.layers[name].weight, layer.weight)
        assert np.array_equal(loaded.layers[name].bias, layer.bias)
        assert loaded.layers[name].shift == layer.shift
    for group, theta in model.thresholds.items():
        assert np.array_equal(loaded.thresholds[group], theta)
    assert set(loaded.float_params) == set(model.float_params)


def rewrite(path, tmp_path, *, header=None, arrays=None, drop=()):
    with np.load(path) as npz:
        content = {key: npz[key] for key in npz.files}
    head = json.loads(content["header"].tobytes())
    if header:
        header(head)
    content["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    for key, value in (arrays or {}).items():
        content[key] = value
    for key in drop:
        del content[key]
    out = tmp_path / "edited.npz"
    np.savez(out, **content)
    return out


def set_path(keys, value):
    def edit(head):
        node = head
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return edit


def drop_path(keys):
    def edit(head):
        node = head
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]
    return edit


@pytest.mark.parametrize("header, arrays, drop, message", [
    (set_path(["version"], 2), None, (), r"field 'version': 2: this QKSpike reads version 1"),
    (set_path(["format"], "onnx"), None, (), r"field 'format': 'onnx'"),
    (drop_path(["config", "channels"]), None, (), r"field 'config.channels': missing"),
    (set_path(["config", "neurons", "qk", "levels"], 9), None, (),
     r"field 'config.neurons.qk.levels': 9 is out of range \(expected an integer in 1..7\)"),
    (set_path(["config", "neurons", "hidden", "leak_shift"], 99), None, (),
     r"field 'config.neurons.hidden.leak_shift': 99 is out of range"),
    (set_path(["config", "neurons", "head", "reset"], "never"), None, (),
     r"field 'config.neurons.head.reset': 'never' is not 'soft' or 'hard'"),
    (set_path(["config", "heads"], 3), None, (), r"field 'config.heads': 3 heads do not divide"),
    (set_path(["shifts", "b0_o"], 40), None, (), r"field 'shifts.b0_o': 40 is out of range"),
    (None, None, ("b0_fc1.weight",), r"field 'b0_fc1.weight': missing"),
    (None, {"b0_o.weight": np.full((16, 16), -128, np.int8)}, (),
     r"field 'b0_o.weight': value -128 is out of range -127..127"),
    (None, {"b0_o.weight": np.zeros((16, 8), np.int8)}, (),
     r"field 'b0_o.weight': shape \(16, 8\), expected \(16, 16\)"),
    (None, {"theta.b0_qk": np.zeros(32, np.int32)}, (),
     r"field 'theta.b0_qk': value 0 is out of range 1\.\."),
    (None, {"enc.bias": np.zeros(16, np.float32)}, (),
     r"field 'enc.bias': dtype float32 is not an integer type"),
])
def test_schema_errors_name_the_field(saved, tmp_path, header, arrays, drop, message):
    _, path = saved
    edited = rewrite(path, tmp_path, header=header, arrays=arrays, drop=drop)
    with pytest.raises(ModelFileError, match=message) as info:
        modelfile.load(edited)
    assert str(edited) in str(info.value) and "\n" not in str(info.value)


def test_not_a_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        modelfile.load(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a QKSpike model file"):
        modelfile.load(junk)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match=r"not a QKSpike model file \(no header\)"):
        modelfile.load(tmp_path / "other.npz")
