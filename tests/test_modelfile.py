"""The model file: round trip, and a schema check that names the offending field."""

import json

import numpy as np
import pytest

from qkspike.pymodel import modelfile
from qkspike.pymodel.modelfile import ModelFileError
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


def rewrite(path, tmp_path, *, header=None, arrays=None, drop=(), out=None):
    """A copy of the model file at ``path`` with its header edited (``header`` edits it in
    place, or returns a replacement), arrays replaced or dropped; written to ``out``."""
    with np.load(path) as npz:
        content = {key: npz[key] for key in npz.files}
    head = json.loads(content["header"].tobytes())
    if header:
        replaced = header(head)
        head = head if replaced is None else replaced
    content["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    for key, value in (arrays or {}).items():
        content[key] = value
    for key in drop:
        del content[key]
    out = out or tmp_path / "edited.npz"
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
    (set_path(["config", "neurons", "qk", "head_leak_shifts"], [1, 2, 3]), None, (),
     r"field 'config.neurons.qk.head_leak_shifts': expected an empty list or one shift per "
     r"head \(2\)"),
    (set_path(["config", "neurons", "qk", "head_leak_shifts"], [1, 16]), None, (),
     r"field 'config.neurons.qk.head_leak_shifts\[1\]': 16 is out of range"),
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
    # Arrays of a second block in a one-block file: the header and the arrays disagree.
    (None, {"b1_qk.weight": np.zeros((16, 32), np.int8)}, (),
     r"field 'b1_qk.weight': unknown field: not part of this network \(1 block, 16 channels\)"),
])
def test_schema_errors_name_the_field(saved, tmp_path, header, arrays, drop, message):
    _, path = saved
    edited = rewrite(path, tmp_path, header=header, arrays=arrays, drop=drop)
    with pytest.raises(ModelFileError, match=message) as info:
        modelfile.load(edited)
    assert str(edited) in str(info.value) and "\n" not in str(info.value)


def test_the_float_reference_is_whole_or_absent(saved, tmp_path):
    """A float reference missing an array was evaluated with that array at its random
    initial values, silently; a wrong shape stopped evaluation with a traceback."""
    _, path = saved
    with np.load(path) as npz:
        theta = npz["float.head.theta"]
        weight = npz["float.enc.w"]
    nan_weight = weight.copy()
    nan_weight.flat[0] = np.nan
    cases = [({}, ("float.enc.w",),
              r"'float.enc.w': missing \(the float reference is all or nothing\)"),
             ({"float.enc.w": weight[:3]}, (),
              rf"'float.enc.w': shape \(3, {weight.shape[1]}\), expected \({weight.shape[0]}, "),
             ({"float.enc.w": nan_weight}, (), r"'float.enc.w': holds NaN or infinite values"),
             ({"float.head.theta": -theta}, (), r"'float.head.theta': a threshold is not positive"),
             ({"float.bogus": np.zeros(3, np.float32)}, (),
              r"'float.bogus': unknown field: not part of this network's float reference")]
    for arrays, drop, message in cases:
        with pytest.raises(ModelFileError, match=message):
            modelfile.load(rewrite(path, tmp_path, arrays=arrays, drop=drop))
    with np.load(path) as npz:
        everything = [key for key in npz.files if key.startswith("float.")]
    assert modelfile.load(rewrite(path, tmp_path, drop=everything)).float_params == {}


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


# --- malformed files: every one a one-line ModelFileError, in every command ------------------

def _bad_crc(path, out):
    """Flip one byte of a stored array inside the archive: the zip's CRC no longer matches."""
    data = bytearray(path.read_bytes())
    at = data.index(b"enc.weight.npy") + 200
    data[at] ^= 0xFF
    out.write_bytes(bytes(data))


def _header_edit(edit):
    return lambda path, out: rewrite(path, None, header=edit, out=out)


def _set(keys, value):
    return _header_edit(set_path(keys, value))


#: name -> (writer(valid_path, out_path), message pattern)
MALFORMED = {
    "random-bytes": (lambda p, o: o.write_bytes(np.random.default_rng(0).bytes(4096)),
                     r"not a QKSpike model file \(not an \.npz \(zip\) archive\)"),
    "empty": (lambda p, o: o.write_bytes(b""), r"not a QKSpike model file \(an empty file\)"),
    "truncated": (lambda p, o: o.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
                  r"damaged or truncated archive"),
    "zip-header-only": (lambda p, o: o.write_bytes(p.read_bytes()[:100]),
                        r"damaged or truncated archive"),
    "bad-crc": (_bad_crc, r"damaged or truncated archive"),
    "pickled-object-array": (lambda p, o: np.savez(o, header=np.array([{"a": 1}], dtype=object)),
                             r"holds an object array"),
    "header-is-a-list": (_header_edit(lambda head: [head]),
                         r"field 'header': expected an object, not list"),
    "frontend-hop-0": (_set(["frontend", "hop"], 0), r"field 'frontend.hop': 0 is out of range"),
    "window-samples-not-a-number": (_set(["frontend", "window_samples"], "8000"),
                                    r"field 'frontend.window_samples': '8000' is out of range"),
    "neurons-qk-is-5": (_set(["config", "neurons", "qk"], 5),
                        r"field 'config.neurons.qk': expected an object, not int"),
    "config-is-a-list": (_set(["config"], [1, 2]), r"field 'config': expected an object"),
    "one-class": (_set(["config", "classes"], ["a"]),
                  r"field 'config.classes': expected a list of at least 2 distinct printable "
                  r"names"),
    "class-name-with-a-newline": (_set(["config", "classes"], ["a", "b\nc", "d"]),
                                  r"field 'config.classes': expected a list of at least 2 "
                                  r"distinct printable names"),
    "unknown-header-field": (_set(["colour"], "red"), r"field 'colour': unknown field"),
    "shift-of-a-layer-it-has-not": (_set(["shifts", "b7_o"], 1),
                                    r"field 'shifts.b7_o': unknown field"),
    "unknown-config-field": (_set(["config", "colour"], "red"),
                             r"field 'config.colour': unknown field"),
    "frontend-f-max-nan": (_set(["frontend", "f_max"], float("nan")),
                           r"field 'frontend.f_max': nan is not a finite number"),
}


@pytest.fixture(scope="module")
def malformed(saved, tmp_path_factory):
    _, path = saved
    folder = tmp_path_factory.mktemp("malformed")
    files = {}
    for name, (write, _) in MALFORMED.items():
        out = folder / f"{name}.npz"
        write(path, out)
        files[name] = out
    return files


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_are_one_line_errors(malformed, name):
    with pytest.raises(ModelFileError, match=MALFORMED[name][1]) as info:
        modelfile.load(malformed[name])
    message = str(info.value)
    assert message.startswith(f"{malformed[name]}: ") and "\n" not in message
    assert "allow_pickle" not in message


def test_huge_valid_models_stop_early_with_their_size():
    """A valid model far beyond every supported part is refused before elaboration."""
    from qkspike.hw.program import FitError, compile_program
    from qkspike.pymodel.model_config import ModelConfig
    from qkspike.pymodel.synthetic import integer_model
    config = ModelConfig(channels=1024, heads=4)
    model = integer_model(config, lambda n, shape, lo, hi: np.full(shape, max(lo, 0)),
                          lambda n: 0, weight_max=0, bias_max=0, theta_max=1)
    with pytest.raises(FitError, match=r"needs [\d,]+ bits of weight memory .* the largest "
                                       r"supported part, the xc7a200t"):
        compile_program(model, 16)
