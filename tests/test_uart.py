"""UART receiver and transmitter: bit framing (8N1), loopback, framing errors, baud maths."""

import itertools

import pytest

from qkspike.hw.uart import UARTReceiver, UARTTransmitter, divisor_for
from qkspike.sim import pysim
from qkspike.sim.streams import PATTERNS


def bits_of(byte):
    """8N1: start bit 0, eight data bits LSB first, stop bit 1."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


@pytest.mark.parametrize("divisor", [4, 7])
def test_transmitter_sends_8n1_frames(divisor):
    dut = UARTTransmitter(divisor)
    data = [0x00, 0xFF, 0xA5, 0x3C]
    line = []

    async def testbench(ctx):
        for byte in data:
            ctx.set(dut.i.payload, byte)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            for _ in range(10 * divisor):
                line.append(ctx.get(dut.tx))
                await ctx.tick()

    pysim.simulate(dut, testbench)
    sampled = line[divisor // 2::divisor]
    assert sampled == [bit for byte in data for bit in bits_of(byte)]


@pytest.mark.parametrize("divisor", [4, 9])
def test_receiver_decodes_with_backpressure_and_flags_bad_stop_bits(divisor):
    dut = UARTReceiver(divisor)
    data = list(range(0, 256, 17)) + [0x80, 0x01]
    got, errors = [], []

    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3)
        for byte in data:
            for bit in bits_of(byte):
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(divisor)
        for bit in bits_of(0x55)[:-1] + [0]:        # a frame whose stop bit is 0
            ctx.set(dut.rx, bit)
            await ctx.tick().repeat(divisor)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3 * divisor)

    async def collect(ctx):
        ready = itertools.cycle(PATTERNS["idle_1_in_4"])
        for _ in range((len(data) + 2) * 10 * divisor + 10):
            take = next(ready)
            ctx.set(dut.o.ready, take)
            _, _, valid, payload, error = await ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                  dut.framing_error)
            if valid and take:
                got.append(payload)
            if error:
                errors.append(error)

    pysim.simulate(dut, drive, collect)
    assert got == data
    assert errors == [1]


def test_divisor_for_the_arty_clock():
    assert divisor_for(100e6, 115200) == 868
    with pytest.raises(ValueError, match="is too fast"):
        divisor_for(100e6, 50_000_000)
    with pytest.raises(ValueError, match=r"% off at 1 MHz"):
        divisor_for(1e6, 230400)
    with pytest.raises(ValueError, match="divisor must be an integer >= 4, not 2"):
        UARTReceiver(2)
