"""The head: spike counts over time, and the logits with their argmax.

The classifier product itself runs on the sparse engine (8-bit factors: the counts).
Golden twin: :mod:`pymodel.golden.head`. Tests: ``tests/test_head.py``.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden import contract

from .checks import check_int

__all__ = ["SpikeCounts", "LogitsOutput", "logit_layout"]


class SpikeCounts(wiring.Component):
    """Per channel, the head neuron's spikes summed over the utterance, saturating at 255.

    The add is registered as it arrives (``add``, ``chunk`` and ``spikes`` come straight
    from the neuron's fire stage, a carry chain already) and applied one cycle later; the
    ``counts`` output forwards that pending add over the stored counts, so what a reader
    sees is the same as if the add had been stored at once.

    Parameters
    ----------
    channels : int
    lanes : int
        Spikes arrive ``P`` at a time, chunk ``g`` covering channels ``g*P .. g*P + P - 1``.
    spike_bits : int

    Members
    -------
    add : In(1)
        Add ``spikes`` to chunk ``chunk`` this cycle.
    chunk : In(unsigned)
    spikes : In(ArrayLayout(unsigned(spike_bits), P))
    clear : In(1)
        Start of an utterance: every count to 0 (takes priority over ``add``).
    counts : Out(ArrayLayout(unsigned(8), channels))
    nonzero : Out(channels)
        ``counts != 0`` per channel, from a register of its own and the pending add: a
        count is non-zero once any non-zero spike was added (it saturates, never wraps), so
        no adder precedes it.

    Latency
    -------
    1 cycle: ``counts`` and ``nonzero`` show an ``add`` on the next cycle (``counts``
    from the pending-add register through one 8-bit saturating adder; the stored counts
    follow a cycle later).
    """

    latency = 1

    def __init__(self, *, channels: int, lanes: int, spike_bits: int):
        check_int(self, "channels", channels, 1)
        check_int(self, "lanes", lanes, 1)
        check_int(self, "spike_bits", spike_bits, 1, 3)
        self.channels = channels
        self.lanes = lanes
        self.spike_bits = spike_bits
        self.chunks = contract.lane_chunks(channels, lanes)
        super().__init__({
            "add": In(1),
            "chunk": In(range(max(2, self.chunks))),
            "spikes": In(data.ArrayLayout(unsigned(spike_bits), lanes)),
            "clear": In(1),
            "counts": Out(data.ArrayLayout(unsigned(contract.COUNT_BITS), channels)),
            "nonzero": Out(channels),
        })

    def elaborate(self, platform):
        m = Module()
        pending = Signal()
        pending_chunk = Signal.like(self.chunk)
        pending_spikes = Signal.like(self.spikes)
        m.d.sync += [pending.eq(self.add & ~self.clear), pending_chunk.eq(self.chunk),
                     pending_spikes.eq(self.spikes)]
        stored = Signal.like(self.counts)
        for channel in range(self.channels):
            count = stored[channel]
            total = count + pending_spikes[channel % self.lanes]
            saturated = Mux(total > contract.COUNT_MAX, contract.COUNT_MAX, total)
            hit = pending & (pending_chunk == channel // self.lanes)
            m.d.comb += self.counts[channel].eq(Mux(hit, saturated, count))

        # The non-zero flags forward the pending add too, from registers decoded as it
        # arrives (which chunk, which lanes carry a spike): one LUT per channel, where
        # flags written straight from the incoming spikes put the whole neuron fire stage
        # in front of 64 clock enables (the critical path post-route).
        pending_hits = Signal(self.chunks)
        pending_live = Signal(self.lanes)
        arriving = self.add & ~self.clear
        m.d.sync += [pending_hits.eq(Cat(arriving & (self.chunk == chunk)
                                         for chunk in range(self.chunks))),
                     pending_live.eq(Cat(spike != 0 for spike in self.spikes))]
        seen = Signal(self.channels)
        for channel in range(self.channels):
            m.d.comb += self.nonzero[channel].eq(
                seen[channel] | (pending_hits[channel // self.lanes]
                                 & pending_live[channel % self.lanes]))
        with m.If(self.clear):
            m.d.sync += [stored.eq(0), seen.eq(0)]
        with m.Else():
            m.d.sync += [stored.eq(self.counts), seen.eq(self.nonzero)]
        return m


def logit_layout(accumulator_bits: int, classes: int) -> data.StructLayout:
    return data.StructLayout({
        "logit": signed(accumulator_bits),
        "index": unsigned(max(1, (classes - 1).bit_length())),
        "last": 1,
    })


class LogitsOutput(wiring.Component):
    """Collects the head's logits chunk by chunk, then streams them out with the argmax.

    Parameters
    ----------
    classes : int
    lanes : int
    accumulator_bits : int

    Members
    -------
    write : In(1)
        Store ``acc`` as the logits of chunk ``chunk``.
    chunk : In(unsigned)
    acc : In(ArrayLayout(signed(accumulator_bits), P))
    send : In(1)
        Start streaming the stored logits (after the last chunk was written).
    o : Out(stream.Signature(logit_layout))
        ``classes`` transfers, class 0 first, ``last`` on the final one.
    predicted : Out(unsigned)
        The argmax (largest logit, ties to the lowest index); valid once ``done`` rose.
    done : Out(1)
        One cycle, after the last transfer.

    Latency
    -------
    1 cycle from ``send`` to the first ``valid``; one logit per cycle without backpressure.
    """

    latency = 1

    def __init__(self, *, classes: int, lanes: int, accumulator_bits: int):
        check_int(self, "classes", classes, 2)
        check_int(self, "lanes", lanes, 1)
        check_int(self, "accumulator_bits", accumulator_bits, 2, 48)
        self.classes = classes
        self.lanes = lanes
        self.accumulator_bits = accumulator_bits
        self.chunks = contract.lane_chunks(classes, lanes)
        self.o_shape = logit_layout(accumulator_bits, classes)
        super().__init__({
            "write": In(1),
            "chunk": In(range(max(2, self.chunks))),
            "acc": In(data.ArrayLayout(signed(accumulator_bits), lanes)),
            "send": In(1),
            "o": Out(stream.Signature(self.o_shape)),
            "predicted": Out(self.o_shape["index"].shape),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        logits = Signal(data.ArrayLayout(signed(self.accumulator_bits), self.classes))
        for index in range(self.classes):
            with m.If(self.write & (self.chunk == index // self.lanes)):
                m.d.sync += logits[index].eq(self.acc[index % self.lanes])

        position = Signal(range(self.classes))
        best = Signal(signed(self.accumulator_bits))
        sending = Signal()
        # The logit on `o` is a register, loaded with the next class's as a transfer goes:
        # the comparison with `best` then starts at flip-flops, not after a C-way mux.
        current = Signal(signed(self.accumulator_bits))
        following = Signal.like(position)
        m.d.comb += [
            following.eq(Mux(position == self.classes - 1, position, position + 1)),
            self.o.valid.eq(sending),
            self.o.payload.logit.eq(current),
            self.o.payload.index.eq(position),
            self.o.payload.last.eq(position == self.classes - 1),
        ]
        m.d.sync += self.done.eq(0)
        with m.If(self.send & ~sending):
            m.d.sync += [sending.eq(1), position.eq(0), current.eq(logits[0])]
        with m.Elif(self.o.valid & self.o.ready):
            # Strictly greater: ties keep the lower index.
            with m.If((position == 0) | (current > best)):
                m.d.sync += [best.eq(current), self.predicted.eq(position)]
            with m.If(self.o.payload.last):
                m.d.sync += [sending.eq(0), self.done.eq(1)]
            with m.Else():
                m.d.sync += [position.eq(following), current.eq(logits[following])]
        return m
