"""The post-processor on its own, against its golden twin, in both simulators.

Every step layer of a random model's program (encoder: residual replace; output projection
and fc2: residual add; Q/K and hidden: neurons) runs chunk by chunk, over several time steps
with a clear between utterances, with accumulators across their whole signed range.
"""

import numpy as np
import pytest
from amaranth.back import verilog

from qkspike.hw.descriptor import POST_FIELDS, descriptor_value
from qkspike.hw.postprocess import PostProcessor
from qkspike.hw.program import Post, compile_program
from qkspike.pymodel.golden.postprocess import PostProcessorModel
from qkspike.pymodel.model_config import NeuronConfig
from qkspike.pymodel.synthetic import random_model
from qkspike.sim import pysim
from qkspike.sim.packing import unpack_lanes
from qkspike.sim.runner import build_verilog, run_testbench
from tests.conftest import small_config

LANES = 4
RESIDUAL = {Post.RESIDUAL_REPLACE: "replace", Post.RESIDUAL_ADD: "add", Post.NEURON: None}


@pytest.fixture(scope="module")
def program():
    neurons = {"attn_in": NeuronConfig(3, 1, "soft"), "qk": NeuronConfig(1, None, "hard"),
               "mlp_in": NeuronConfig(7, 0, "soft", (3, 0)),
               "hidden": NeuronConfig(2, 15, "hard"),
               "head": NeuronConfig(5, 2, "soft")}
    config = small_config(channels=6, heads=2, frames=4, n_mels=3, neurons=neurons,
                          residual_bits=9, state_bits=10)
    return compile_program(random_model(config, seed=7, theta_max=60, shift_max=6), LANES)


def schedule(program, steps=3, utterances=2, seed=0):
    """(descriptor, clear, [(chunk, acc lanes)]) per layer run, in order."""
    rng = np.random.default_rng(seed)
    bits = program.widths["accumulator"]
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    runs = []
    for utterance in range(utterances):
        for step in range(steps):
            for index, d in enumerate(program.step):
                extremes = rng.choice([lo, hi, 0, -1, 1], size=(d.chunks, LANES))
                values = rng.integers(lo // 8, hi // 8 + 1, size=(d.chunks, LANES))
                acc = np.where(rng.random((d.chunks, LANES)) < 0.2, extremes, values)
                runs.append((d, step == 0 and index == 0 and utterance > 0,
                             list(enumerate(acc.tolist()))))
    return runs


def golden(program, runs):
    model = PostProcessorModel(program.threshold_rows, program.leak_rows,
                               residual_rows=program.sizes["residual_rows"],
                               residual_bits=program.widths["residual"],
                               state_bits=program.widths["state"])
    out = []
    for d, clear, chunks in runs:
        if clear:
            model.clear()
        for chunk, acc in chunks:
            spikes, residual = model.chunk(
                acc, chunk, residual=RESIDUAL[d.post], shift=d.shift,
                neuron_base=d.neuron_base, levels=d.levels, leak=d.leak_shift is not None,
                reset=d.reset, c_out=d.c_out)
            out.append((chunk, spikes.tolist(), None if residual is None else residual.tolist()))
    return out


def check(expected, got):
    assert len(got) == len(expected), (len(got), len(expected))
    for number, ((chunk, spikes, residual), (g_chunk, g_spikes, g_residual)) in enumerate(
            zip(expected, got)):
        assert (g_chunk, g_spikes) == (chunk, spikes), f"chunk event {number}"
        if residual is not None:
            assert g_residual == residual, f"chunk event {number}: residual"


def test_postprocess_pysim_matches_golden(program):
    dut = PostProcessor(program)
    runs = schedule(program)
    got = []

    async def testbench(ctx):
        for d, clear, chunks in runs:
            ctx.set(dut.control, dut.control_shape.const(descriptor_value(d, POST_FIELDS)))
            ctx.set(dut.clear, clear)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for gap, (chunk, acc) in enumerate(chunks):
                ctx.set(dut.i.payload, dut.result_shape.const(
                    {"acc": acc, "chunk": chunk, "last": chunk == len(chunks) - 1}))
                ctx.set(dut.i.valid, 1)
                for _ in range(1 + gap % 2):       # idle cycles between chunks
                    _, _, valid, out = await ctx.tick().sample(dut.out_valid, dut.out)
                    ctx.set(dut.i.valid, 0)
                    if valid:
                        got.append(_event(pysim.to_python(out)))
            for _ in range(4):
                _, _, valid, out = await ctx.tick().sample(dut.out_valid, dut.out)
                if valid:
                    got.append(_event(pysim.to_python(out)))

    pysim.simulate(dut, testbench)
    check(golden(program, runs), got)


def _event(out):
    return out["chunk"], out["spikes"], out["residual"]


@pytest.mark.verilator
def test_postprocess_verilator_matches_golden(program):
    dut = PostProcessor(program)
    runs = schedule(program, seed=1)
    layers = [{"control": dut.control_shape.const(descriptor_value(d, POST_FIELDS)).as_value()
               .value, "clear": clear,
               "chunks": [dut.result_shape.const({"acc": acc, "chunk": chunk,
                                                  "last": chunk == len(chunks) - 1})
                          .as_value().value for chunk, acc in chunks]}
              for d, clear, chunks in runs]
    # i.ready is the constant 1 of an always-ready stream, which is no Verilog port.
    ports = [dut.i.valid, dut.i.payload.as_value(), dut.control.as_value(), dut.clear,
             dut.out.as_value(), dut.out_valid, dut.busy]
    build = build_verilog(verilog.convert(dut, name="post_processor", ports=ports),
                          "post_processor", label=f"P{LANES}")
    words = run_testbench(build, "qkspike.sim.tb_postprocess", {"layers": layers, "gaps": [0, 1, 2]},
                          quiet=True)["outputs"]
    fields = dict(dut.out_shape)
    w = program.widths

    def event(word):
        chunk = (word >> fields["chunk"].offset) & ((1 << fields["chunk"].width) - 1)
        return (chunk,
                unpack_lanes(word >> fields["spikes"].offset, w["spike"], LANES, signed=False),
                unpack_lanes(word >> fields["residual"].offset, w["residual"], LANES,
                             signed=True))

    check(golden(program, runs), [event(word) for word in words])
