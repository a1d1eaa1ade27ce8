"""Every subcommand, given bad arguments, exits with status 2 and one line on stderr:
``qkspike <command>: error: ...``, never a traceback (batch commands first name each file
they skipped, one line each).

``X`` at the start of an argument stands for a fresh temporary folder holding ``a-file``
(an existing file where a folder is wanted), ``a-folder`` (an existing folder where a file
is wanted) and ``empty`` (an empty folder).
"""

import os
import re

import pytest

from qkspike.scripts.cli import COMMANDS, main

CASES = {
    "demo": [(["--rtl-clips", "0"], "--rtl-clips must be in 1..300, not 0"),
             (["--lanes", "-1"], "--lanes must be at least 1, not -1")],
    "train": [(["--data", "X/missing", "--out", "X/m.npz"], "no such folder|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/a-folder"], "is a folder|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--float-epochs", "-1"],
               "at least one epoch|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--threads", "0"],
               "--threads must be at least 1|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--augment", "pitch"],
               "argument --augment: invalid choice: 'pitch'"),
              (["--data", "X/empty", "--out", "X/m.npz", "--stride", "3"],
               "--stride 3 does not divide the 100 frames|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--stride", "4", "--kernel", "2"],
               "--kernel 2 is below --stride 4|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--rate-penalty", "-0.5"],
               "--rate-penalty must be 0 or more|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--head-leaks", "1,2"],
               "--head-leaks must be 4 shifts in 0..15|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--blocks", "0"],
               "--blocks must be 1 to 64, not 0|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--hop", "150"],
               "--hop must be an even divisor of the 8000-sample window|needs PyTorch"),
              (["--data", "X/empty", "--out", "X/m.npz", "--hop", "160", "--stride", "4"],
               "--stride 4 does not divide the 50 frames|needs PyTorch")],
    "sweep": [(["--out", "X/s"], "nothing to sweep"),
              (["--out", "X/s", "--models", "X/missing.npz"], "missing.npz: no such model file"),
              (["--out", "X/s", "--models", "X/a-file"], "not a QKSpike model file"),
              (["--out", "X/s", "--stride", "2,x"], "--stride: not a comma-separated list"),
              (["--out", "X/s", "--stride", "6"], "--stride 6 does not divide"),
              (["--out", "X/s", "--hop", "0", "--stride", "2"], "--hop must be at least 1"),
              (["--out", "X/s", "--stride", "2", "--lanes", "16,0"], "--lanes must be at least 1"),
              (["--out", "X/a-file", "--stride", "2"], "exists and is not a folder|needs PyTorch"),
              (["--out", "X/s", "--stride", "2", "--holdout-speakers", "nobody"],
               "no speaker\\(s\\) nobody|needs PyTorch")],
    "compare": [(["--candidate", "X/empty", "--reference", "X/empty"], "empty: no crossval.json"),
                (["--candidate", "X/a-file", "--reference", "X/empty"],
                 "a-file: not a crossval summary"),
                (["--candidate", ",", "--reference", "X/empty"], "--candidate names no"),
                (["--candidate", "X/empty"], "the following arguments are required: --reference"),
                (["--candidate", "X/empty", "--reference", "X/empty", "--json", "X/a-folder"],
                 "is a folder; give a file name for --json")],
    "crossval": [(["--out", "X/a-file"], "exists and is not a folder|needs PyTorch"),
                 (["--out", "X/cv", "--threads", "0"], "--threads must be at least 1|needs PyTorch"),
                 (["--out", "X/cv", "--qat-epochs", "-1"], "at least one epoch|needs PyTorch"),
                 (["--out", "X/cv", "--speakers", "nobody"], "no speaker\\(s\\) nobody|needs PyTorch"),
                 (["--speakers", "ann"], "the following arguments are required: --out"),
                 (["--out", "X/cv", "--augment", "none"], "argument --augment: invalid choice"),
                 (["--out", "X/cv", "--head-leaks", "1,2,3,x"],
                  "--head-leaks must be 4 integers separated by commas|needs PyTorch"),
                 (["--out", "X/cv", "--blocks", "65"],
                  "--blocks must be 1 to 64, not 65|needs PyTorch")],
    "classify": [(["X/missing.wav"], "missing.wav: no such file"),
                 (["X/a-folder"], "a-folder: a folder, not an audio file"),
                 (["X/a-file"], "not a readable audio file"),
                 (["X/a-file", "--lanes", "0"], "--lanes must be at least 1"),
                 (["X/a-file", "X/missing.wav"], "none of the 2 files could be used")],
    "eval": [(["--data", "X/missing"], "no such folder"),
             (["--holdout-speakers", "nobody"], r"no speaker\(s\) nobody; the speakers are"),
             (["--holdout-speakers", ","], "needs at least one speaker name"),
             (["--data", "X/a-file"], "not a folder"),
             (["--data", "X/empty"], "no FSDD clips"),
             (["--limit", "0"], "--limit must be at least 1, not 0"),
             (["--json", "X/a-folder", "--limit", "1"], "a-folder: is a folder"),
             (["--model", "X/none.npz"], "no such model file"),
             (["--split", "nope"], "invalid choice: 'nope'")],
    "report": [(["--limit", "-2"], "--limit must be at least 1, not -2"),
               (["--raster-clip", "-1"], "--raster-clip must be at least 0, not -1"),
               (["--raster-clip", "3", "--limit", "3", "--out", "X/r", "--no-progress"],
                r"--raster-clip must be in 0..2 \(the clips evaluated\), not 3"),
               (["--out", "X/a-file", "--limit", "1"], "a-file: exists and is not a folder")],
    "simulate": [(["--lanes", "0"], "--lanes must be at least 1, not 0"),
                 (["--lanes", "8", "--engine-lanes", "12"],
                  r"--engine-lanes must be a multiple of --lanes \(8\), not 12"),
                 (["--engine-lanes", "0"], "--engine-lanes must be at least 1, not 0"),
                 (["--batch", "0"], "--batch must be at least 1, not 0"),
                 (["--jobs", "-3"], "--jobs must be at least 1, not -3"),
                 (["--json", "X/a-folder"], "a-folder: is a folder"),
                 (["--limit", "1", "--no-progress", "--scheduler", "tcp://127.0.0.1:9"],
                  "cannot reach the Dask scheduler|needs Dask")],
    "verilog": [(["--out", "X/a-file"], "a-file: exists and is not a folder"),
                (["--out", "X/v", "--lanes", "0"], "--lanes must be at least 1, not 0"),
                (["--out", "X/v", "--block", "neuron-array", "--engine-lanes", "32"],
                 "--engine-lanes is for the core"),
                (["--out", "X/v", "--block", "neuron-array", "--channels", "0"],
                 "--channels must be at least 1, not 0"),
                (["--out", "X/v", "--block", "neuron-array", "--levels", "9"],
                 r"levels must be an integer in 1\.\.7, not 9"),
                (["--out", "X/v", "--model", "X/none.npz"], "no such model file")],
    "synth": [(["--lanes", "0"], "--lanes must be at least 1, not 0"),
              (["--engine-lanes", "8"], r"--engine-lanes must be a multiple of --lanes \(16\)"),
              (["--engine-lanes", "512"], "--engine-lanes must be at most 256, not 512"),
              (["--json", "X/a-folder"], "a-folder: is a folder"),
              (["--part", "xc7z020"], "invalid choice: 'xc7z020'")],
    "board": [(["--out", "X/a-file"], "a-file: exists and is not a folder"),
              (["--out", "X/plan", "--baud", "0"], "--baud must be at least 1, not 0"),
              (["--out", "X/plan", "--board", "de10"], "invalid choice: 'de10'"),
              (["--lanes", "0"], "the following arguments are required: --out")],
    "timing": [(["--lanes", "0"], "--lanes must be at least 1, not 0"),
               (["--engine-lanes", "24"], r"--engine-lanes must be a multiple of --lanes"),
               (["--part", "LFE5U-25F", "--lanes", "8"],
                "the core needs 64 multipliers \\(one per engine lane\\); the LFE5U-25F has 28"),
               (["--paths", "0"], "--paths must be at least 1, not 0"),
               (["--part", "LFE5UM5G-85F", "--speed", "6"],
                "LFE5UM5G-85F comes in speed grade 8 only, not 6"),
               (["--part", "xc7a35t", "--speed", "8"], "--speed is for ECP5 parts"),
               (["--part", "xc7a35t", "--net-ns", "-1"], "--net-ns must lie in 0..5 ns"),
               (["--part", "LFE5U-85F", "--target-mhz", "0"],
                "--target-mhz must be at least 1, not 0"),
               (["--json", "X/a-folder"], "a-folder: is a folder"),
               (["--part", "ice40"], "invalid choice: 'ice40'")],
    "host": [(["--port", "X/no-tty", "X/a-file"], "cannot open"),
             (["--port", "X/no-tty", "--baud", "0", "X/a-file"], "--baud must be at least 1"),
             (["--port", "X/no-tty", "--timeout", "0", "X/a-file"],
              "--timeout must be positive")],
    "data": [(["fetch", "--jobs", "0"], "--jobs must be at least 1, not 0"),
             (["fetch", "--dest", "X/a-file"], "a-file: exists and is not a folder"),
             (["fetch", "--dest", "X/fsdd", "--url", "file:///nonexistent/", "--no-progress"],
              "3000 of 3000 files failed"),
             (["fetch", "imagenet"], "invalid choice: 'imagenet'")],
}


