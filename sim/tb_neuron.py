"""cocotb testbench: the Verilog neuron array against the golden neuron population.

Job (JSON, see :func:`sim.common.load_job`)::

    lanes        P
    input_bits   signed width of an input lane
    spike_bits   width of an output lane
    utterances   list of {"inputs": [[P currents] per chunk], "expected": [[P spikes] per chunk]};
                 the array is cleared before each utterance
    valid        name of the input valid pattern (sim.streams.PATTERNS)
    ready        name of the output ready pattern

The expected spikes come from the golden model on the pytest side, so the testbench holds
no second copy of the numerics.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import RisingEdge

from .common import (as_unsigned, first_mismatch, load_job, save_result,
                     start_clock_and_reset)
from .packing import pack_lanes, unpack_lanes
from .streams import StreamSink, StreamSource, pattern


@cocotb.test()
async def neuron_array_matches_golden(dut):
    job = load_job()
    lanes, input_bits, spike_bits = job["lanes"], job["input_bits"], job["spike_bits"]

    await start_clock_and_reset(dut)
    dut.clear.value = 0
    source = StreamSource(dut, "i", dut.clk)
    sink = StreamSink(dut, "o", dut.clk)
    valid_pattern, ready_pattern = pattern(job["valid"]), pattern(job["ready"])

    total_chunks = 0
    for number, utterance in enumerate(job["utterances"]):
        dut.clear.value = 1
        await RisingEdge(dut.clk)
        dut.clear.value = 0
        words = [pack_lanes(chunk, input_bits) for chunk in utterance["inputs"]]
        sender = cocotb.start_soon(source.send(words, valid_pattern))
        got = await sink.receive(
            len(utterance["expected"]), ready_pattern,
            convert=lambda value: unpack_lanes(as_unsigned(value), spike_bits, lanes,
                                               signed=False))
        await sender
        problem = first_mismatch(f"utterance {number} spikes (vector = time step x chunk)",
                                 utterance["expected"], got)
        if problem:
            raise AssertionError(problem)
        total_chunks += len(got)
    save_result({"chunks": total_chunks, "utterances": len(job["utterances"])})
