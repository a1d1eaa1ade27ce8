"""Neuron arrays: the contract neuron (``pymodel.golden.contract.neuron_step``) in P lanes.

Golden twin: :mod:`pymodel.golden.neuron`. Tests: ``tests/test_neuron.py``.
"""

from __future__ import annotations


from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden import contract
from qkspike.pymodel.golden.neuron import NeuronParams

from .checks import check_int, reject

__all__ = ["NeuronIntegrate", "NeuronFire", "NeuronUpdate", "NeuronArray", "const_multiple",
           "saturate_expr"]


def const_multiple(value, factor: int):
    """``value * factor`` for a small constant ``factor``, as shift-and-add (no multiplier)."""
    terms = [value << bit for bit in range(factor.bit_length()) if factor >> bit & 1]
    result = Const(0, 1) if not terms else terms[0]
    for term in terms[1:]:
        result = result + term
    return result


def saturate_expr(value, bits: int):
    """Clamp an Amaranth expression to the signed ``bits``-bit range (contract ``saturate``).

    Written as a check of the high bits, not as two comparisons: the value fits exactly when
    its bits from ``bits - 1`` up are all equal (all sign), so the check is a LUT reduction
    beside the datapath instead of two more carry chains behind it."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not value.shape().signed:                 # an unsigned value: one more bit, sign 0
        value = Cat(value, Const(0, 1)).as_signed()
    width = len(value)
    if width <= bits:
        return value
    top = value[bits - 1:]
    fits = (top == 0) | (top == (1 << len(top)) - 1)
    return Mux(fits, value[:bits].as_signed(), Mux(value[-1], lo, hi))[:bits].as_signed()


class NeuronIntegrate(wiring.Component):
    """First half of a contract neuron step, for ``lanes`` neurons: integrate and leak, and
    the threshold multiples the second half compares against. Purely combinational.

    ``h = v - (v >> k) + u`` (``v`` taken as 0 when ``fresh``); ``multiples[j] = j*theta``
    for ``j = 1..max_levels`` (shift-and-add, no multiplier). Its outputs are what
    :class:`NeuronFire` needs, so a pipeline register may sit between the two.

    Members
    -------
    state, fresh, current, threshold, leak_enable, leak_shift : In
        As :class:`NeuronUpdate`.
    h : Out(ArrayLayout(signed(H), P))
        ``H = max(V, U) + 2`` bits: exact for every input.
    multiples : Out(ArrayLayout(ArrayLayout(unsigned(threshold_bits + 3), max_levels), P))
        ``multiples[lane][j - 1] = j * theta[lane]``.

    Latency
    -------
    0 cycles (combinational); one adder chain (``v - leak + u``) behind a barrel shift.
    """

    def __init__(self, *, lanes: int, state_bits: int, input_bits: int, threshold_bits: int,
                 max_levels: int):
        _check_widths(self, lanes, state_bits, input_bits, threshold_bits, max_levels)
        self.lanes, self.max_levels = lanes, max_levels
        self.h_bits = max(state_bits, input_bits) + 2
        self.multiple_bits = threshold_bits + contract.MAX_LEVELS.bit_length()
        super().__init__({
            "state": In(data.ArrayLayout(signed(state_bits), lanes)),
            "fresh": In(1),
            "current": In(data.ArrayLayout(signed(input_bits), lanes)),
            "threshold": In(data.ArrayLayout(unsigned(threshold_bits), lanes)),
            "leak_enable": In(1),
            "leak_shift": In(data.ArrayLayout(unsigned(contract.LEAK_SHIFT_BITS), lanes)),
            "h": Out(data.ArrayLayout(signed(self.h_bits), lanes)),
            "multiples": Out(data.ArrayLayout(
                data.ArrayLayout(unsigned(self.multiple_bits), max_levels), lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        for lane in range(self.lanes):
            v = Mux(self.fresh, 0, self.state[lane])
            leak = Mux(self.leak_enable, v >> self.leak_shift[lane], 0)
            m.d.comb += self.h[lane].eq(v - leak + self.current[lane])
            for j in range(1, self.max_levels + 1):
                m.d.comb += self.multiples[lane][j - 1].eq(
                    const_multiple(self.threshold[lane], j))
        return m


class NeuronFire(wiring.Component):
    """Second half of a contract neuron step: spike levels, reset and saturation.

    ``s = sum_j [h >= j*theta]`` over ``j = 1..levels``; soft reset ``v' = h - s*theta``,
    hard reset ``v' = 0 if s else h``; ``v'`` saturates to ``state_bits``. The differences
    ``h - j*theta`` are formed side by side, so each comparison is a difference's sign and
    the soft-reset membrane is one of them: one carry chain deep.

    Members
    -------
    h, multiples : In
        From :class:`NeuronIntegrate` (registered or not).
    levels, reset : In
        As :class:`NeuronUpdate`.
    spikes : Out(ArrayLayout(unsigned(spike_bits), P))
    next_state : Out(ArrayLayout(signed(V), P))

    Latency
    -------
    0 cycles (combinational).
    """

    def __init__(self, *, lanes: int, state_bits: int, h_bits: int, multiple_bits: int,
                 max_levels: int):
        check_int(self, "lanes", lanes, 1)
        check_int(self, "max_levels", max_levels, 1, contract.MAX_LEVELS)
        self.lanes, self.state_bits, self.max_levels = lanes, state_bits, max_levels
        self.spike_bits = contract.spike_bits(max_levels)
        super().__init__({
            "h": In(data.ArrayLayout(signed(h_bits), lanes)),
            "multiples": In(data.ArrayLayout(
                data.ArrayLayout(unsigned(multiple_bits), max_levels), lanes)),
            "levels": In(unsigned(self.spike_bits)),
            "reset": In(contract.RESET_CODE_BITS),
            "spikes": Out(data.ArrayLayout(unsigned(self.spike_bits), lanes)),
            "next_state": Out(data.ArrayLayout(signed(state_bits), lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        h_bits = len(self.h[0])
        difference_bits = max(h_bits, len(self.multiples[0][0]) + 1) + 1
        for lane in range(self.lanes):
            h = self.h[lane]
            below = [h]         # below[j] = h - j*theta
            for j in range(1, self.max_levels + 1):
                d = Signal(signed(difference_bits), name=f"d{j}_{lane}")
                m.d.comb += d.eq(h - self.multiples[lane][j - 1])
                below.append(d)
            # Thermometer of comparisons, with the rungs above `levels` switched off.
            rungs = [~below[j][-1] & (j <= self.levels) for j in range(1, self.max_levels + 1)]
            spike = Signal(unsigned(self.spike_bits), name=f"spike_{lane}")
            m.d.comb += [spike.eq(sum(rungs)), self.spikes[lane].eq(spike)]
            # Every candidate membrane saturated side by side with the comparisons, then the
            # reset mode (contract.reset_membrane) and the spike level pick one.
            saturated = []
            for j, value in enumerate(below):
                candidate = Signal(signed(self.state_bits), name=f"v{j}_{lane}")
                m.d.comb += candidate.eq(saturate_expr(value, self.state_bits))
                saturated.append(candidate)
            after = {contract.ResetMode.SOFT: Array(saturated)[spike],
                     contract.ResetMode.HARD: Mux(spike != 0, 0, saturated[0])}
            with m.Switch(self.reset):
                for mode, value in after.items():
                    with m.Case(contract.reset_code(mode)):
                        m.d.comb += self.next_state[lane].eq(value)
        return m


def _check_widths(component, lanes, state_bits, input_bits, threshold_bits, max_levels):
    check_int(component, "lanes", lanes, 1)
    check_int(component, "state_bits", state_bits, 2)
    check_int(component, "input_bits", input_bits, 1)
    check_int(component, "threshold_bits", threshold_bits, 1)
    check_int(component, "max_levels", max_levels, 1, contract.MAX_LEVELS)


class NeuronUpdate(wiring.Component):
    """One contract neuron step for ``lanes`` neurons at once: :class:`NeuronIntegrate` then
    :class:`NeuronFire`, with nothing between them; purely combinational.

    ``h = v - (v >> k) + u``; ``s = sum_j [h >= j*theta]`` for ``j = 1..levels``;
    soft reset ``v' = h - s*theta`` or hard reset ``v' = 0 if s else h``; ``v'`` saturates
    to ``state_bits``. The multiples ``j*theta`` are shift-and-add: no multiplier, no divider.
    (The core's post-processor puts a register between the two halves instead.)

    Parameters
    ----------
    lanes : int
        Neurons updated per cycle, ``P``.
    state_bits : int
        Signed width of the membrane state ``V``.
    input_bits : int
        Signed width of the input current ``U``.
    threshold_bits : int
        Unsigned width of a threshold.
    max_levels : int
        Largest ``levels`` the datapath supports (``1..MAX_LEVELS``); sets the spike width.

    Members
    -------
    state : In(ArrayLayout(signed(V), P))
        Membrane states before the step.
    fresh : In(1)
        Treat every ``state`` as 0 (first step after a clear).
    current : In(ArrayLayout(signed(U), P))
        Input currents ``u``.
    threshold : In(ArrayLayout(unsigned(threshold_bits), P))
        Per-lane thresholds, each ``>= 1``.
    levels : In(unsigned)
        ``D`` for this population, ``1..max_levels``.
    leak_enable : In(1)
        0 for no leak (``k = None``).
    leak_shift : In(ArrayLayout(unsigned(4), P))
        ``k`` per lane (per-head leak shifts make them differ).
    reset : In(RESET_CODE_BITS)
        The reset mode's code (``contract.reset_code``).
    spikes : Out(ArrayLayout(unsigned(spike_bits), P))
        ``s`` per lane.
    next_state : Out(ArrayLayout(signed(V), P))
        ``v'`` per lane.

    Latency
    -------
    0 cycles (combinational).
    """

    def __init__(self, *, lanes: int, state_bits: int, input_bits: int, threshold_bits: int,
                 max_levels: int):
        _check_widths(self, lanes, state_bits, input_bits, threshold_bits, max_levels)
        self.lanes = lanes
        self.state_bits = state_bits
        self.input_bits = input_bits
        self.threshold_bits = threshold_bits
        self.max_levels = max_levels
        self.spike_bits = contract.spike_bits(max_levels)
        super().__init__({
            "state": In(data.ArrayLayout(signed(state_bits), lanes)),
            "fresh": In(1),
            "current": In(data.ArrayLayout(signed(input_bits), lanes)),
            "threshold": In(data.ArrayLayout(unsigned(threshold_bits), lanes)),
            "levels": In(unsigned(self.spike_bits)),
            "leak_enable": In(1),
            "leak_shift": In(data.ArrayLayout(unsigned(contract.LEAK_SHIFT_BITS), lanes)),
            "reset": In(contract.RESET_CODE_BITS),
            "spikes": Out(data.ArrayLayout(unsigned(self.spike_bits), lanes)),
            "next_state": Out(data.ArrayLayout(signed(state_bits), lanes)),
        })

    latency = 0

    def elaborate(self, platform):
        m = Module()
        m.submodules.integrate = integrate = NeuronIntegrate(
            lanes=self.lanes, state_bits=self.state_bits, input_bits=self.input_bits,
            threshold_bits=self.threshold_bits, max_levels=self.max_levels)
        m.submodules.fire = fire = NeuronFire(
            lanes=self.lanes, state_bits=self.state_bits, h_bits=integrate.h_bits,
            multiple_bits=integrate.multiple_bits, max_levels=self.max_levels)
        m.d.comb += [
            integrate.state.eq(self.state), integrate.fresh.eq(self.fresh),
            integrate.current.eq(self.current), integrate.threshold.eq(self.threshold),
            integrate.leak_enable.eq(self.leak_enable), integrate.leak_shift.eq(self.leak_shift),
            fire.h.eq(integrate.h), fire.multiples.eq(integrate.multiples),
            fire.levels.eq(self.levels), fire.reset.eq(self.reset),
            self.spikes.eq(fire.spikes), self.next_state.eq(fire.next_state),
        ]
        return m


class NeuronArray(wiring.Component):
    """A population of contract neurons with its state in memory, streamed ``P`` at a time.

    Every time step the array takes the inputs of its ``N`` channels as ``ceil(N / P)``
    chunks, in channel order, and answers each chunk with its spikes. Lanes past ``N`` in the
    last chunk are ignored and answer 0.

    Parameters
    ----------
    params : NeuronParams
        Thresholds (one per channel), levels ``D``, leak shift, reset mode and state width.
    lanes : int
        ``P``, neurons updated per cycle.
    input_bits : int
        Signed width of an input current.

    Members
    -------
    i : In(stream.Signature(ArrayLayout(signed(input_bits), P)))
        Input currents of one chunk.
    o : Out(stream.Signature(ArrayLayout(unsigned(spike_bits), P)))
        Spikes of that chunk.
    clear : In(1)
        Start of an utterance: every membrane to 0 and the next chunk is chunk 0. One cycle;
        assert it only while no chunk is in flight.

    Latency
    -------
    :attr:`latency` = 2 cycles from an input transfer to the output's ``valid`` when the
    output is not stalled. Throughput: one chunk per cycle.
    """

    latency = 2

    def __init__(self, params: NeuronParams, *, lanes: int, input_bits: int):
        if not isinstance(params, NeuronParams):
            reject(self, TypeError(f"params must be a NeuronParams, not "
                                   f"{type(params).__name__}"))
        check_int(self, "lanes", lanes, 1)
        check_int(self, "input_bits", input_bits, 2, 32)
        self.params = params
        self.lanes = lanes
        self.input_bits = input_bits
        self.chunks = contract.lane_chunks(params.channels, lanes)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(input_bits), lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(unsigned(params.spike_bits), lanes))),
            "clear": In(1),
        })

    def _threshold_rows(self) -> list[list[int]]:
        # Lanes past the last channel get the largest threshold; their spikes are masked anyway.
        thresholds = self.params.thresholds
        return contract.split_into_lanes(thresholds, self.lanes, fill=max(thresholds)).tolist()

    def elaborate(self, platform):
        m = Module()
        p = self.params
        lanes = self.lanes

        m.submodules.update = update = NeuronUpdate(
            lanes=lanes, state_bits=p.state_bits, input_bits=self.input_bits,
            threshold_bits=p.threshold_bits, max_levels=p.levels)
        m.submodules.state = state = memory.Memory(
            shape=data.ArrayLayout(signed(p.state_bits), lanes), depth=self.chunks, init=[])
        m.submodules.thresholds = thresholds = memory.Memory(
            shape=data.ArrayLayout(unsigned(p.threshold_bits), lanes), depth=self.chunks,
            init=self._threshold_rows())
        m.submodules.leaks = leaks = memory.Memory(
            shape=data.ArrayLayout(unsigned(contract.LEAK_SHIFT_BITS), lanes), depth=self.chunks,
            init=p.leak_rows(lanes).tolist())
        state_wr = state.write_port()
        # Transparent so that, with a single chunk, back-to-back steps see the state just written.
        state_rd = state.read_port(transparent_for=(state_wr,))
        threshold_rd, leak_rd = thresholds.read_port(), leaks.read_port()

        chunk = Signal(range(self.chunks))          # chunk of the next input transfer
        fresh = Signal(self.chunks, init=(1 << self.chunks) - 1)  # row not written since clear

        # Stage A: the accepted chunk waits here while its state and thresholds are read.
        a_valid = Signal()
        a_chunk = Signal.like(chunk)
        a_current = Signal.like(self.i.payload)
        a_fresh = Signal()

        advance = a_valid & (~self.o.valid | self.o.ready)
        m.d.comb += self.i.ready.eq(~a_valid | advance)
        accept = self.i.valid & self.i.ready

        m.d.comb += [
            state_rd.addr.eq(chunk), state_rd.en.eq(accept),
            threshold_rd.addr.eq(chunk), threshold_rd.en.eq(accept),
            leak_rd.addr.eq(chunk), leak_rd.en.eq(accept),
        ]
        writing_same_row = advance & (a_chunk == chunk)
        with m.If(accept):
            m.d.sync += [
                a_chunk.eq(chunk),
                a_current.eq(self.i.payload),
                a_fresh.eq(fresh.bit_select(chunk, 1) & ~writing_same_row),
                chunk.eq(Mux(chunk == self.chunks - 1, 0, chunk + 1)),
            ]
        with m.If(accept):
            m.d.sync += a_valid.eq(1)
        with m.Elif(advance):
            m.d.sync += a_valid.eq(0)

        m.d.comb += [
            update.state.eq(state_rd.data),
            update.fresh.eq(a_fresh),
            update.current.eq(a_current),
            update.threshold.eq(threshold_rd.data),
            update.levels.eq(p.levels),
            update.leak_enable.eq(p.leak_shift is not None),
            update.leak_shift.eq(leak_rd.data),
            update.reset.eq(contract.reset_code(p.reset)),
            state_wr.addr.eq(a_chunk),
            state_wr.data.eq(update.next_state),
            state_wr.en.eq(advance),
        ]

        # Stage B: the output register.
        last_lanes = p.channels - (self.chunks - 1) * lanes
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(1),
                fresh.bit_select(a_chunk, 1).eq(0),
            ]
            for lane in range(lanes):
                real = Const(1) if lane < last_lanes else (a_chunk != self.chunks - 1)
                m.d.sync += self.o.payload[lane].eq(Mux(real, update.spikes[lane], 0))
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.If(self.clear):
            m.d.sync += [fresh.eq((1 << self.chunks) - 1), chunk.eq(0)]
        return m
