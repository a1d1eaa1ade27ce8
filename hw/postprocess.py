"""Post-processing of finished accumulator chunks: residual stream and neurons, pipelined.

Golden twin: :class:`pymodel.golden.postprocess.PostProcessorModel` (``residual_add`` and
``neuron_step`` of the contract over rows of ``P`` lanes). Tests: ``tests/test_postprocess.py``
(both simulators) and, inside the whole core, ``tests/test_core.py``. Its datapaths,
the two halves of the residual update (:class:`hw.residual.Rescale`,
:class:`hw.residual.ResidualAdd`) and the two halves of the neuron step
(:class:`hw.neuron.NeuronIntegrate`, :class:`hw.neuron.NeuronFire`); the standalone
neuron array uses the same neuron halves through :class:`hw.neuron.NeuronUpdate`, without
the register between them.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden import contract
from qkspike.pymodel.golden.sparse_engine import POST_LATENCY

from .descriptor import POST_FIELDS, descriptor_layout
from .neuron import NeuronFire, NeuronIntegrate
from .program import Post, Program
from .residual import ResidualAdd, Rescale
from .sparse_engine import result_layout

__all__ = ["PostProcessor", "control_layout", "spike_layout"]


def control_layout(program: Program) -> data.StructLayout:
    """The descriptor fields the post-processor reads (held steady through a layer)."""
    return descriptor_layout(program, POST_FIELDS)


def spike_layout(program: Program) -> data.StructLayout:
    lanes = program.lanes
    return data.StructLayout({
        "chunk": range(max(2, program.sizes["max_chunks"])),
        "spikes": data.ArrayLayout(unsigned(program.widths["spike"]), lanes),
        "residual": data.ArrayLayout(signed(program.widths["residual"]), lanes),
    })


class PostProcessor(wiring.Component):
    """Turns each finished chunk of ``P`` accumulators into spikes, per the layer's ``post``:

    * ``NEURON``: ``s = N(acc)``;
    * ``RESIDUAL_REPLACE`` / ``RESIDUAL_ADD``: ``r = sat(rescale(acc) [+ r])``, then ``s = N(r)``;
    * ``LOGITS``: the accumulators are logits; they go out on ``logits`` unchanged.

    Neuron state lives in one memory for all populations (row ``neuron_base + chunk``) with
    the thresholds and the leak shifts in ROMs beside it (per lane: per-head leak shifts
    give the lanes of one row different shifts); the residual stream in another (row
    ``chunk``).
    A *fresh* bit per state row stands for "0 since the last clear", so ``clear`` resets
    every membrane in one cycle.

    Parameters
    ----------
    program : Program
        Sizes, widths and the threshold ROM's contents.

    Members
    -------
    i : In(stream.Signature(result_layout, always_ready=True))
        Chunks from the sparse engine. Always ready: the pipeline never stalls.
    control : In(control_layout)
        The layer's descriptor fields: set at least one cycle before the layer's first chunk
        (the rescale shift's decode is registered) and steady until its last chunk leaves.
    clear : In(1)
        Start of an utterance. Only while ``busy`` is low.
    out : Out(spike_layout), out_valid : Out(1)
        A chunk's spikes (lanes past ``c_out`` are 0) and, for residual layers, its new
        residual values. One cycle per chunk.
    logits : Out(ArrayLayout), logits_chunk : Out, logits_valid : Out(1)
        ``LOGITS`` chunks, in the cycle they arrive.
    busy : Out(1)
        A chunk is in the pipeline.
    finishing : Out(1)
        Nothing but the last stage is busy: with no new chunk arriving, the post-processor
        is idle from the next cycle on (the core starts the next layer then).

    Latency
    -------
    :attr:`latency` = 3 cycles from a chunk's transfer on ``i`` to ``out_valid``
    (read and rescale; residual add; integrate; fire), one chunk per cycle.
    """

    latency = POST_LATENCY

    def __init__(self, program: Program):
        self.program = program
        w, s = program.widths, program.sizes
        self.u_bits = max(w["accumulator"], w["residual"]) + 1
        self.result_shape = result_layout(lanes=program.lanes, accumulator_bits=w["accumulator"],
                                          max_chunks=s["max_chunks"])
        self.control_shape = control_layout(program)
        self.out_shape = spike_layout(program)
        super().__init__({
            "i": In(stream.Signature(self.result_shape, always_ready=True)),
            "control": In(self.control_shape),
            "clear": In(1),
            "out": Out(self.out_shape),
            "out_valid": Out(1),
            "logits": Out(data.ArrayLayout(signed(w["accumulator"]), program.lanes)),
            "logits_chunk": Out(self.result_shape["chunk"].shape),
            "logits_valid": Out(1),
            "busy": Out(1),
            "finishing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        program, lanes = self.program, self.program.lanes
        w, s = program.widths, program.sizes
        control = self.control

        m.submodules.residuals = residuals = memory.Memory(
            shape=data.ArrayLayout(signed(w["residual"]), lanes), depth=s["residual_rows"],
            init=[])
        m.submodules.states = states = memory.Memory(
            shape=data.ArrayLayout(signed(w["state"]), lanes), depth=s["neuron_rows"], init=[])
        m.submodules.thresholds = thresholds = memory.Memory(
            shape=data.ArrayLayout(unsigned(w["threshold"]), lanes), depth=s["neuron_rows"],
            init=program.threshold_rows.tolist())
        m.submodules.leak_shifts = leak_shifts = memory.Memory(
            shape=data.ArrayLayout(unsigned(contract.LEAK_SHIFT_BITS), lanes),
            depth=s["neuron_rows"], init=program.leak_rows.tolist())
        residual_wr, state_wr = residuals.write_port(), states.write_port()
        residual_rd, state_rd = residuals.read_port(), states.read_port()
        threshold_rd, leak_rd = thresholds.read_port(), leak_shifts.read_port()

        m.submodules.rescale = rescale = Rescale(lanes=lanes, accumulator_bits=w["accumulator"])
        m.submodules.residual = residual = ResidualAdd(
            lanes=lanes, residual_bits=w["residual"], accumulator_bits=w["accumulator"])
        m.submodules.integrate = integrate = NeuronIntegrate(
            lanes=lanes, state_bits=w["state"], input_bits=self.u_bits,
            threshold_bits=w["threshold"], max_levels=w["levels_max"])
        m.submodules.fire = fire = NeuronFire(
            lanes=lanes, state_bits=w["state"], h_bits=integrate.h_bits,
            multiple_bits=integrate.multiple_bits, max_levels=w["levels_max"])

        fresh = Signal(s["neuron_rows"], init=(1 << s["neuron_rows"]) - 1)
        is_logits = control.post == Post.LOGITS
        arrive = self.i.valid & ~is_logits

        # Stage 0: the chunk arrives; read its residual row, state row and thresholds, and
        # rescale the accumulators for the residual stream.
        row = Signal.like(state_rd.addr)
        m.d.comb += [
            row.eq(control.neuron_base + self.i.payload.chunk),
            residual_rd.addr.eq(self.i.payload.chunk), state_rd.addr.eq(row),
            threshold_rd.addr.eq(row), leak_rd.addr.eq(row),
            self.logits.eq(self.i.payload.acc), self.logits_chunk.eq(self.i.payload.chunk),
            self.logits_valid.eq(self.i.valid & is_logits),
        ]
        # What the lanes need of the descriptor is decoded into registers: these signals fan
        # out to every lane's datapath, and a decode in front of that fan-out was the
        # critical path post-route. Safe because the descriptor is loaded at least four
        # cycles before a layer's first chunk arrives here (the engine's start, one walk
        # cycle and its latency of 3) and stays steady while the layer runs.
        is_residual, keep = Signal(), Signal()
        m.d.sync += rescale.decode(control.shift)
        m.d.sync += [
            is_residual.eq((control.post == Post.RESIDUAL_ADD)
                           | (control.post == Post.RESIDUAL_REPLACE)),
            keep.eq(control.post == Post.RESIDUAL_ADD),
        ]
        m.d.comb += rescale.acc.eq(self.i.payload.acc)
        s1_valid, s1_fresh = Signal(), Signal()
        s1_acc = Signal.like(self.i.payload.acc)
        s1_rounded = Signal.like(rescale.rounded)
        s1_chunk = Signal.like(self.i.payload.chunk)
        s1_row = Signal.like(row)
        m.d.sync += [s1_valid.eq(arrive), s1_acc.eq(self.i.payload.acc),
                     s1_rounded.eq(rescale.rounded),
                     s1_chunk.eq(self.i.payload.chunk), s1_row.eq(row),
                     s1_fresh.eq(fresh.bit_select(row, 1))]

        # Stage 1: residual add; pick the neuron's input; keep the rows read.
        m.d.comb += [
            residual.residual.eq(residual_rd.data), residual.rounded.eq(s1_rounded),
            residual.keep.eq(keep),
            residual_wr.addr.eq(s1_chunk), residual_wr.data.eq(residual.result),
            residual_wr.en.eq(s1_valid & is_residual),
        ]
        s2_valid, s2_fresh = Signal(), Signal()
        s2_u = Signal(data.ArrayLayout(signed(self.u_bits), lanes))
        s2_residual = Signal.like(residual.result)
        s2_state = Signal.like(state_rd.data)
        s2_theta = Signal.like(threshold_rd.data)
        s2_leak = Signal.like(leak_rd.data)
        s2_chunk = Signal.like(s1_chunk)
        s2_row = Signal.like(s1_row)
        m.d.sync += [s2_valid.eq(s1_valid), s2_fresh.eq(s1_fresh), s2_residual.eq(residual.result),
                     s2_state.eq(state_rd.data), s2_theta.eq(threshold_rd.data),
                     s2_leak.eq(leak_rd.data),
                     s2_chunk.eq(s1_chunk), s2_row.eq(s1_row)]
        m.d.sync += [s2_u[lane].eq(Mux(is_residual, residual.result[lane], s1_acc[lane]))
                     for lane in range(lanes)]

        # Stage 2: integrate and leak (h), and the threshold multiples.
        m.d.comb += [
            integrate.state.eq(s2_state), integrate.fresh.eq(s2_fresh),
            integrate.current.eq(s2_u), integrate.threshold.eq(s2_theta),
            integrate.leak_enable.eq(control.leak_enable),
            integrate.leak_shift.eq(s2_leak),
        ]
        s3_valid = Signal()
        s3_h = Signal.like(integrate.h)
        s3_multiples = Signal.like(integrate.multiples)
        s3_residual = Signal.like(s2_residual)
        s3_chunk = Signal.like(s2_chunk)
        s3_row = Signal.like(s2_row)
        # Lanes past c_out (the last chunk's padding) answer 0: which lanes, known a stage early.
        lanes_left = Signal(signed(self.control_shape["c_out"].width + 1))
        m.d.comb += lanes_left.eq(control.c_out - s2_chunk * lanes)
        s3_real = Signal(lanes)
        m.d.sync += [s3_valid.eq(s2_valid), s3_h.eq(integrate.h),
                     s3_multiples.eq(integrate.multiples), s3_residual.eq(s2_residual),
                     s3_chunk.eq(s2_chunk), s3_row.eq(s2_row)]
        m.d.sync += [s3_real[lane].eq(lane < lanes_left) for lane in range(lanes)]

        # Stage 3: fire and reset; write the state back; hand the spikes on.
        m.d.comb += [
            fire.h.eq(s3_h), fire.multiples.eq(s3_multiples), fire.levels.eq(control.levels),
            fire.reset.eq(control.reset),
            state_wr.addr.eq(s3_row), state_wr.data.eq(fire.next_state),
            state_wr.en.eq(s3_valid),
            self.out_valid.eq(s3_valid), self.out.chunk.eq(s3_chunk),
            self.out.residual.eq(s3_residual),
        ]
        for lane in range(lanes):
            m.d.comb += self.out.spikes[lane].eq(Mux(s3_real[lane], fire.spikes[lane], 0))
        with m.If(self.clear):
            m.d.sync += fresh.eq((1 << s["neuron_rows"]) - 1)
        with m.Elif(s3_valid):
            m.d.sync += fresh.bit_select(s3_row, 1).eq(0)
        # A state row is in flight at most once: a layer visits each of its rows once per
        # time step, and the next visit is a whole step later, so the read in stage 0 never
        # needs the write of stage 3.
        m.d.comb += [self.busy.eq(s1_valid | s2_valid | s3_valid),
                     self.finishing.eq(~s1_valid & ~s2_valid)]
        return m
