"""cocotb testbench for the post-processor: chunks in with idle gaps, outputs recorded.

Job: ``layers``: each ``{"control": flat int, "clear": bool, "chunks": [flat payload, ...]}``;
``gaps``: idle cycles after each chunk, cycled. Inputs change at the falling edge and every
cycle's ``out`` is sampled there too. Results: ``outputs``, each ``out`` word seen with
``out_valid``, in order. The numerics live on the host (:mod:`pymodel.golden.postprocess`).
"""

from __future__ import annotations

import itertools

import cocotb
from cocotb.triggers import FallingEdge

from .common import load_job, port_unsigned, save_result, start_clock_and_reset


@cocotb.test()
async def post_process_chunks(dut):
    job = load_job()
    await start_clock_and_reset(dut)
    await FallingEdge(dut.clk)
    gaps = itertools.cycle(job["gaps"])
    outputs = []

    async def cycle():
        await FallingEdge(dut.clk)
        if int(dut.out_valid.value):
            outputs.append(port_unsigned(dut.out))

    for layer in job["layers"]:
        # The control holds through the layer and until the pipeline drains, as the
        # sequencer's descriptor does; `clear` only while nothing is in flight.
        dut.control.value = layer["control"]
        dut.clear.value = int(layer["clear"])
        await cycle()
        dut.clear.value = 0
        for payload in layer["chunks"]:
            dut.i__payload.value = payload
            dut.i__valid.value = 1
            await cycle()
            dut.i__valid.value = 0
            for _ in range(next(gaps)):
                await cycle()
        for _ in range(4):
            await cycle()
    save_result({"outputs": outputs})
