"""The residual stream update (the membrane shortcut), P lanes, in two combinational halves.

Golden twin: :mod:`pymodel.golden.residual`. Tests: ``tests/test_residual.py``.
"""

from __future__ import annotations

from amaranth import Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden import contract

from .checks import check_int
from .neuron import saturate_expr

__all__ = ["Rescale", "ResidualAdd", "ResidualUpdate"]


class Rescale(wiring.Component):
    """``rescale(acc, shift) = (acc + 2**(s-1)) >> s`` per lane (rounding half up; ``s = 0``:
    identity), the contract's (:func:`pymodel.golden.contract.rescale`). Combinational.

    The shift arrives decoded (:meth:`decode`): ``shift_less_one = s - 1`` (wrapping to all
    ones for ``s = 0``) and ``identity = (s == 0)``. The decode is kept outside so that a
    user can register it: the shift fans out to every lane's barrel shifter, and the 5-bit
    subtract in front of that fan-out was the core's critical path (post-route, ECP5).

    Members
    -------
    acc : In(ArrayLayout(signed(accumulator_bits), P))
    shift_less_one : In(5)
    identity : In(1)
    rounded : Out(ArrayLayout(signed(accumulator_bits + 1), P))

    Latency
    -------
    0 cycles (combinational): a barrel shift and one narrow increment.
    """

    def __init__(self, *, lanes: int, accumulator_bits: int):
        check_int(self, "lanes", lanes, 1)
        check_int(self, "accumulator_bits", accumulator_bits, 2, 48)
        self.lanes = lanes
        super().__init__({
            "acc": In(data.ArrayLayout(signed(accumulator_bits), lanes)),
            "shift_less_one": In(self.shift_shape()),
            "identity": In(1),
            "rounded": Out(data.ArrayLayout(signed(accumulator_bits + 1), lanes)),
        })

    @staticmethod
    def shift_shape():
        """The program's rescale shift field: 5 bits (``contract.MAX_RESCALE_SHIFT``)."""
        return unsigned(contract.MAX_RESCALE_SHIFT.bit_length())

    def decode(self, shift):
        """The statements that drive ``shift_less_one`` and ``identity`` from ``shift``
        (for ``m.d.comb``, or ``m.d.sync`` to register them)."""
        # shift - 1 wraps to all ones for shift = 0; that lane value is not selected then.
        return [self.shift_less_one.eq(shift - 1), self.identity.eq(shift == 0)]

    def elaborate(self, platform):
        m = Module()
        # (x + 2**(s-1)) >> s == ((x >> (s-1)) + 1) >> 1 for s >= 1 (write x = q*2**(s-1) + r
        # with 0 <= r < 2**(s-1): both sides are floor((q+1)/2)). This form never needs the
        # constant 2**(s-1), which for a shift beyond the accumulator's width does not fit it,
        # and costs one narrow adder instead of an adder as wide as the shift range.
        for lane in range(self.lanes):
            halved = ((self.acc[lane] >> self.shift_less_one) + 1) >> 1
            m.d.comb += self.rounded[lane].eq(Mux(self.identity, self.acc[lane], halved))
        return m


class ResidualAdd(wiring.Component):
    """``r' = saturate(keep * r + rounded, residual_bits)`` per lane. Combinational.

    Members
    -------
    residual : In(ArrayLayout(signed(R), P))
    rounded : In(ArrayLayout(signed(accumulator_bits + 1), P))
        From :class:`Rescale` (registered or not).
    keep : In(1)
    result : Out(ArrayLayout(signed(R), P))

    Latency
    -------
    0 cycles (combinational): one adder and the saturation.
    """

    def __init__(self, *, lanes: int, residual_bits: int, accumulator_bits: int):
        check_int(self, "lanes", lanes, 1)
        check_int(self, "residual_bits", residual_bits, 2, 32)
        self.lanes, self.residual_bits = lanes, residual_bits
        super().__init__({
            "residual": In(data.ArrayLayout(signed(residual_bits), lanes)),
            "rounded": In(data.ArrayLayout(signed(accumulator_bits + 1), lanes)),
            "keep": In(1),
            "result": Out(data.ArrayLayout(signed(residual_bits), lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        for lane in range(self.lanes):
            total = Mux(self.keep, self.residual[lane], 0) + self.rounded[lane]
            m.d.comb += self.result[lane].eq(saturate_expr(total, self.residual_bits))
        return m


class ResidualUpdate(wiring.Component):
    """``r' = saturate(keep * r + rescale(acc, shift), residual_bits)`` per lane:
    :class:`Rescale` then :class:`ResidualAdd` with nothing between them (the core's
    post-processor registers between the two instead).

    ``rescale(x, s) = (x + 2**(s-1)) >> s`` (rounding half up; ``s = 0``: identity) and the
    saturation are the contract's (:func:`pymodel.golden.contract.residual_add`); ``keep = 0``
    replaces the stream (the encoder starts it every time step).

    Parameters
    ----------
    lanes : int
    residual_bits : int
        ``R``, the stream's signed width.
    accumulator_bits : int
        Signed width of ``acc``.

    Members
    -------
    residual : In(ArrayLayout(signed(R), P))
    acc : In(ArrayLayout(signed(accumulator_bits), P))
    shift : In(5)
    keep : In(1)
    result : Out(ArrayLayout(signed(R), P))

    Latency
    -------
    0 cycles (combinational).
    """

    latency = 0

    def __init__(self, *, lanes: int, residual_bits: int, accumulator_bits: int):
        check_int(self, "lanes", lanes, 1)
        check_int(self, "residual_bits", residual_bits, 2, 32)
        check_int(self, "accumulator_bits", accumulator_bits, 2, 48)
        self.lanes = lanes
        self.residual_bits = residual_bits
        self.accumulator_bits = accumulator_bits
        super().__init__({
            "residual": In(data.ArrayLayout(signed(residual_bits), lanes)),
            "acc": In(data.ArrayLayout(signed(accumulator_bits), lanes)),
            "shift": In(Rescale.shift_shape()),
            "keep": In(1),
            "result": Out(data.ArrayLayout(signed(residual_bits), lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rescale = rescale = Rescale(lanes=self.lanes,
                                                 accumulator_bits=self.accumulator_bits)
        m.submodules.add = add = ResidualAdd(lanes=self.lanes, residual_bits=self.residual_bits,
                                             accumulator_bits=self.accumulator_bits)
        m.d.comb += rescale.decode(self.shift)
        m.d.comb += [rescale.acc.eq(self.acc),
                     add.residual.eq(self.residual), add.rounded.eq(rescale.rounded),
                     add.keep.eq(self.keep), self.result.eq(add.result)]
        return m
