"""Host side of the board check (cocotb side: :mod:`sim.tb_board`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from amaranth.back import verilog

from qkspike.hw.board import BoardTop, LinkTop
from qkspike.pymodel.modelfile import IntegerModel
from qkspike.pymodel.targets import BOARDS, board_platform

from .runner import build_verilog, run_testbench

__all__ = ["run_board", "board_netlist"]

#: LinkTop's own ports, for the testbench (the board tops name theirs after the pins).
LINK_PINS = {"clk": "clk", "rst": "rst", "rx": "rx", "tx": "tx", "leds": ["leds"],
             "leds_inverted": False}


def board_netlist(model: IntegerModel, board: str, *, lanes: int, divisor: int
                  ) -> tuple[str, dict]:
    """The Verilog of ``board``'s top exactly as its platform builds it (pin buffers and
    reset synchroniser included; the UART at ``divisor`` cycles per bit of the board's
    clock), with behavioural models of the vendor cells, and the testbench's pin map."""
    platform = board_platform(board)
    row = BOARDS[board]
    if not row.toolchain.startswith("Trellis"):
        raise ValueError(f"{board}: only the ECP5 boards' tops can be simulated (the Xilinx "
                         f"primitives have no models here)")
    clock = platform.default_clk_frequency
    top = BoardTop(model, board=row, lanes=lanes, baud=round(clock / divisor))
    plan = platform.prepare(top, name="qkspike", debug_verilog=True)
    design = plan.files["qkspike.debug.v"]
    design = design if isinstance(design, str) else design.decode()
    cells = (Path(__file__).with_name("ecp5_cells.v")).read_text()
    uart, number = row.uart
    led, subsignal = row.led
    pins = {"clk": f"{platform.default_clk}_0__io", "rst": None,
            "rx": f"{uart}_{number}__rx__io", "tx": f"{uart}_{number}__tx__io",
            "leds": [f"{led}_{i}__{subsignal}__io" if subsignal else f"{led}_{i}__io"
                     for i in range(row.leds)],
            "leds_inverted": _leds_inverted(platform, led, subsignal),
            "clock_ns": 1e9 / clock}
    return design + "\n" + cells, pins


def _leds_inverted(platform, name: str, subsignal: Optional[str]) -> bool:
    """Whether the board's LED pins are active-low (``PinsN``, or ``invert=True``)."""
    node = platform.lookup(name, 0)
    if subsignal:
        node = next(io for io in node.ios if getattr(io, "name", None) == subsignal)
    pins = next(io for io in node.ios if hasattr(io, "invert"))
    return bool(pins.invert)


def run_board(model: IntegerModel, utterances: Sequence[np.ndarray], corrupt: Sequence[bytes],
              *, lanes: int = 16, divisor: int = 8, board: Optional[str] = None) -> dict:
    """Drive a :class:`LinkTop` (or, with ``board``, that board's whole top on its pins)
    through its UART; return every reply it sent."""
    if board is None:
        top = LinkTop(model, lanes=lanes, divisor=divisor)
        build = build_verilog(verilog.convert(top, name="qkspike_link_top"),
                              "qkspike_link_top", label=f"P{lanes}-div{divisor}")
        pins = LINK_PINS
    else:
        design, pins = board_netlist(model, board, lanes=lanes, divisor=divisor)
        build = build_verilog(design, "qkspike", label=f"{board}-P{lanes}-div{divisor}")
    job = {"divisor": divisor, "classes": len(model.config.classes), "pins": pins,
           "clips": [np.asarray(u, dtype=np.int64).reshape(-1).tolist() for u in utterances],
           "corrupt": [bytes(raw).hex() for raw in corrupt]}
    result = run_testbench(build, "qkspike.sim.tb_board", job, quiet=True)
    for group in ("corrupt", "clips"):
        for entry in result[group]:
            for reply in (entry.values() if group == "clips" else [entry]):
                reply["payload"] = bytes.fromhex(reply["payload"])
    for key in ("ping", "stats"):
        result[key]["payload"] = bytes.fromhex(result[key]["payload"])
    return result
