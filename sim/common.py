"""What every cocotb testbench here shares: the job file, the clock and reset, the results."""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from .compare import first_mismatch
from .runner import JOB_ENV, RESULT_ENV

__all__ = ["load_job", "save_result", "start_clock_and_reset", "first_mismatch", "as_unsigned",
           "port_unsigned"]


def load_job() -> dict[str, Any]:
    """The job the pytest side (or the CLI) wrote for this simulation."""
    with open(os.environ[JOB_ENV]) as handle:
        return json.load(handle)


def save_result(result: dict[str, Any]) -> None:
    with open(os.environ[RESULT_ENV], "w") as handle:
        json.dump(result, handle)


async def start_clock_and_reset(dut, cycles: int = 2, *, clock: str = "clk",
                                reset: Optional[str] = "rst", period_ns: float = 10):
    """A ``period_ns`` clock on port ``clock``; the synchronous active-high ``reset`` port held
    for ``cycles`` edges (``reset=None``: a top without one, such as a board top that resets
    at power-on, just runs ``cycles`` edges). Returns the clock's handle."""
    handle = getattr(dut, clock)
    cocotb.start_soon(Clock(handle, period_ns, unit="ns").start())
    if reset is not None:
        getattr(dut, reset).value = 1
    for _ in range(cycles):
        await RisingEdge(handle)
    if reset is not None:
        getattr(dut, reset).value = 0
    return handle


def as_unsigned(value) -> int:
    """A port's value as an unsigned integer, whatever its width.

    cocotb 2 reads a 1-bit port as a ``Logic`` (no ``to_unsigned``) and a wider one as a
    ``LogicArray``; both convert with ``int()``, which is what every testbench uses.
    """
    return int(value)


def port_unsigned(handle) -> int:
    """``as_unsigned(handle.value)``: the port's current value."""
    return as_unsigned(handle.value)
