"""UART, 8 data bits, no parity, 1 stop bit (the Arty A7's USB serial).

Golden twin: the bit framing in :mod:`sim.uart` (start bit 0, 8 bits LSB first, stop bit 1).
Tests: ``tests/test_uart.py``.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .checks import check_int

__all__ = ["UARTReceiver", "UARTTransmitter", "divisor_for"]


def divisor_for(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit; the baud error must stay under 2 % for 8N1 to work."""
    divisor = round(clock_hz / baud)
    if divisor < 4:
        raise ValueError(f"{baud} baud is too fast for a {clock_hz / 1e6:g} MHz clock")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        raise ValueError(f"{baud} baud is {100 * error:.1f} % off at {clock_hz / 1e6:g} MHz")
    return divisor


class UARTReceiver(wiring.Component):
    """Deserialises 8N1 frames from ``rx`` into bytes.

    The line is synchronised (2 flip-flops), a start bit is confirmed at its middle, and
    each bit is sampled at its middle. A byte with a low stop bit is dropped and flagged.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (at least 4).

    Members
    -------
    rx : In(1, init=1)
        The serial line (idle high).
    o : Out(stream.Signature(8))
        Received bytes. A byte not taken before the next one completes is lost
        (``overrun``); at 115200 baud a byte lasts 868 cycles.
    framing_error : Out(1), overrun : Out(1)
        One-cycle flags.

    Latency
    -------
    A byte appears on ``o`` about half a bit after its stop bit's middle.
    """

    def __init__(self, divisor: int):
        check_int(self, "divisor", divisor, 4)
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bits = Signal(4)
        shift = Signal(8)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]

        with m.FSM():
            with m.State("Idle"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2)
                    m.next = "Start"
            with m.State("Start"):
                with m.If(timer == 0):
                    with m.If(line):            # a glitch, not a start bit
                        m.next = "Idle"
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                        m.next = "Data"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Data"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(shift >> 1 | line << 7), timer.eq(self.divisor - 1),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "Stop"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Stop"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1),
                                     self.overrun.eq(self.o.valid & ~self.o.ready)]
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                    m.next = "Idle"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m


class UARTTransmitter(wiring.Component):
    """Serialises bytes onto ``tx`` as 8N1 frames.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit.

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send; a byte is taken when the previous frame's stop bit has been sent.
    tx : Out(1, init=1)
        The serial line.

    Latency
    -------
    One frame (10 bits, ``10 * divisor`` cycles) per byte.
    """

    def __init__(self, divisor: int):
        check_int(self, "divisor", divisor, 4)
        self.divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits = Signal(range(11))            # bits left in the frame
        frame = Signal(10, init=0x3FF)      # stop, data (LSB first), start; LSB goes out first
        m.d.comb += [self.tx.eq(frame[0]), self.i.ready.eq(bits == 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq((1 << 9) | (self.i.payload << 1)), bits.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [frame.eq(frame >> 1 | (1 << 9)), bits.eq(bits - 1),
                             timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
