"""cocotb UART models, 8N1: bytes onto a DUT's ``rx`` pin and bytes off its ``tx`` pin.

The framing here is the reference for :mod:`hw.uart`: a start bit (0), 8 data bits LSB
first, a stop bit (1), each ``divisor`` clock cycles long.
"""

from __future__ import annotations

from cocotb.queue import Queue
from cocotb.triggers import ClockCycles, FallingEdge

__all__ = ["UARTDriver", "UARTMonitor"]


class UARTDriver:
    def __init__(self, pin, clock, divisor: int):
        self.pin, self.clock, self.divisor = pin, clock, divisor
        self.pin.value = 1

    async def send(self, data: bytes, *, gap_bits: int = 0) -> None:
        for byte in data:
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                self.pin.value = bit
                await ClockCycles(self.clock, self.divisor)
            if gap_bits:
                await ClockCycles(self.clock, self.divisor * gap_bits)

    async def idle(self, bits: int) -> None:
        self.pin.value = 1
        await ClockCycles(self.clock, self.divisor * bits)


class UARTMonitor:
    """Decodes every byte the DUT sends into ``self.received`` (a queue of ints)."""

    def __init__(self, pin, clock, divisor: int):
        self.pin, self.clock, self.divisor = pin, clock, divisor
        self.received: Queue = Queue()

    async def run(self) -> None:
        while True:
            await FallingEdge(self.pin)
            await ClockCycles(self.clock, self.divisor // 2)    # middle of the start bit
            if self.pin.value:
                continue
            byte = 0
            for bit in range(8):
                await ClockCycles(self.clock, self.divisor)
                byte |= int(self.pin.value) << bit
            await ClockCycles(self.clock, self.divisor)
            if self.pin.value:                                  # a good stop bit
                self.received.put_nowait(byte)
