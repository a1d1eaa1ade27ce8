"""cocotb testbench: the Verilog sparse engine against golden chunk results.

Job: ``lanes``, ``accumulator_bits``, ``layer_fields`` (name, width, offset of the layer
struct), ``jobs`` (each: ``layer`` dict, ``vector``, its ``nonzero`` flags, ``expected``
chunks), ``ready`` (output backpressure pattern).
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from .common import (first_mismatch, load_job, port_unsigned, save_result,
                     start_clock_and_reset)
from .packing import pack_lanes, unpack_lanes
from .streams import pattern


def pack_struct(fields, values) -> int:
    word = 0
    for name, width, offset in fields:
        word |= (int(values[name]) & ((1 << width) - 1)) << offset
    return word


@cocotb.test()
async def sparse_engine_matches_golden(dut):
    job = load_job()
    lanes, bits = job["lanes"], job["accumulator_bits"]
    acc_width = lanes * bits
    await start_clock_and_reset(dut)
    dut.start.value = 0
    dut.o__ready.value = 0
    readiness = pattern(job["ready"])
    for number, case in enumerate(job["jobs"]):
        dut.layer.value = pack_struct(job["layer_fields"], case["layer"])
        dut.vector.value = pack_lanes(case["vector"], 8)
        dut.nonzero.value = case["nonzero"]
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        chunks = []
        while True:
            take = next(readiness)
            dut.o__ready.value = take
            await ReadOnly()
            if take and dut.o__valid.value:
                word = port_unsigned(dut.o__payload)
                chunks.append(unpack_lanes(word & ((1 << acc_width) - 1), bits, lanes,
                                           signed=True))
                last = (word >> (acc_width + job["chunk_bits"])) & 1
                await RisingEdge(dut.clk)
                if last:
                    break
            else:
                await RisingEdge(dut.clk)
        dut.o__ready.value = 0
        problem = first_mismatch(f"job {number} chunks", case["expected"], chunks)
        if problem:
            raise AssertionError(problem)
    save_result({"jobs": len(job["jobs"])})
