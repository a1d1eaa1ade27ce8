"""Host side of the full-core checks: stimulus, the golden expectation, and the comparison.

The golden model runs here, once per clip. The Amaranth simulator (:func:`run_pysim`) and
the cocotb testbench (:mod:`sim.tb_core`) drive the core and return what it produced:
logits, the predicted class, its counters and every trace event (one per chunk the
post-processor wrote). :func:`compare` names the first diverging layer, time step, chunk
and lane.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from amaranth import ResetInserter, Signal
from amaranth.back import verilog

from hw.core import Core
from hw.program import Program
from pymodel.golden import network
from pymodel.modelfile import IntegerModel

from . import pysim
from .runner import VerilatorBuild, build_verilog, run_testbench
from .streams import PATTERNS

__all__ = ["feature_bytes", "expected_trace", "ClipOutcome", "compare", "run_pysim",
           "golden_for", "build_core", "run_verilator"]


def feature_bytes(features: np.ndarray) -> list[dict]:
    """An utterance as input-stream payloads: bytes frame after frame, ``last`` on the final."""
    flat = np.asarray(features, dtype=np.int64).reshape(-1)
    return [{"data": int(b), "last": int(i == flat.size - 1)} for i, b in enumerate(flat)]


def expected_trace(program: Program, golden: network.GoldenResult) -> list[tuple]:
    """The trace events the core must emit: (layer index, step, chunk, spikes, residual).

    ``residual`` is ``None`` for layers that do not write the residual stream.
    """
    lanes = program.lanes
    events = []
    steps = len(next(iter(golden.spikes.values())))
    for step in range(steps):
        for index, d in enumerate(program.step):
            spikes = golden.spikes[d.name][step]
            residual = golden.residual.get(d.name)
            for chunk in range(d.chunks):
                lo, hi = chunk * lanes, (chunk + 1) * lanes
                lane_spikes = np.zeros(lanes, dtype=np.int64)
                part = spikes[lo:hi]
                lane_spikes[:len(part)] = part
                lane_residual = None
                if residual is not None:
                    lane_residual = np.zeros(lanes, dtype=np.int64)
                    part = residual[step][lo:hi]
                    lane_residual[:len(part)] = part
                events.append((index, step, chunk, lane_spikes.tolist(),
                               None if lane_residual is None else lane_residual.tolist()))
    return events


@dataclass
class ClipOutcome:
    """What the core produced for one utterance."""

    logits: list[int]
    predicted: int
    stats: dict[str, int]
    trace: list[tuple]     # (layer, step, chunk, spikes, residual)


def golden_for(model: IntegerModel, features: np.ndarray) -> network.GoldenResult:
    return network.run(model, features, trace=True)


def compare(program: Program, golden: network.GoldenResult, outcome: ClipOutcome,
            stride: int) -> Optional[str]:
    """``None`` if the core agrees with the golden model bit for bit, else the first
    divergence: layer, time step (and its frames), chunk, lane, expected and got."""
    names = [d.name for d in program.descriptors]
    expected = expected_trace(program, golden)
    for want, got in zip(expected, outcome.trace):
        layer, step, chunk, spikes, residual = want
        where = (f"layer {names[layer]}, time step {step} (frames {step * stride}.."
                 f"{step * stride + stride - 1}), chunk {chunk}")
        if tuple(got[:3]) != (layer, step, chunk):
            got_name = names[got[0]] if got[0] < len(names) else got[0]
            return (f"trace out of order at {where}: the core wrote layer {got_name}, "
                    f"step {got[1]}, chunk {got[2]}")
        for kind, want_values, got_values in (("spikes", spikes, got[3]),
                                              ("residual", residual, got[4])):
            if want_values is None:
                continue
            for lane, (a, b) in enumerate(zip(want_values, got_values)):
                if int(a) != int(b):
                    return (f"first divergence at {where}, lane {lane} "
                            f"(output {chunk * program.lanes + lane}): {kind} expected {a}, "
                            f"got {b}")
    if len(outcome.trace) != len(expected):
        return f"the core wrote {len(outcome.trace)} trace chunks, the golden model {len(expected)}"
    want_logits = [int(v) for v in golden.logits]
    if outcome.logits != want_logits:
        lane = next(i for i, (a, b) in enumerate(zip(want_logits, outcome.logits)) if a != b)
        return f"logits differ at class {lane}: expected {want_logits}, got {outcome.logits}"
    if outcome.predicted != golden.predicted:
        return f"predicted class {outcome.predicted}, golden {golden.predicted}"
    for d in program.descriptors:
        want_events = int(golden.events[d.name].sum())
        if outcome.stats[f"{d.name}.events"] != want_events:
            return (f"layer {d.name}: the core counted {outcome.stats[f'{d.name}.events']} "
                    f"events, the golden model {want_events}")
    return None


def run_pysim(core: Core, utterances: Sequence[np.ndarray], *, valid: str = "full",
              ready: str = "full", reset_after_bytes: Optional[int] = None,
              vcd: Optional[str] = None) -> list[ClipOutcome]:
    """Run utterances back to back on the Amaranth simulator.

    ``reset_after_bytes``: pulse the reset after that many bytes of the first utterance,
    abandon it, and run every utterance from the start after it.
    """
    outcomes: list[ClipOutcome] = []
    stats = core.stats

    async def testbench(ctx):
        trace: list[tuple] = []

        async def feed(payloads):
            await pysim.send(ctx, core.i, payloads, itertools.cycle(PATTERNS[valid]))

        if reset_after_bytes is not None:
            # Abandon the first utterance part way: reset the whole core, then run them all.
            await feed(feature_bytes(utterances[0])[:reset_after_bytes])
            for _ in range(50):
                await ctx.tick()
            ctx.set(reset, 1)
            await ctx.tick().repeat(2)
            ctx.set(reset, 0)
        for features in utterances:
            trace = []
            payloads = feature_bytes(features)
            readiness = itertools.cycle(PATTERNS[ready])
            logits, sent = [], 0
            ctx.set(core.i.valid, 0)
            while True:
                if sent < len(payloads):
                    ctx.set(core.i.payload, payloads[sent])
                    ctx.set(core.i.valid, 1)
                take = next(readiness)
                ctx.set(core.o.ready, take)
                _, _, i_ready, o_valid, o_payload, t_valid, layer, step, chunk, spikes, \
                    residual, done = await ctx.tick().sample(
                        core.i.ready, core.o.valid, core.o.payload, core.trace_valid,
                        core.trace_layer, core.trace_step, core.trace_chunk,
                        core.trace_spikes, core.trace_residual, core.done)
                if sent < len(payloads) and i_ready:
                    sent += 1
                    if sent == len(payloads):
                        ctx.set(core.i.valid, 0)
                if t_valid:
                    trace.append((layer, step, chunk, pysim.to_python(spikes),
                                  pysim.to_python(residual)))
                if o_valid and take:
                    logits.append(o_payload.logit)
                if done:
                    break
            ctx.set(core.o.ready, 0)
            values = {}
            for index, name in enumerate(stats):
                ctx.set(core.stat_select, index)
                values[name] = ctx.get(core.stat_value)
            outcomes.append(ClipOutcome(logits, ctx.get(core.predicted), values, trace))

    # The core's synchronous reset, made drivable from the testbench.
    reset = Signal()
    pysim.simulate(ResetInserter({"sync": reset})(core), testbench, vcd=vcd)
    return outcomes


def build_core(core: Core, *, label: str = "") -> VerilatorBuild:
    """Verilator build of ``core`` (cached by its Verilog)."""
    name = "qkspike_core"
    return build_verilog(verilog.convert(core, name=name), name,
                         label=label or f"P{core.lanes}")


def run_verilator(core: Core, utterances: Sequence[np.ndarray], *, valid: str = "full",
                  ready: str = "full", reset_after_bytes: Optional[int] = None,
                  build: Optional[VerilatorBuild] = None) -> tuple[list[ClipOutcome], float]:
    """Run utterances back to back on Verilator; returns the outcomes and the wall seconds
    the simulation itself took."""
    build = build or build_core(core)
    layout = core.logit_shape
    job = {
        "clips": [np.asarray(u, dtype=np.int64).reshape(-1).tolist() for u in utterances],
        "classes": core.classes, "stats": len(core.stats), "lanes": core.lanes,
        "spike_bits": core.program.widths["spike"],
        "residual_bits": core.program.widths["residual"],
        "fields": {name: (field.offset, field.width) for name, field in layout},
        "valid": valid, "ready": ready, "reset_after_bytes": reset_after_bytes,
    }
    result = run_testbench(build, "sim.tb_core", job, quiet=True)
    outcomes = [ClipOutcome(o["logits"], o["predicted"], dict(zip(core.stats, o["stats"])),
                            [tuple(event) for event in o["trace"]])
                for o in result["outcomes"]]
    return outcomes, result["seconds"]
