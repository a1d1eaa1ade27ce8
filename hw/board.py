"""Board tops: the core behind the UART link, and the wrapper that puts it on a board's pins.

Tests: ``tests/test_board.py`` (the link top through its UART pins, in Verilator).
"""

from __future__ import annotations

from typing import Optional

from amaranth import Cat, Elaboratable, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.modelfile import IntegerModel
from qkspike.pymodel.targets import Board

from .checks import check_int
from .core import Core
from .link import LinkController
from .uart import UARTReceiver, UARTTransmitter, divisor_for

__all__ = ["LinkTop", "BoardTop"]


class LinkTop(wiring.Component):
    """The core, its UART link and status LEDs: everything the board needs but the pins.

    Parameters
    ----------
    model : IntegerModel
    lanes : int
    divisor : int
        Clock cycles per UART bit (``hw.uart.divisor_for(clock, baud)``).
    timeout : int, optional
        Cycles of silence that truncate a frame (default: 20 byte times).

    Members
    -------
    rx : In(1, init=1), tx : Out(1, init=1)
        The serial lines.
    leds : Out(4)
        0: heartbeat (blinks while the clock runs), 1: an utterance is loaded,
        2: the core is running, 3: the last frame was bad.
    """

    def __init__(self, model: IntegerModel, *, lanes: int, divisor: int,
                 timeout: Optional[int] = None, engine_lanes: Optional[int] = None):
        check_int(self, "divisor", divisor, 4)
        self.model = model
        self.lanes = lanes
        self.engine_lanes = engine_lanes
        self.divisor = divisor
        self.timeout = timeout if timeout is not None else 200 * divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(4)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = Core(self.model, lanes=self.lanes,
                                        engine_lanes=self.engine_lanes)
        m.submodules.receiver = receiver = UARTReceiver(self.divisor)
        m.submodules.transmitter = transmitter = UARTTransmitter(self.divisor)
        m.submodules.link = link = LinkController(core, timeout=self.timeout)
        wiring.connect(m, receiver.o, link.rx)
        wiring.connect(m, link.tx, transmitter.i)
        wiring.connect(m, link.feature, core.i)
        wiring.connect(m, core.o, link.logit)
        m.d.comb += [
            receiver.rx.eq(self.rx), self.tx.eq(transmitter.tx),
            link.core_done.eq(core.done), link.core_predicted.eq(core.predicted),
            core.stat_select.eq(link.stat_select), link.stat_value.eq(core.stat_value),
        ]
        heartbeat = Signal(27)
        m.d.sync += heartbeat.eq(heartbeat + 1)
        m.d.comb += self.leds.eq(Cat(heartbeat[-1], link.loaded, link.running, link.error))
        return m


class BoardTop(Elaboratable):
    """:class:`LinkTop` on a board's pins: the UART and the status LEDs its
    :class:`pymodel.targets.Board` row names (on the Arty A7: the USB serial and LD4-LD7).

    The platform's default clock drives everything; the UART divisor follows from it and
    ``baud``.
    """

    def __init__(self, model: IntegerModel, *, board: Board, lanes: int, baud: int = 115200,
                 engine_lanes: Optional[int] = None):
        self.model = model
        self.board = board
        self.lanes = lanes
        self.engine_lanes = engine_lanes
        self.baud = baud

    def elaborate(self, platform):
        m = Module()
        divisor = divisor_for(platform.default_clk_frequency, self.baud)
        m.submodules.link_top = top = LinkTop(self.model, lanes=self.lanes, divisor=divisor,
                                              engine_lanes=self.engine_lanes)
        uart = platform.request(*self.board.uart, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for index in range(min(self.board.leds, len(top.leds))):
            name, subsignal = self.board.led
            pins = platform.request(name, index, dir="-")
            m.submodules[f"led_{index}"] = led = io.Buffer(
                "o", getattr(pins, subsignal) if subsignal else pins)
            m.d.comb += led.o.eq(top.leds[index])
        return m
