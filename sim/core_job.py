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

from qkspike.hw.core import Core, frame_beats
from qkspike.hw.program import Program
from qkspike.pymodel.golden import contract, network
from qkspike.pymodel.modelfile import IntegerModel

from . import pysim
from .runner import VerilatorBuild, build_verilog, run_testbench
from .streams import PATTERNS

__all__ = ["feature_beats", "feature_words", "feature_payloads", "Trace", "expected_trace",
           "ClipOutcome", "compare", "run_pysim", "golden_for", "build_core", "run_verilator"]


def feature_beats(features: np.ndarray, port_bytes: int) -> np.ndarray:
    """An utterance ``(frames, n_mels)`` as the core's input beats, ``(beats, port_bytes)``
    uint8: frame after frame, each padded with zeros to whole beats
    (:func:`hw.core.frame_beats`); ``last`` goes on the final beat."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"an utterance is (frames, n_mels) features, not shape {x.shape}")
    frames, mels = x.shape
    width = frame_beats(mels, port_bytes) * port_bytes
    padded = np.zeros((frames, width), dtype=np.uint8)
    padded[:, :mels] = x
    return padded.reshape(-1, port_bytes)


def feature_words(features: np.ndarray, port_bytes: int) -> list[int]:
    """Each beat as the integer on the port's payload wires (the layout of
    :func:`hw.core.feature_layout`): byte ``j`` at bits ``8j..8j+7``, ``last`` above them."""
    beats = feature_beats(features, port_bytes)
    words = [int.from_bytes(beat.tobytes(), "little") for beat in beats]
    if words:
        words[-1] |= 1 << (contract.FEATURE_BITS * port_bytes)
    return words


def feature_payloads(features: np.ndarray, port_bytes: int) -> list[dict]:
    """Each beat as an Amaranth simulator payload (``data`` and ``last`` fields)."""
    beats = feature_beats(features, port_bytes)
    return [{"data": [int(b) for b in beat], "last": int(i == len(beats) - 1)}
            for i, beat in enumerate(beats)]


@dataclass
class Trace:
    """Trace events as arrays, one row per chunk the post-processor wrote, in order.

    ``residual_valid[n]`` says whether event ``n``'s layer writes the residual stream (only
    then is its ``residual`` row compared).
    """

    layer: np.ndarray            # (n,)
    step: np.ndarray             # (n,)
    chunk: np.ndarray            # (n,)
    spikes: np.ndarray           # (n, lanes)
    residual: np.ndarray         # (n, lanes)
    residual_valid: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.layer)

    @classmethod
    def from_events(cls, events: Sequence[tuple], lanes: int) -> "Trace":
        """From ``(layer, step, chunk, spikes, residual)`` tuples as the testbenches record."""
        if not events:
            empty = np.zeros((0, lanes), dtype=np.int64)
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                       empty, empty.copy())
        columns = list(zip(*events))
        return cls(*(np.asarray(c, dtype=np.int64) for c in columns[:3]),
                   np.asarray(columns[3], dtype=np.int64).reshape(-1, lanes),
                   np.asarray(columns[4], dtype=np.int64).reshape(-1, lanes))


def expected_trace(program: Program, golden: network.GoldenResult) -> Trace:
    """The trace the core must write: every step layer's chunks, step after step."""
    lanes = program.lanes
    steps = len(next(iter(golden.spikes.values())))
    blocks = {"layer": [], "chunk": [], "spikes": [], "residual": [], "residual_valid": []}
    for index, d in enumerate(program.step):
        spikes = np.asarray(golden.spikes[d.name], dtype=np.int64).reshape(steps, -1)
        residual = golden.residual.get(d.name)
        blocks["spikes"].append(contract.split_into_lanes(spikes, lanes))
        blocks["residual"].append(contract.split_into_lanes(residual, lanes)
                                  if residual is not None
                                  else np.zeros((steps, d.chunks, lanes), np.int64))
        blocks["layer"].append(np.full((steps, d.chunks), index))
        blocks["chunk"].append(np.broadcast_to(np.arange(d.chunks), (steps, d.chunks)))
        blocks["residual_valid"].append(np.full((steps, d.chunks), residual is not None))
    if not program.step or steps == 0:
        return Trace.from_events([], lanes)
    joined = {key: np.concatenate(value, axis=1) for key, value in blocks.items()}
    chunks_per_step = joined["layer"].shape[1]
    return Trace(joined["layer"].reshape(-1),
                 np.repeat(np.arange(steps), chunks_per_step),
                 joined["chunk"].reshape(-1),
                 joined["spikes"].reshape(-1, lanes), joined["residual"].reshape(-1, lanes),
                 joined["residual_valid"].reshape(-1))


@dataclass
class ClipOutcome:
    """What the core produced for one utterance."""

    logits: list[int]
    predicted: int
    stats: dict[str, int]
    trace: Trace
    #: Cycles from the last frame's arrival to ``done`` with every earlier frame processed
    #: (:func:`sim.harness.run_clips` with ``decision=True``); None when not measured.
    decision_cycles: Optional[int] = None
    #: The whole decision run's cycles (simulated on top of ``stats["cycles"]``), or 0.
    decision_run_cycles: int = 0


def golden_for(model: IntegerModel, features: np.ndarray) -> network.GoldenResult:
    return network.run(model, features, trace=True)


