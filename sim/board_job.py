"""Host side of the board check (cocotb side: :mod:`sim.tb_board`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from amaranth.back import verilog

from qkspike.hw.board import LinkTop
from qkspike.pymodel.modelfile import IntegerModel

from .runner import build_verilog, run_testbench

__all__ = ["run_board"]


def run_board(model: IntegerModel, utterances: Sequence[np.ndarray], corrupt: Sequence[bytes],
              *, lanes: int = 16, divisor: int = 8) -> dict:
    """Drive a :class:`LinkTop` through its UART pins; return every reply it sent."""
    top = LinkTop(model, lanes=lanes, divisor=divisor)
    build = build_verilog(verilog.convert(top, name="qkspike_link_top"), "qkspike_link_top",
                          label=f"P{lanes}-div{divisor}")
    job = {"divisor": divisor, "classes": len(model.config.classes),
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
