"""The design-space sweep: its grid, its Pareto front, its report, and the command run on the
shipped model (the RTL under Verilator); training a point is in tests/test_train.py."""

import json

import pytest

from qkspike.pymodel import modelfile
from qkspike.scripts.cli import main
from qkspike.sim.sweep import (Point, format_sweep, grid, lane_key, pareto_front,
                               parse_lane_key, plot_sweep)


def test_grid_names_every_stride_and_penalty_pair():
    points = grid([2, 4], [0, 0.5])
    assert [p.name for p in points] == ["s2_k3_r0", "s2_k3_r0.5", "s4_k5_r0", "s4_k5_r0.5"]
    stacked = grid([4], [1], kernel=lambda s: s)
    assert stacked == [Point("s4_k4_r1", 4, 4, 1.0)]
    assert [p.steps for p in points] == [50, 50, 25, 25]
    # Another front end's hop: its name says so, and its frames (50 at hop 160) set the steps.
    longer_hop = grid([5], [0.5], kernel=lambda s: s, hop=160)
    assert longer_hop == [Point("h160_s5_k5_r0.5", 5, 5, 0.5, hop=160)]
    assert longer_hop[0].steps == 10
    # Block counts: one point per depth, named when it is not the model's default.
    depths = grid([4], [0.5], kernel=lambda s: s, blocks=[1, 2])
    assert depths == [Point("b1_s4_k4_r0.5", 4, 4, 0.5, blocks=1), Point("s4_k4_r0.5", 4, 4, 0.5)]


def test_pareto_front_keeps_only_the_rows_nothing_beats():
    rows = [{"cycles_mean": 100, "accuracy": 0.90},
            {"cycles_mean": 200, "accuracy": 0.95},
            {"cycles_mean": 150, "accuracy": 0.85},     # dearer and worse than row 0
            {"cycles_mean": 300, "accuracy": 0.95},     # as good as row 1, dearer
            {"cycles_mean": 400, "accuracy": 0.99}]
    assert pareto_front(rows) == [0, 1, 4]


def _result(rows):
    return {"holdout": ["theo"], "rows": rows}


def _row(name, stride, penalty, accuracy, cycles, lanes=16, **hw):
    return {"point": {"name": name, "stride": stride, "kernel": stride + 1,
                      "rate_penalty": penalty, "model": None},
            "test": {"accuracy": accuracy, "float_accuracy": accuracy, "clips": 300},
            "holdout_accuracy": 0.8,
            "lanes": {lanes: {"rtl": {"clips": 300, "bit_exact": 300, "accuracy": accuracy,
                                      "cycles_mean": cycles, "cycles_max": 2 * cycles,
                                      "decision_cycles_mean": 200,
                                      "decision_cycles_max": 250}, **hw}}}


def test_table_and_plot_show_every_point_and_mark_the_front(tmp_path):
    result = _result([_row("a", 2, 0, 0.99, 30000, resources={"LUT": 1, "FF": 2,
                                                              "BRAM36": 3.5, "DSP": 4},
                           timing={"fmax_mhz": 106.55}),
                      _row("b", 4, 1, 0.98, 10000), _row("c", 4, 2, 0.97, 12000)])
    table = format_sweep(result).splitlines()
    assert "held-out (theo)" in table[0]
    assert table[2].startswith("| a | 50 | 2 | 0 | 16 | 99.00 |")   # an old record: 2 blocks
    assert "| 1 | 2 | 3.5 | 4 | 106.5 | yes |" in table[2]
    assert table[3].endswith("| - | - | - | - | - | yes |")      # b: cheaper, on the front
    assert table[4].endswith("| - | - | - | - | - |  |")         # c: b beats it
    plot_sweep(result, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def test_an_engine_wider_than_the_lanes_is_its_own_row(tmp_path):
    """``--lanes 16:64``: 16 neuron lanes behind 64 engine lanes, named so in the table."""
    result = _result([_row("a", 4, 0.5, 0.99, 6000, lanes="16:64"),
                      _row("a", 4, 0.5, 0.99, 12000, lanes="16")])
    table = format_sweep(result).splitlines()
    assert table[2].startswith("| a | 25 | 2 | 0.5 | 16:64 | 99.00 |")
    plot_sweep(result, tmp_path / "s.png")
    assert parse_lane_key("16:64") == (16, 64) and parse_lane_key(16) == (16, 16)
    assert lane_key(16, 16) == "16" and lane_key(16, 64) == "16:64"


@pytest.mark.parametrize("argv, message", [
    ([], "nothing to sweep"),
    (["--stride", "3"], "--stride 3 does not divide the 100 frames"),
    (["--stride", "4", "--kernel-overlap", "-1"], "--kernel-overlap must be 0 or more"),
    (["--rate-penalty", "x"], "--rate-penalty: not a comma-separated list of numbers"),
    (["--blocks", "1,0"], "--blocks must be 1 to 64, not 0"),
    (["--rate-penalty", "-1"], "--rate-penalty must be 0 or more"),
    (["--stride", "2", "--lanes", "0"], "--lanes must be at least 1"),
    (["--stride", "2", "--lanes", "16:24"], "--lanes 16:24: the engine lanes must be a multiple"),
    (["--stride", "2", "--lanes", "16:x"], "--lanes: not a comma-separated list of P or P:E"),
    (["--stride", "2", "--float-epochs", "0", "--qat-epochs", "0"], "train for at least one"),
])
def test_sweep_rejects_bad_arguments_in_one_line(tmp_path, capsys, argv, message):
    assert main(["sweep", "--out", str(tmp_path / "s")] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_sweep_refuses_two_points_of_one_name(tmp_path, capsys):
    shipped = str(modelfile.default_model_path())
    assert main(["sweep", "--out", str(tmp_path / "s"), "--models",
                 f"{shipped},{shipped}"]) == 2
    assert "two points share a name" in capsys.readouterr().err


@pytest.mark.verilator
def test_sweep_of_the_shipped_model_runs_the_rtl_and_resumes(tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["sweep", "--out", str(out), "--models", str(modelfile.default_model_path()),
            "--lanes", "16", "--limit", "2", "--jobs", "1", "--no-progress"]
    assert main(argv) == 0
    result = json.loads((out / "sweep.json").read_text())
    (row,) = result["rows"]
    rtl = row["lanes"]["16"]["rtl"]
    assert rtl["clips"] == rtl["bit_exact"] == 2
    assert 0 < rtl["decision_cycles_mean"] < rtl["cycles_mean"] <= rtl["cycles_max"]
    assert row["test"]["clips"] == 300 and row["test"]["accuracy"] > 0.9
    assert (out / "sweep.png").stat().st_size > 0 and "| yes |" in (out / "sweep.md").read_text()
    capsys.readouterr()
    assert main(argv) == 0                       # everything is on disk: nothing runs again
    assert "RTL simulation" not in capsys.readouterr().out


def test_a_stored_result_is_reused_only_for_the_model_it_was_made_from(tmp_path):
    from qkspike.sim.sweep import _cached, _store
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    first.write_bytes(b"one model")
    second.write_bytes(b"another model")
    _store(tmp_path / "P16_rtl.json", {"cycles_mean": 1.0}, str(first))
    assert _cached(tmp_path / "P16_rtl.json", str(first)) == {"cycles_mean": 1.0}
    assert _cached(tmp_path / "P16_rtl.json", str(second)) is None     # retrained: run again
    assert _cached(tmp_path / "P32_rtl.json", str(first)) is None       # never run
