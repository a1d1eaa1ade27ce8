"""cocotb testbenches for the head blocks; record-only (the host compares with golden).

``logits_output``: job ``writes`` (chunk, P accumulators), ``classes``, ``ready`` pattern;
records the streamed (index, logit, last) words and ``predicted``.
``spike_counts``: job ``adds`` (chunk, P spikes, clear); records ``counts`` and ``nonzero`` after each.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import RisingEdge, Timer

from .common import load_job, port_unsigned, save_result, start_clock_and_reset
from .packing import pack_lanes
from .streams import StreamSink, pattern


@cocotb.test()
async def logits_output(dut):
    job = load_job()
    await start_clock_and_reset(dut)
    dut.write.value = 0
    dut.send.value = 0
    runs = []
    for run in job["runs"]:
        for chunk, values in run:
            dut.write.value = 1
            dut.chunk.value = chunk
            dut.acc.value = pack_lanes(values, job["accumulator_bits"])
            await RisingEdge(dut.clk)
        dut.write.value = 0
        dut.send.value = 1
        await RisingEdge(dut.clk)
        dut.send.value = 0
        words = await StreamSink(dut, "o", dut.clk).receive(job["classes"], pattern(job["ready"]))
        while not dut.done.value:
            await RisingEdge(dut.clk)
        runs.append({"words": words, "predicted": port_unsigned(dut.predicted)})
        await RisingEdge(dut.clk)
    save_result({"runs": runs})


@cocotb.test()
async def spike_counts(dut):
    job = load_job()
    await start_clock_and_reset(dut)
    snapshots, nonzero = [], []
    for chunk, spikes, clear in job["adds"]:
        dut.add.value = 1
        dut.clear.value = clear
        dut.chunk.value = chunk
        dut.spikes.value = pack_lanes(spikes, job["spike_bits"])
        await RisingEdge(dut.clk)
        dut.add.value = 0
        dut.clear.value = 0
        await Timer(1, unit="ns")
        snapshots.append(port_unsigned(dut.counts))
        nonzero.append(port_unsigned(dut.nonzero))
    save_result({"counts": snapshots, "nonzero": nonzero})
