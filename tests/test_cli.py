"""The ``qkspike`` command line: output files, and one-line errors on bad input."""

import json
import re
import subprocess
import sys

import pytest

from qkspike.pymodel import modelfile
from qkspike.scripts.cli import main
from tests.conftest import exported_random_model, fsdd_test_clips, small_config


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory):
    _, model = exported_random_model(small_config())
    return modelfile.save(model, tmp_path_factory.mktemp("m") / "small.npz")


def test_verilog_writes_the_neuron_array(tmp_path):
    assert main(["verilog", "--block", "neuron-array", "--out", str(tmp_path), "--lanes", "4",
                 "--channels", "10"]) == 0
    info = json.loads((tmp_path / "neuron_array.json").read_text())
    assert info["lanes"] == 4 and info["chunks"] == 3 and info["latency_cycles"] == 2
    text = (tmp_path / "neuron_array.v").read_text()
    assert "module neuron_array" in text and "i__payload" in text


def test_verilog_writes_the_core_and_its_parameters(tmp_path, small_model_file):
    assert main(["verilog", "--model", str(small_model_file), "--out", str(tmp_path),
                 "--lanes", "8", "--engine-lanes", "8"]) == 0
    info = json.loads((tmp_path / "qkspike_core.json").read_text())
    assert info["lanes"] == 8 and [d["name"] for d in info["program"]][-1] == "head"
    assert info["memory_bits"]["weights"] == info["sizes"]["weight_rows"] * 8 * 8
    assert "module qkspike_core" in (tmp_path / "qkspike_core.v").read_text()


def test_verilog_writes_a_core_with_a_wider_engine(tmp_path, small_model_file):
    """--engine-lanes: weights in rows of E, the neurons' rows still of P."""
    assert main(["verilog", "--model", str(small_model_file), "--out", str(tmp_path),
                 "--lanes", "4", "--engine-lanes", "16"]) == 0
    info = json.loads((tmp_path / "qkspike_core.json").read_text())
    assert (info["lanes"], info["engine_lanes"]) == (4, 16)
    assert info["memory_bits"]["weights"] == info["sizes"]["weight_rows"] * 8 * 16
    assert info["memory_bits"]["thresholds"] == (info["sizes"]["neuron_rows"] * 4
                                                 * info["widths"]["threshold"])


def test_eval_reports_bad_files_and_goes_on(tmp_path, capsys):
    import shutil
    for clip in fsdd_test_clips()[:4]:
        shutil.copy(clip.path, tmp_path / clip.path.name)
    (tmp_path / "5_ann_1.wav").write_bytes(b"RIFF....WAVEjunk")
    assert main(["eval", "--data", str(tmp_path), "--json", str(tmp_path / "out.json"),
                 "--no-progress", "--no-torch"]) == 0
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["clips"] == 4 and len(result["bad_files"]) == 1
    assert "5_ann_1.wav" in capsys.readouterr().err


def test_console_command_is_installed():
    result = subprocess.run([sys.executable, "-m", "qkspike.scripts.cli", "--help"], capture_output=True,
                            text=True, check=True)
    for command in ("demo", "train", "eval", "report", "simulate", "verilog"):
        assert command in result.stdout


@pytest.mark.verilator
def test_simulate_writes_json_and_plot(tmp_path, capsys):
    out = tmp_path / "sim.json"
    assert main(["simulate", "--limit", "2", "--lanes", "16", "--json", str(out),
                 "--no-progress"]) == 0
    result = json.loads(out.read_text())
    assert result["clips"] == result["bit_exact"] == 2
    for key in ("accuracy", "cycles_mean", "cycles_max", "bound_mean", "dense_mean",
                "latency_us_at_100mhz", "layers", "decision_cycles_mean", "decision_cycles_max"):
        assert key in result
    assert result["cycles_mean"] < result["dense_mean"]
    # The decision waits for one time step and the head, not for the utterance.
    assert 0 < result["decision_cycles_mean"] <= result["decision_cycles_max"]
    assert result["decision_cycles_max"] < result["cycles_mean"] / 20
    assert (tmp_path / "sim.png").stat().st_size > 0


#: Every command that takes --model, with the other arguments it needs to get that far.
MODEL_COMMANDS = {
    "eval": [], "report": ["--out", "X/report"], "simulate": ["--limit", "1"],
    "verilog": ["--out", "X/v"], "synth": [], "board": ["--out", "X/plan"], "timing": [],
    "host": ["--port", "X/tty", "X/clip.wav"],
}


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_every_command_reports_every_malformed_model_in_one_line(command, capsys, tmp_path):
    """Each malformation of tests/test_model_file.py, through each command: exit 2 and
    ``qkspike <command>: error: <path>: <reason>``, never a traceback."""
    from tests.test_modelfile import MALFORMED
    _, model = exported_random_model(small_config())
    valid = modelfile.save(model, tmp_path / "valid.npz")
    for name, (write, pattern) in MALFORMED.items():
        bad = tmp_path / f"{name}.npz"
        write(valid, bad)
        extra = [str(tmp_path) + a[1:] if a.startswith("X") else a
                 for a in MODEL_COMMANDS[command]]
        assert main([command, "--model", str(bad), "--no-progress", *extra]
                    if command in ("eval", "report", "simulate")
                    else [command, "--model", str(bad), *extra]) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, (name, err)
        assert err.startswith(f"qkspike {command}: error: {bad}: "), (name, err)
        assert re.search(pattern, err), (name, err)


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"qkspike \S+", capsys.readouterr().out.strip())


def test_eval_holds_out_speakers_whole(tmp_path):
    clips = fsdd_test_clips()
    out = tmp_path / "held.json"
    root = clips[0].path.parent
    from qkspike.pymodel.datasets import read_fsdd
    held = read_fsdd(root).hold_out(["george", "lucas"])
    assert len(held.split("test")) == 1000 and len(held.split("train")) == 2000
    assert {clip.speaker for clip in held.split("test")} == {"george", "lucas"}
    assert main(["eval", "--data", str(root), "--holdout-speakers", "george,lucas",
                 "--limit", "20", "--no-progress", "--no-torch", "--json", str(out)]) == 0
    paths = [p["path"] for p in json.loads(out.read_text())["predictions"]]
    assert len(paths) == 20 and {p.split("_")[-2] for p in paths} == {"george", "lucas"}
