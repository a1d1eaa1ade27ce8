"""The spike-sparse accumulate engine: cycles only for non-zero inputs.

``acc[o] = b[o] + sum over i with a_i != 0 of a_i * W[i, o]``, ``P`` outputs at a time.

Golden twin: :mod:`pymodel.golden.sparse_engine`. Tests: ``tests/test_sparse_engine.py``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden import contract
from qkspike.pymodel.golden.sparse_engine import ENGINE_LATENCY

from .checks import check_int, reject
from .descriptor import ENGINE_FIELDS, layout_for

__all__ = ["SparseEngine", "lowest_set_bit", "two_lowest_set_bits", "layer_layout",
           "result_layout"]


def lowest_set_bit(m: Module, bits, name: str = "lsb"):
    """Index of the lowest set bit of ``bits`` and whether any is set: a log-depth tree.
    Returns ``(index, any)``."""
    nodes = [(bits[i], Const(0, 1)) for i in range(len(bits))]
    level = 0
    while len(nodes) > 1:
        merged = []
        for pair in range(0, len(nodes), 2):
            if pair + 1 == len(nodes):
                left_any, left_index = nodes[pair]
                merged.append((left_any, left_index.as_unsigned()))
                continue
            (left_any, left_index), (right_any, right_index) = nodes[pair], nodes[pair + 1]
            index = Signal(level + 1, name=f"{name}_l{level}_{pair // 2}")
            # The left half holds the lower indices: it wins when it has a set bit.
            m.d.comb += index.eq(Mux(left_any, left_index, right_index | (1 << level)))
            merged.append((left_any | right_any, index))
        nodes = merged
        level += 1
    any_set, index = nodes[0]
    return index, any_set


def two_lowest_set_bits(m: Module, bits, name: str = "low2"):
    """The lowest and second-lowest set bits of ``bits``: one log-depth tree, no carry chain.

    Each node keeps (any, several, first, second) for its half; a parent takes its first
    from the left half when that has a bit, and its second from the left half's second, the
    right half's first or the right half's second, in that order. Returns ``(first, any,
    second, several)``: ``second`` is meaningful only when ``several`` (two or more set)."""
    nodes = [(bits[i], Const(0, 1), Const(0, 1), Const(0, 1)) for i in range(len(bits))]
    level = 0
    while len(nodes) > 1:
        merged = []
        for pair in range(0, len(nodes), 2):
            if pair + 1 == len(nodes):
                left_any, left_many, left_first, left_second = nodes[pair]
                merged.append((left_any, left_many, left_first.as_unsigned(),
                               left_second.as_unsigned()))
                continue
            (la, lm, lf, ls), (ra, rm, rf, rs) = nodes[pair], nodes[pair + 1]
            width = level + 1
            first = Signal(width, name=f"{name}_f{level}_{pair // 2}")
            second = Signal(width, name=f"{name}_s{level}_{pair // 2}")
            many = Signal(name=f"{name}_m{level}_{pair // 2}")
            right_first, right_second = rf | (1 << level), rs | (1 << level)
            m.d.comb += [
                first.eq(Mux(la, lf, right_first)),
                second.eq(Mux(la, Mux(lm, ls, right_first), right_second)),
                many.eq(lm | rm | (la & ra)),
            ]
            merged.append((la | ra, many, first, second))
        nodes = merged
        level += 1
    any_set, several, first, second = nodes[0]
    return first, any_set, second, several


def layer_layout(*, entries: int, weight_rows: int, bias_rows: int,
                 max_chunks: int, max_outputs: int) -> data.StructLayout:
    """What the engine needs to know about a layer, sampled at ``start``: the descriptor's
    :data:`hw.descriptor.ENGINE_FIELDS`."""
    return layout_for({"walk_entries": entries, "weight_rows": weight_rows,
                       "bias_rows": bias_rows, "engine_chunks": max_chunks,
                       "spike_entries": max_outputs, "classes": max_outputs},
                      names=ENGINE_FIELDS)


def result_layout(*, lanes: int, accumulator_bits: int, max_chunks: int) -> data.StructLayout:
    return data.StructLayout({
        "acc": data.ArrayLayout(signed(accumulator_bits), lanes),
        "chunk": unsigned(max(1, max_chunks - 1).bit_length()),
        "last": 1,
    })


class SparseEngine(wiring.Component):
    """Spike-sparse accumulate over ``P`` lanes with weights in block RAM.

    At ``start`` the engine snapshots the input vector and the layer description. It then
    walks the chunks of ``P`` outputs in order; within a chunk a priority encoder visits
    the non-zero inputs from the lowest index up, and for each one all ``P`` lanes add
    ``a_i * W[i, chunk]`` (one weight row) to their accumulators, which start from the bias.
    A chunk whose inputs are all zero costs one cycle (its bias). A finished chunk leaves
    on ``o`` in slices of ``out_lanes`` (the post-processor's width), one slice a cycle:
    the engine can be wider than the neurons behind it, which cost far more logic per lane
    than a multiply-accumulate. Every factor, a spike
    level or an 8-bit feature or count, takes one multiplier per lane (a DSP48 on Artix-7, a
    MULT18X18D on ECP5): the DSP is there for the features anyway, and one product path is
    faster than a mux between two.

    Parameters
    ----------
    lanes : int
        ``P``, outputs per cycle.
    entries : int
        Length of the input vector (the largest ``C_in``).
    spike_bits : int
        Width of a spike level factor.
    accumulator_bits, bias_bits : int
        Signed widths; the accumulator must hold every layer's exact range
        (``contract.accumulator_bits``).
    weight_rows : array (rows, P) of int8
        The weight memory's contents, chunk-major in power-of-two blocks (see
        :mod:`hw.program`).
    bias_rows : array (rows, P) of int
        The bias memory's contents.
    max_chunks : int
        Largest ``ceil(C_out / P)`` of any layer.
    max_outputs : int, optional
        Largest ``C_out`` the ``c_out`` field must hold (default ``max_chunks * P``; the
        core passes the descriptor's own bound so the field widths agree).
    out_lanes : int, optional
        Lanes of a transfer on ``o`` (default ``P``); ``P`` must be a multiple of it. A
        chunk of ``P`` accumulators leaves as ``R = P / out_lanes`` slices, slice ``s`` of
        chunk ``g`` numbered ``g * R + s`` (the chunk index at ``out_lanes``); slices with no
        lane below ``c_out`` are skipped.

    Members
    -------
    start : In(1)
        Begin a layer; only while ``walking`` is low.
    layer : In(layer_layout)
        ``c_out``, ``chunks``, ``weight_base``, ``row_stride``, ``bias_base``; sampled at
        ``start`` (which inputs count, ``c_in``, arrives through ``nonzero``). Lanes at or past ``c_out`` (the last chunk's padding, whose
        weights and bias are 0) multiply by 0. ``weight_base`` must be a multiple of ``row_stride``, a power of
        two at least ``c_in`` (the layout of :mod:`hw.program`).
    vector : In(ArrayLayout(unsigned(8), entries))
        The input factors; sampled at ``start``.
    nonzero : In(entries)
        ``nonzero[i]`` is ``vector[i] != 0`` for ``i < c_in`` and 0 from ``c_in`` on,
        sampled at ``start``. The caller keeps these flags in registers beside its data
        (and ``c_in``'s mask beside the descriptor), so the walk's first input is found at
        ``start`` from flip-flops, with no 8-bit compare, adder or ``c_in`` comparison in
        front of the priority encoder.
    o : Out(stream.Signature(result_layout))
        One transfer per slice: ``out_lanes`` accumulators, the slice's chunk index at
        ``out_lanes``, and ``last`` on the layer's final slice.
    busy : Out(1)
        A layer is in flight (including a result not yet taken from ``o``).
    walking : Out(1)
        The walk stage is issuing a layer's events; ``start`` is taken whenever this is low.
        The read and MAC stages may then still hold the previous layer's last events and
        the output register its last chunk: they go on (a start touches the walk's
        registers only), the next layer's events follow them down the pipeline, and its
        first chunk waits for the register (the core may hold it further with
        ``o.ready``).
    events : Out(unsigned)
        Non-zero inputs of the current (or last) layer: counted once, not per chunk.

    Latency
    -------
    :attr:`latency` = 3 cycles from a chunk's last walk cycle to its first slice on ``o``.
    Throughput: one (non-zero input, chunk) pair per cycle and one slice per cycle, so a
    layer takes :func:`pymodel.golden.sparse_engine.walk_cycles` cycles (``max(1, nnz)``
    per chunk when each chunk has at most ``nnz`` slices) plus the latency, plus one cycle
    for ``start``; backpressure on ``o`` stalls the walk. ``walking`` falls the cycle
    after the layer's last event is issued
    (:func:`pymodel.golden.sparse_engine.layer_timing`).
    """

    latency = ENGINE_LATENCY

    def __init__(self, *, lanes: int, entries: int, spike_bits: int, accumulator_bits: int,
                 bias_bits: int, weight_rows, bias_rows, max_chunks: int,
                 max_outputs: Optional[int] = None, out_lanes: Optional[int] = None):
        check_int(self, "lanes", lanes, 1)
        out_lanes = lanes if out_lanes is None else out_lanes
        check_int(self, "out_lanes", out_lanes, 1, lanes)
        if lanes % out_lanes:
            reject(self, ValueError(f"lanes ({lanes}) must be a multiple of out_lanes "
                                    f"({out_lanes})"))
        check_int(self, "entries", entries, 1)
        check_int(self, "spike_bits", spike_bits, 1, contract.spike_bits(contract.MAX_LEVELS))
        check_int(self, "accumulator_bits", accumulator_bits, 2, 48)
        check_int(self, "bias_bits", bias_bits, 1, accumulator_bits)
        check_int(self, "max_chunks", max_chunks, 1)
        max_outputs = max_chunks * lanes if max_outputs is None else max_outputs
        check_int(self, "max_outputs", max_outputs, 1)
        weight_rows = np.asarray(weight_rows)
        bias_rows = np.asarray(bias_rows)
        if weight_rows.ndim != 2 or weight_rows.shape[1] != lanes:
            reject(self, ValueError(f"weight_rows must have shape (rows, {lanes}), "
                                    f"not {weight_rows.shape}"))
        if bias_rows.ndim != 2 or bias_rows.shape[1] != lanes:
            reject(self, ValueError(f"bias_rows must have shape (rows, {lanes}), "
                                    f"not {bias_rows.shape}"))
        if weight_rows.size and np.abs(weight_rows).max() > contract.WEIGHT_MAX:
            reject(self, ValueError(f"weights must lie in -{contract.WEIGHT_MAX}.."
                                    f"{contract.WEIGHT_MAX}"))
        if bias_rows.size and contract.signed_bits(bias_rows.min(), bias_rows.max()) > bias_bits:
            reject(self, ValueError(f"biases need more than bias_bits={bias_bits} bits"))
        self.lanes = lanes
        self.out_lanes = out_lanes
        #: slices per chunk
        self.ratio = lanes // out_lanes
        self.entries = entries
        self.spike_bits = spike_bits
        self.accumulator_bits = accumulator_bits
        self.bias_bits = bias_bits
        self.max_chunks = max_chunks
        self.weight_rows = weight_rows.astype(np.int64)
        self.bias_rows = bias_rows.astype(np.int64)
        self.layer_shape = layer_layout(entries=entries, weight_rows=len(weight_rows),
                                        bias_rows=len(bias_rows), max_chunks=max_chunks,
                                        max_outputs=max_outputs)
        self.result_shape = result_layout(lanes=out_lanes, accumulator_bits=accumulator_bits,
                                          max_chunks=-(-max_outputs // out_lanes))
        super().__init__({
            "start": In(1),
            "layer": In(self.layer_shape),
            "vector": In(data.ArrayLayout(unsigned(contract.FEATURE_BITS), entries)),
            "nonzero": In(entries),
            "o": Out(stream.Signature(self.result_shape)),
            "busy": Out(1),
            "walking": Out(1),
            "events": Out(range(entries + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes

        m.submodules.weights = weights = memory.Memory(
            shape=data.ArrayLayout(signed(contract.WEIGHT_BITS), lanes),
            depth=len(self.weight_rows), init=self.weight_rows.tolist())
        m.submodules.biases = biases = memory.Memory(
            shape=data.ArrayLayout(signed(self.bias_bits), lanes),
            depth=len(self.bias_rows), init=self.bias_rows.tolist())
        weight_rd = weights.read_port()
        bias_rd = biases.read_port()

        # The snapshot taken at `start`.
        factors = Signal(data.ArrayLayout(unsigned(contract.FEATURE_BITS), self.entries))
        mask = Signal(self.entries)
        layer = Signal(self.layer_shape)

        # Walk stage: which input and chunk is next. The walk looks one event ahead: the
        # input it issues this cycle (`head`) was found the cycle before, so the weight
        # address comes from registers, not through a 128-input priority encoder.
        walking = Signal()
        chunk = Signal(range(max(2, self.max_chunks)))
        row_base = Signal.like(weight_rd.addr)       # weight_base + chunk * row_stride
        next_row_base = Signal.like(weight_rd.addr)  # row_base + row_stride, ready beforehand
        remaining = Signal(self.entries)             # inputs of this chunk not yet issued
        index_width = max(1, (self.entries - 1).bit_length())
        head, head_any = Signal(index_width), Signal()     # lowest set bit of `remaining`
        first, first_any = Signal(index_width), Signal()   # lowest set bit of `mask`
        # Read stage registers: one event (its input, chunk) on its way to the MAC.
        r_valid, r_first, r_last, r_end = Signal(), Signal(), Signal(), Signal()
        r_factor = Signal(contract.FEATURE_BITS)      # 0 for a bias-only event
        r_chunk = Signal.like(chunk)
        r_live = Signal(lanes)                         # lanes below c_out in this chunk
        slices = range(1, self.ratio + 1)
        r_slices = Signal(slices)                      # slices of this chunk with real lanes
        # MAC stage registers, the weight and bias rows among them: the memories are read
        # from the walk stage, so their outputs (after the memory's bank multiplexer) land
        # in registers before the multiply.
        m_valid, m_first, m_last, m_end = Signal(), Signal(), Signal(), Signal()
        # The factor, one register per lane beside that lane's multiplier (0 on padding
        # lanes): a single register would drive all P multipliers across the die, and the
        # per-lane zeroing keeps synthesis from merging the copies back into one.
        m_factor = Signal(data.ArrayLayout(unsigned(contract.FEATURE_BITS), lanes))
        m_chunk = Signal.like(chunk)
        m_slices = Signal(slices)
        m_weights = Signal.like(weight_rd.data)
        m_bias = Signal.like(bias_rd.data)
        acc = Signal(data.ArrayLayout(signed(self.accumulator_bits), lanes))
        # Output stage: the finished chunk, sent a slice of `out_lanes` at a time.
        result = Signal.like(acc)
        result_chunk, result_end = Signal.like(chunk), Signal()
        result_slices, result_slice = Signal(slices), Signal(range(max(2, self.ratio)))
        out = self.out_lanes
        if self.ratio == 1:
            # As wide as the post-processor: no slice multiplexer, no counter.
            final_slice = Const(1)
            m.d.comb += [self.o.payload.acc.eq(result), self.o.payload.chunk.eq(result_chunk)]
        else:
            # A register, set as the slice before it leaves: it gates the stall, whose
            # fan-out to the walk and the memories' enables was the critical path (99.6 MHz)
            # with the comparison in front of it.
            final_slice = Signal()
            m.d.comb += [
                self.o.payload.acc.eq(result.as_value().word_select(
                    result_slice, out * self.accumulator_bits)),
                self.o.payload.chunk.eq(result_chunk * self.ratio + result_slice),
            ]
        m.d.comb += self.o.payload.last.eq(result_end & final_slice)
        leaving = self.o.valid & self.o.ready & final_slice   # the register frees this cycle

        # A finished chunk needs the output register: hold everything until it is free.
        stall = m_valid & m_last & self.o.valid & ~leaving
        m.d.comb += [weight_rd.en.eq(~stall), bias_rd.en.eq(~stall)]
        m.d.comb += [self.walking.eq(walking),
                     self.busy.eq(walking | r_valid | m_valid | self.o.valid)]

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += result_slice.eq(Mux(final_slice, 0, result_slice + 1))
            if self.ratio > 1:
                m.d.sync += final_slice.eq(result_slice + 2 == result_slices)
            with m.If(final_slice):
                m.d.sync += self.o.valid.eq(0)

        # --- walk: issue `head`, and find the next one --------------------------------------
        # One tree gives the two lowest set bits of `remaining`: the second is the next
        # head, and "not several" says this event takes the chunk's last input (or there is
        # none: a chunk whose inputs are all zero has one bias-only event).
        _, _, second, several = two_lowest_set_bits(m, remaining, "walk")
        chunk_done = ~several
        without = Signal(self.entries)
        m.d.comb += without.eq(remaining & (remaining - 1))   # clears the lowest set bit
        final_chunk = chunk == layer.chunks - 1
        lanes_left = Signal(signed(len(layer.c_out) + 1))
        m.d.comb += lanes_left.eq(layer.c_out - chunk * lanes)
        next_first = Signal()   # the next event starts a chunk (its accumulators load the bias)
        # A start touches the walk's registers only: the last layer's final events go on
        # through the read and MAC stages, and its chunk in the output register goes on
        # leaving a slice a cycle.
        with m.If(self.start & ~walking):
            # The layer's first input, for the first event and for every later chunk.
            lowest, lowest_any = lowest_set_bit(m, self.nonzero, "start")
            m.d.sync += [
                factors.eq(self.vector), mask.eq(self.nonzero), remaining.eq(self.nonzero),
                head.eq(lowest), head_any.eq(lowest_any),
                first.eq(lowest), first_any.eq(lowest_any),
                layer.eq(self.layer), walking.eq(1), chunk.eq(0), next_first.eq(1),
                row_base.eq(self.layer.weight_base), self.events.eq(0),
                next_row_base.eq(self.layer.weight_base + self.layer.row_stride),
            ]
            with m.If(~stall):
                m.d.sync += r_valid.eq(0)    # the last layer's final event moves on to the MAC
        with m.Elif(walking & ~stall):
            m.d.sync += [
                # The head's factor, picked here from its index register: the read stage
                # then only copies it out to the lanes.
                r_valid.eq(1),
                r_factor.eq(Mux(head_any, factors.as_value().word_select(
                    head, contract.FEATURE_BITS), 0)),
                r_first.eq(next_first), r_last.eq(chunk_done),
                r_chunk.eq(chunk), r_end.eq(chunk_done & final_chunk),
                next_first.eq(chunk_done),
            ]
            m.d.sync += [r_live[lane].eq(lane < lanes_left) for lane in range(lanes)]
            # Slices holding a lane below c_out: 1 + (lanes left past each slice boundary).
            m.d.sync += r_slices.eq(sum((lanes_left > k * out for k in range(1, self.ratio)),
                                        start=Const(1, slices)))
            with m.If(chunk == 0):
                m.d.sync += self.events.eq(self.events + head_any)
            with m.If(chunk_done):
                m.d.sync += [remaining.eq(mask), head.eq(first), head_any.eq(first_any),
                             chunk.eq(chunk + 1), row_base.eq(next_row_base),
                             next_row_base.eq(next_row_base + layer.row_stride)]
                with m.If(final_chunk):
                    m.d.sync += walking.eq(0)
            with m.Else():
                m.d.sync += [remaining.eq(without), head.eq(second)]
        with m.Elif(~stall):
            m.d.sync += r_valid.eq(0)

        # The walk stage addresses the weight and bias rows of the event it issues; a stall
        # holds the walk, so the address, and the memories (en low) hold their data.
        m.d.comb += [
            # A block's base is a multiple of its power-of-two stride (hw/program.py), so
            # OR places the index in the base's zero low bits: no carry chain here.
            weight_rd.addr.eq(row_base | Mux(head_any, head, 0)),
            bias_rd.addr.eq(layer.bias_base + chunk),
        ]

        # --- read: the rows arrive from the memories; the factor goes out to the lanes ---
        with m.If(~stall):
            m.d.sync += [
                m_valid.eq(r_valid), m_first.eq(r_first), m_last.eq(r_last), m_end.eq(r_end),
                m_chunk.eq(r_chunk), m_slices.eq(r_slices),
                m_weights.eq(weight_rd.data), m_bias.eq(bias_rd.data),
            ]
            m.d.sync += [m_factor[lane].eq(Mux(r_live[lane], r_factor, 0))
                         for lane in range(lanes)]

        # --- MAC: P lanes, bias on a chunk's first event --------------------------------
        # One multiplier per lane (a DSP) for every factor, spike levels and 8-bit features
        # and counts alike: the DSP is there for the features anyway, and no mux between two
        # product paths sits before the accumulator's adder.
        sums = []
        for lane in range(lanes):
            start_value = Mux(m_first, m_bias[lane], acc[lane])
            total = Signal(signed(self.accumulator_bits), name=f"sum_{lane}")
            m.d.comb += total.eq(start_value + m_weights[lane] * m_factor[lane])
            sums.append(total)
        with m.If(m_valid & ~stall):
            m.d.sync += [acc[lane].eq(sums[lane]) for lane in range(lanes)]
            with m.If(m_last):
                m.d.sync += [self.o.valid.eq(1), result_chunk.eq(m_chunk), result_end.eq(m_end),
                             result_slices.eq(m_slices), result_slice.eq(0)]
                if self.ratio > 1:
                    m.d.sync += final_slice.eq(m_slices == 1)
                m.d.sync += [result[lane].eq(sums[lane]) for lane in range(lanes)]

        return m