def test_every_subcommand_has_bad_argument_cases():
    assert set(CASES) == set(COMMANDS)


@pytest.mark.parametrize("command, argv, message", [
    (command, argv, message) for command, cases in CASES.items() for argv, message in cases])
def test_bad_arguments_give_one_line_errors(command, argv, message, tmp_path, capsys):
    (tmp_path / "a-file").write_text("an existing file\n")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "empty").mkdir()
    argv = [str(tmp_path) + a[1:] if a.startswith("X") else a for a in argv]
    try:
        status = main([command, *argv])
    except SystemExit as done:          # argparse's own errors
        status = done.code
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    # Batch commands name each unusable file on its own "skipped:" line before the error.
    assert all(line.startswith("skipped: ") for line in lines[:-1]), lines
    assert lines[-1].startswith(f"qkspike {command}: error: "), lines
    assert re.search(message, lines[-1]), lines


def test_an_empty_data_folder_says_how_to_fetch_the_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QKSPIKE_DATA", str(tmp_path))
    assert main(["demo", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "qkspike data fetch fsdd" in err and str(tmp_path) in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads folders whatever their permissions")
def test_an_unreadable_data_folder_is_one_line(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        assert main(["eval", "--data", str(locked), "--no-progress"]) == 2
    finally:
        locked.chmod(0o755)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Permission denied" in err
