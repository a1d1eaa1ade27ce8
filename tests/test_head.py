"""The head: saturating spike counts, and the logits stream with its argmax."""

import numpy as np
import pytest
from amaranth.back import verilog

from qkspike.hw.head import LogitsOutput, SpikeCounts
from qkspike.pymodel.golden.head import count_spikes, predicted_class
from qkspike.sim import pysim
from qkspike.sim.packing import unpack_lanes
from qkspike.sim.runner import build_verilog, run_testbench
from qkspike.sim.streams import PATTERNS

CLASSES, LANES, BITS = 10, 4, 12


def logit_runs():
    """Logit vectors: a clear winner, ties (lowest index wins), all equal, extremes."""
    rng = np.random.default_rng(0)
    lo, hi = -(1 << (BITS - 1)), (1 << (BITS - 1)) - 1
    runs = [rng.integers(lo, hi, CLASSES), np.zeros(CLASSES, int), np.full(CLASSES, lo)]
    tie = rng.integers(-100, 100, CLASSES)
    tie[[3, 7]] = 500
    runs.append(tie)
    top = np.full(CLASSES, lo)
    top[-1] = hi
    runs.append(top)
    return [r.astype(int) for r in runs]


def chunks(logits):
    padded = np.zeros(-(-CLASSES // LANES) * LANES, int)
    padded[:CLASSES] = logits
    return [(g, padded[g * LANES:(g + 1) * LANES].tolist()) for g in range(len(padded) // LANES)]


@pytest.mark.parametrize("ready", ["full", "sparse"])
def test_logits_output_pysim(ready):
    dut = LogitsOutput(classes=CLASSES, lanes=LANES, accumulator_bits=BITS)
    seen = []

    async def testbench(ctx):
        for logits in logit_runs():
            for chunk, values in chunks(logits):
                ctx.set(dut.write, 1)
                ctx.set(dut.chunk, chunk)
                ctx.set(dut.acc, values)
                await ctx.tick()
            ctx.set(dut.write, 0)
            ctx.set(dut.send, 1)
            await ctx.tick()
            ctx.set(dut.send, 0)
            import itertools
            words = await pysim.receive(ctx, dut.o, CLASSES, itertools.cycle(PATTERNS[ready]))
            while not ctx.get(dut.done):
                await ctx.tick()
            seen.append((words, ctx.get(dut.predicted)))
            await ctx.tick()

    pysim.simulate(dut, testbench)
    for logits, (words, predicted) in zip(logit_runs(), seen):
        assert [w["logit"] for w in words] == logits.tolist()
        assert [w["index"] for w in words] == list(range(CLASSES))
        assert [w["last"] for w in words] == [0] * (CLASSES - 1) + [1]
        assert predicted == predicted_class(logits)


def count_job():
    rng = np.random.default_rng(1)
    adds = [(g, rng.integers(0, 4, LANES).tolist(), 0) for _ in range(40) for g in range(2)]
    adds += [(0, [3] * LANES, 0)] * 90          # drives chunk 0 into saturation
    adds.insert(30, (1, [0] * LANES, 1))        # a clear in the middle
    return adds


def expected_counts(channels=8):
    counts, out = np.zeros(channels, int), []
    for chunk, spikes, clear in count_job():
        if clear:
            counts[:] = 0
        else:
            part = np.zeros(channels, int)
            part[chunk * LANES:(chunk + 1) * LANES] = spikes
            counts = count_spikes(counts, part)
        out.append(counts.tolist())
    return out


def nonzero_flags(snapshots):
    """``counts != 0`` of each snapshot, as the bit mask ``SpikeCounts.nonzero`` holds."""
    return [sum(1 << channel for channel, count in enumerate(counts) if count)
            for counts in snapshots]


def test_spike_counts_pysim_saturate_and_clear():
    dut = SpikeCounts(channels=8, lanes=LANES, spike_bits=2)
    seen, flags = [], []

    async def testbench(ctx):
        for chunk, spikes, clear in count_job():
            ctx.set(dut.add, 1)
            ctx.set(dut.clear, clear)
            ctx.set(dut.chunk, chunk)
            ctx.set(dut.spikes, spikes)
            await ctx.tick()
            seen.append(pysim.to_python(ctx.get(dut.counts)))
            flags.append(ctx.get(dut.nonzero))

    pysim.simulate(dut, testbench)
    assert seen == expected_counts()
    assert max(seen[-1]) == 255
    assert flags == nonzero_flags(expected_counts())


@pytest.mark.verilator
def test_head_verilator_matches_golden():
    outputs = LogitsOutput(classes=CLASSES, lanes=LANES, accumulator_bits=BITS)
    build = build_verilog(verilog.convert(outputs, name="logits_output"), "logits_output",
                          label=f"C{CLASSES}-P{LANES}-A{BITS}")
    result = run_testbench(build, "qkspike.sim.tb_head", {
        "runs": [chunks(l) for l in logit_runs()], "classes": CLASSES, "accumulator_bits": BITS,
        "ready": "idle_1_in_4"}, testcase="logits_output", quiet=True)
    field = outputs.o_shape["logit"]
    for logits, run in zip(logit_runs(), result["runs"]):
        got = [unpack_lanes(w >> field.offset, BITS, 1, signed=True)[0] for w in run["words"]]
        assert got == logits.tolist()
        assert run["predicted"] == predicted_class(logits)

    counts = SpikeCounts(channels=8, lanes=LANES, spike_bits=2)
    build = build_verilog(verilog.convert(counts, name="spike_counts"), "spike_counts",
                          label=f"C8-P{LANES}")
    result = run_testbench(build, "qkspike.sim.tb_head", {"adds": count_job(), "spike_bits": 2},
                           testcase="spike_counts", quiet=True)
    assert [unpack_lanes(c, 8, 8, signed=False) for c in result["counts"]] == expected_counts()
    assert result["nonzero"] == nonzero_flags(expected_counts())
