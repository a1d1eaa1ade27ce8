"""cocotb testbench: the board top through its UART pins, with the host's protocol code.

Job: ``divisor``, ``classes``, ``clips`` (flat feature bytes), ``corrupt`` (a list of raw
byte strings, hex, to send before the clips: bad checksums, truncated frames, junk), and
``pins``: the top's port names for the clock, reset (``None``: the board's power-on reset),
UART lines and LEDs (one port of four bits, or one per LED, active-low where
``leds_inverted``), and the clock period ``clock_ns``.
Records every reply frame; the host side checks them against the golden model.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import SimTimeoutError, with_timeout

from qkspike.pymodel.golden.link import Command, FrameParser, frame

from .common import load_job, save_result, start_clock_and_reset
from .uart import UARTDriver, UARTMonitor


async def next_frame(monitor: UARTMonitor, parser: FrameParser, pending: list):
    while not pending:
        pending.extend(parser.feed(bytes([await monitor.received.get()])))
    return pending.pop(0)


def read_leds(dut, pins: dict) -> int:
    """The LEDs as a number, LED 0 in bit 0, 1 = lit."""
    if len(pins["leds"]) == 1:
        value = int(getattr(dut, pins["leds"][0]).value)
        width = 4
    else:
        value = sum(int(getattr(dut, name).value) << i for i, name in enumerate(pins["leds"]))
        width = len(pins["leds"])
    return value ^ ((1 << width) - 1) if pins["leds_inverted"] else value


@cocotb.test()
async def board_over_uart(dut):
    job = load_job()
    divisor = job["divisor"]
    pins = job["pins"]
    getattr(dut, pins["rx"]).value = 1
    # A board top has no reset port: it resets at power-on; give it a few edges instead.
    clock = await start_clock_and_reset(dut, 2 if pins["rst"] else 4, clock=pins["clk"],
                                        reset=pins["rst"], period_ns=pins.get("clock_ns", 10))
    driver = UARTDriver(getattr(dut, pins["rx"]), clock, divisor)
    monitor = UARTMonitor(getattr(dut, pins["tx"]), clock, divisor)
    cocotb.start_soon(monitor.run())
    parser, pending = FrameParser(), []
    # One frame of the longest kind lasts ~10 bits per byte: allow a generous multiple.
    limit_ns = 10 * divisor * 10 * 20_000 * 4

    async def request(raw: bytes, idle_bits: int = 0):
        await driver.send(raw)
        if idle_bits:
            await driver.idle(idle_bits)
        try:
            code, payload = await with_timeout(next_frame(monitor, parser, pending), limit_ns,
                                               "ns")
        except SimTimeoutError:
            raise AssertionError(f"no reply to {raw[:8].hex()}... ({len(raw)} bytes) within "
                                 f"{limit_ns} ns; pending frames {pending}") from None
        return {"code": code, "payload": payload.hex()}

    replies = {"corrupt": [], "clips": [], "leds": []}
    for raw in job["corrupt"]:
        # Truncated frames only get their answer after the board's silence timeout.
        replies["corrupt"].append(await request(bytes.fromhex(raw), idle_bits=400))
        replies["leds"].append(read_leds(dut, pins))
    replies["ping"] = await request(frame(Command.PING))
    for flat in job["clips"]:
        load = await request(frame(Command.LOAD, bytes(flat)))
        run = await request(frame(Command.RUN))
        again = await request(frame(Command.READ))
        replies["clips"].append({"load": load, "run": run, "read": again})
    replies["stats"] = await request(frame(Command.STATS))
    save_result(replies)
