"""cocotb testbench: drive the Verilog core with utterances and record what it produces.

The testbench holds no numerics: it records logits, the predicted class, the counters and
every trace chunk; the host side (:mod:`sim.core_job`) compares them with the golden model.

Job (JSON): ``clips`` (each utterance's input beats as payload integers,
:func:`sim.core_job.feature_words`), ``classes``, ``stats`` (counter
count), ``lanes``, ``spike_bits``, ``residual_bits``, ``fields`` (bit offsets of the logit
payload), ``valid``/``ready`` (stream patterns), ``reset_after_beats`` (optional: reset
the core in the middle of the first utterance, then run every clip).
"""

from __future__ import annotations

import time

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from .common import load_job, port_unsigned, save_result, start_clock_and_reset
from .packing import struct_field, unpack_lanes
from .streams import StreamSink, StreamSource, pattern


async def record_trace(dut, job, events):
    lanes, spike_bits, residual_bits = job["lanes"], job["spike_bits"], job["residual_bits"]
    while True:
        await RisingEdge(dut.trace_valid)
        while True:
            await ReadOnly()
            if not dut.trace_valid.value:
                break
            events.append((port_unsigned(dut.trace_layer), port_unsigned(dut.trace_step),
                           port_unsigned(dut.trace_chunk),
                           unpack_lanes(port_unsigned(dut.trace_spikes), spike_bits, lanes,
                                        signed=False),
                           unpack_lanes(port_unsigned(dut.trace_residual), residual_bits,
                                        lanes, signed=True)))
            await RisingEdge(dut.clk)


@cocotb.test()
async def core_runs_utterances(dut):
    job = load_job()
    fields = job["fields"]
    await start_clock_and_reset(dut)
    dut.stat_select.value = 0
    source = StreamSource(dut, "i", dut.clk)
    sink = StreamSink(dut, "o", dut.clk)
    events = []
    if not job.get("no_trace"):
        cocotb.start_soon(record_trace(dut, job, events))
    valid, ready = pattern(job["valid"]), pattern(job["ready"])

    if job.get("reset_after_beats"):
        # Abandon the first utterance part way, reset, and expect correct runs after.
        partial = job["clips"][0][:job["reset_after_beats"]]
        await source.send(partial, valid)
        for _ in range(20):
            await RisingEdge(dut.clk)
        dut.rst.value = 1
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        events.clear()

    outcomes = []
    started = time.monotonic()
    for words in job["clips"]:
        events.clear()
        sender = cocotb.start_soon(source.send(words, valid))
        words = await sink.receive(job["classes"], ready, timeout_cycles=5_000_000)
        await sender
        while not dut.done.value:
            await RisingEdge(dut.clk)
        predicted = port_unsigned(dut.predicted)
        await RisingEdge(dut.clk)
        stats = []
        for index in range(job["stats"]):
            dut.stat_select.value = index
            await Timer(1, unit="ns")
            stats.append(port_unsigned(dut.stat_value))
        outcomes.append({"logits": [struct_field(w, fields, "logit", signed=True) for w in words],
                         "indices": [struct_field(w, fields, "index") for w in words],
                         "predicted": predicted, "stats": stats, "trace": list(events)})
    save_result({"outcomes": outcomes, "seconds": time.monotonic() - started})
