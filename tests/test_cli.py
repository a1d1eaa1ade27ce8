"""The ``qkspike`` command line: output files, and one-line errors on bad input."""

import json
import subprocess
import sys

import pytest

from scripts.cli import main


def test_verilog_writes_design_and_parameters(tmp_path):
    assert main(["verilog", "--out", str(tmp_path), "--lanes", "4", "--channels", "10"]) == 0
    info = json.loads((tmp_path / "neuron_array.json").read_text())
    assert info["lanes"] == 4 and info["chunks"] == 3 and info["latency_cycles"] == 2
    text = (tmp_path / "neuron_array.v").read_text()
    assert "module neuron_array" in text and "i__payload" in text


@pytest.mark.parametrize("argv, message", [
    (["verilog", "--out", "X", "--levels", "9"], r"levels must be an integer in 1\.\.7, not 9"),
    (["verilog", "--out", "X", "--lanes", "0"], "lanes must be an integer >= 1, not 0"),
])
def test_bad_arguments_give_one_line_errors(argv, message, capsys, tmp_path):
    argv[argv.index("X")] = str(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"qkspike {argv[0]}: error: ")
    import re
    assert re.search(message, err)


def test_console_command_is_installed():
    result = subprocess.run([sys.executable, "-m", "scripts.cli", "--help"], capture_output=True,
                            text=True, check=True)
    assert "verilog" in result.stdout and "demo" in result.stdout
