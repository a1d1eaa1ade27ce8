"""The testbenches' stream checks: a source that breaks the rules of amaranth.lib.stream fails.

Every sink in ``sim/`` (cocotb's StreamSink, the Amaranth simulator's ``receive`` and the
core runner) holds a payload shown while ``ready`` was low and fails when ``valid`` falls or
the payload changes before the transfer.
"""

import itertools

import pytest
from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import Out

from qkspike.sim import pysim


class CountingSource(wiring.Component):
    """Offers 0, 1, 2, ...; ``impatient`` moves on every cycle whether taken or not."""

    o: Out(stream.Signature(8))

    def __init__(self, impatient: bool):
        self.impatient = impatient
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        value = Signal(8)
        m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(value)]
        with m.If(self.o.ready | self.impatient):
            m.d.sync += value.eq(value + 1)
        return m


def collect(source):
    got = []

    async def testbench(ctx):
        got.extend(await pysim.receive(ctx, source.o, 5, itertools.cycle([1, 0, 0, 1])))

    pysim.simulate(source, testbench)
    return got


def test_a_patient_source_passes():
    assert collect(CountingSource(impatient=False)) == [0, 1, 2, 3, 4]


def test_a_source_that_changes_its_payload_before_ready_fails():
    with pytest.raises(AssertionError, match="stream rule broken: the payload changed"):
        collect(CountingSource(impatient=True))
