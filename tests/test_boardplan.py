"""``qkspike board`` (the Vivado build plan) and ``qkspike synth`` (Yosys resources)."""

import json
import re

import pytest
from amaranth.back import verilog

from qkspike.hw.core import Core
from qkspike.hw.program import compile_program
from qkspike.hw.synthesis import PARTS, Part, fits, parse_cells, synthesize
from qkspike.pymodel import modelfile
from qkspike.pymodel.targets import default_engine_lanes
from qkspike.scripts.cli import main
from tests.conftest import exported_random_model, small_config


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory):
    _, model = exported_random_model(small_config())
    return modelfile.save(model, tmp_path_factory.mktemp("m") / "small.npz")


def test_board_plan_has_everything_vivado_needs(tmp_path, small_model_file, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")      # no Vivado here, whatever the machine
    out = tmp_path / "plan"
    assert main(["board", "--board", "arty-a7-35", "--model", str(small_model_file),
                 "--out", str(out), "--lanes", "4"]) == 0
    info = json.loads((out / "qkspike_board.json").read_text())
    for name in ("qkspike.v", "qkspike.xdc", "qkspike.tcl", "build_qkspike.sh"):
        assert name in info["files"], name
    assert info["device"].startswith("xc7a35t")
    xdc = (out / "qkspike.xdc").read_text()
    for pin in ("E3", "A9", "D10", "H5"):          # clock, UART rx and tx, LED 0
        assert pin in xdc, pin
    design = (out / "qkspike.v").read_text()
    # The weights are in the bitstream: every row of the model's weight memory (rows of the
    # engine's lanes, 64 behind 4 neuron lanes by default) is in the Verilog's initial
    # values, lane 0 in the low byte.
    rows = compile_program(modelfile.load(small_model_file), 4,
                           engine_lanes=default_engine_lanes(4)).weight_rows
    assert rows.shape[1] == 64
    initial = {int(index): int(value, 16 if base == "h" else 10) for index, base, value in
               re.findall(r"\bweights\[(\d+)\] = 512'([hd])([0-9a-fA-F]+);", design)}
    for index, row in enumerate(rows):
        word = sum((int(w) & 0xFF) << (8 * lane) for lane, w in enumerate(row))
        assert initial.get(index) == word, f"weight row {index}"
    tcl = (out / "qkspike.tcl").read_text()
    assert "add_files qkspike.v" in tcl and "read_xdc qkspike.xdc" in tcl
    assert "write_bitstream" in tcl and "xc7a35ticsg324" in tcl
    assert main(["board", "--model", str(small_model_file), "--out", str(out), "--lanes",
                 "4", "--build"]) == 2


def test_cell_counts_become_resources():
    report = parse_cells({"LUT6": 10, "LUT2": 5, "RAM64M": 2, "SRLC32E": 3, "FDRE": 40,
                          "FDSE": 2, "RAMB36E1": 3, "RAMB18E1": 3, "DSP48E1": 4})
    assert report["LUT"] == 15 + 8 + 3 and report["FF"] == 42
    assert report["BRAM36"] == 4.5 and report["DSP"] == 4
    assert fits(report, Part("tiny", 20, 100, 10, 10)) == ["LUT 26 > 20"]


def test_synthesis_of_a_small_core_reports_resources(tmp_path, small_model_file):
    core = Core(modelfile.load(small_model_file), lanes=4)
    report = synthesize(verilog.convert(core, name="qkspike_core"), "qkspike_core",
                        PARTS["xc7a35t"], workdir=tmp_path, timing_paths=3)
    assert report["fits"] and report["LUT"] > 100 and report["FF"] > 100
    assert report["DSP"] >= 1                       # the 8-bit factor path
    assert report["logic_levels"] > 0
    # The timing estimate of the same netlist: three distinct endpoints, slowest first,
    # each traced from a register, RAM or port and labelled an estimate.
    estimate = report["timing_estimate"]
    paths = estimate["paths"]
    assert "estimate" in estimate["kind"] and len(paths) == 3
    assert [p["estimated_ns"] for p in paths] == sorted((p["estimated_ns"] for p in paths),
                                                        reverse=True)
    assert len({p["end"] for p in paths}) == 3
    assert all(p["logic_levels"] >= 1 and p["nets"] >= 1 for p in paths)
    assert 1 < estimate["critical_ns"] < 20


def test_synth_says_when_the_model_does_not_fit(small_model_file, capsys, monkeypatch):
    import qkspike.hw.synthesis as synthesis
    monkeypatch.setitem(synthesis.PARTS, "xc7a35t", Part("xc7a35t", 20_800, 41_600, 0, 90))
    assert main(["synth", "--model", str(small_model_file), "--lanes", "4"]) == 2
    assert "do not fit the xc7a35t's 0 BRAM36" in capsys.readouterr().err


def test_ecpix5_plan_uses_the_open_flow(tmp_path, small_model_file):
    """The ECPIX-5 plan: the 100 MHz oscillator, the FTDI UART and the green LEDs in the LPF,
    abc instead of abc9 for the LUTs (a Yosys assertion), and a bitstream even when timing
    fails."""
    out = tmp_path / "ecpix5"
    assert main(["board", "--board", "ecpix5-85", "--model", str(small_model_file),
                 "--out", str(out), "--lanes", "4"]) == 0
    script = (out / "build_qkspike.sh").read_text()
    assert "--timing-allow-fail" in script and "--um5g-85k" in script and "--speed 8" in script
    script_ys = (out / "qkspike.ys").read_text()
    assert "synth_ecp5 -run begin:map_luts" in script_ys and "abc -lut 4:7" in script_ys
    lpf = (out / "qkspike.lpf").read_text()
    assert "FREQUENCY PORT \"clk100_0__io\" 100000000" in lpf
    for port in ("uart_0__rx__io", "uart_0__tx__io", "rgb_led_0__g__io", "rgb_led_3__g__io"):
        assert port in lpf, port
    info = json.loads((out / "qkspike_board.json").read_text())
    assert info["device"] == "LFE5UM5G-85FBG554-8" and info["toolchain"].startswith("Trellis")


def test_timing_places_and_routes_a_small_core_on_an_ecp5(tmp_path, small_model_file):
    """``qkspike timing`` end to end on the open flow: a post-route Fmax, the critical path
    of the clock (its delay is the clock period the Fmax stands for), JSON and table."""
    out = tmp_path / "timing.json"
    # The 25F has 28 multipliers: an engine as wide as the 4 lanes, not the default 64. A
    # fixed placer seed: with nextpnr's default one, router1 stopped converging on this
    # netlist when the engine began taking `start` at the end of the walk (still 500 arcs
    # overused after 9 minutes of routing; seeds 0 and 2 route it in about 2 minutes).
    assert main(["timing", "--model", str(small_model_file), "--lanes", "4",
                 "--engine-lanes", "4", "--part", "LFE5U-25F", "--speed", "6", "--target-mhz", "50", "--json", str(out),
                 "--workdir", str(tmp_path / "work"), "--seed", "2"]) == 0
    report = json.loads(out.read_text())
    assert (report["part"], report["speed"], report["target_mhz"], report["seed"]) == (
        "LFE5U-25F", 6, 50, 2)
    assert 10 < report["fmax_mhz"] < 400
    assert report["timing_met"] == (report["fmax_mhz"] >= 50)
    register_to_register = [p for p in report["paths"]
                            if p["from_clock"] == p["to_clock"] != "<async>"]
    worst = register_to_register[0]
    assert worst["total_ns"] == pytest.approx(1000 / report["fmax_mhz"], rel=0.05)
    assert worst["logic_ns"] > 0 and worst["routing_ns"] > 0 and worst["sources"]
    assert "MULT18X18D" in report["utilisation"]
    table = out.with_suffix(".md").read_text()
    assert "post-route timing (place-and-route, measured)" in table and "LFE5U-25F-6" in table