def _first(mask: np.ndarray) -> Optional[int]:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def compare(program: Program, golden: network.GoldenResult, outcome: ClipOutcome,
            stride: int) -> Optional[str]:
    """``None`` if the core agrees with the golden model bit for bit, else the first
    divergence: layer, time step (and its frames), chunk, lane, expected and got."""
    names = [d.name for d in program.descriptors]
    want, got = expected_trace(program, golden), outcome.trace
    common = min(len(want), len(got))
    keys_want = np.stack([want.layer, want.step, want.chunk], axis=1)[:common]
    keys_got = np.stack([got.layer, got.step, got.chunk], axis=1)[:common]
    order = _first(np.any(keys_want != keys_got, axis=1))
    spikes_bad = np.any(want.spikes[:common] != got.spikes[:common], axis=1)
    residual_bad = want.residual_valid[:common] & np.any(
        want.residual[:common] != got.residual[:common], axis=1)
    value = _first(spikes_bad | residual_bad)
    if order is not None or value is not None:
        at = min(i for i in (order, value) if i is not None)
        layer, step, chunk = (int(v) for v in keys_want[at])
        where = (f"layer {names[layer]}, time step {step} (frames {step * stride}.."
                 f"{step * stride + stride - 1}), chunk {chunk}")
        if at == order:
            got_layer, got_step, got_chunk = (int(v) for v in keys_got[at])
            got_name = names[got_layer] if got_layer < len(names) else got_layer
            return (f"trace out of order at {where}: the core wrote layer {got_name}, "
                    f"step {got_step}, chunk {got_chunk}")
        kind = "spikes" if spikes_bad[at] else "residual"
        want_row, got_row = getattr(want, kind)[at], getattr(got, kind)[at]
        lane = int(np.flatnonzero(want_row != got_row)[0])
        return (f"first divergence at {where}, lane {lane} "
                f"(output {chunk * program.lanes + lane}): {kind} expected "
                f"{int(want_row[lane])}, got {int(got_row[lane])}")
    if len(got) != len(want):
        return f"the core wrote {len(got)} trace chunks, the golden model {len(want)}"
    want_logits = [int(v) for v in golden.logits]
    if list(outcome.logits) != want_logits:
        lane = next(i for i, (a, b) in enumerate(zip(want_logits, outcome.logits)) if a != b) \
            if len(outcome.logits) == len(want_logits) else 0
        return f"logits differ at class {lane}: expected {want_logits}, got {list(outcome.logits)}"
    if outcome.predicted != golden.predicted:
        return f"predicted class {outcome.predicted}, golden {golden.predicted}"
    for d in program.descriptors:
        want_events = int(golden.events[d.name].sum())
        if outcome.stats[f"{d.name}.events"] != want_events:
            return (f"layer {d.name}: the core counted {outcome.stats[f'{d.name}.events']} "
                    f"events, the golden model {want_events}")
    return None


def run_pysim(core: Core, utterances: Sequence[np.ndarray], *, valid: str = "full",
              ready: str = "full", reset_after_beats: Optional[int] = None,
              vcd: Optional[str] = None) -> list[ClipOutcome]:
    """Run utterances back to back on the Amaranth simulator.

    ``reset_after_beats``: pulse the reset after that many beats of the first utterance,
    abandon it, and run every utterance from the start after it.
    """
    outcomes: list[ClipOutcome] = []
    stats = core.stats
    port_bytes = core.feature_port_bytes

    async def testbench(ctx):
        trace: list[tuple] = []

        async def feed(payloads):
            await pysim.send(ctx, core.i, payloads, itertools.cycle(PATTERNS[valid]))

        if reset_after_beats is not None:
            # Abandon the first utterance part way: reset the whole core, then run them all.
            await feed(feature_payloads(utterances[0], port_bytes)[:reset_after_beats])
            for _ in range(50):
                await ctx.tick()
            ctx.set(reset, 1)
            await ctx.tick().repeat(2)
            ctx.set(reset, 0)
        for features in utterances:
            trace = []
            payloads = feature_payloads(features, port_bytes)
            readiness = itertools.cycle(PATTERNS[ready])
            logits, sent = [], 0
            rule = pysim.HeldUntilReady()
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
                rule.check(o_valid, take, pysim.to_python(o_payload))
                if o_valid and take:
                    logits.append(o_payload.logit)
                if done:
                    break
            ctx.set(core.o.ready, 0)
            values = {}
            for index, name in enumerate(stats):
                ctx.set(core.stat_select, index)
                values[name] = ctx.get(core.stat_value)
            outcomes.append(ClipOutcome(logits, ctx.get(core.predicted), values,
                                        Trace.from_events(trace, core.lanes)))

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
                  ready: str = "full", reset_after_beats: Optional[int] = None,
                  build: Optional[VerilatorBuild] = None) -> tuple[list[ClipOutcome], float]:
    """Run utterances back to back on Verilator; returns the outcomes and the wall seconds
    the simulation itself took."""
    build = build or build_core(core)
    layout = core.logit_shape
    job = {
        "clips": [feature_words(u, core.feature_port_bytes) for u in utterances],
        "classes": core.classes, "stats": len(core.stats), "lanes": core.lanes,
        "spike_bits": core.program.widths["spike"],
        "residual_bits": core.program.widths["residual"],
        "fields": {name: (field.offset, field.width) for name, field in layout},
        "valid": valid, "ready": ready, "reset_after_beats": reset_after_beats,
    }
    result = run_testbench(build, "qkspike.sim.tb_core", job, quiet=True)
    outcomes = [ClipOutcome(o["logits"], o["predicted"], dict(zip(core.stats, o["stats"])),
                            Trace.from_events(o["trace"], core.lanes))
                for o in result["outcomes"]]
    return outcomes, result["seconds"]
