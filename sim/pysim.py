"""Amaranth-simulator stream drivers: the fast twin of :mod:`sim.streams` (no Verilator).

Used by the ``rtl_run(x) == model(x)`` tests (Glasgow's COBS pattern) with the same
idle and backpressure patterns as the cocotb testbenches.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator, Optional

from amaranth.lib import data
from amaranth.sim import Simulator

__all__ = ["send", "receive", "simulate", "to_python", "HeldUntilReady"]


def to_python(value: Any) -> Any:
    """A sampled payload as plain Python: ints, lists for arrays, dicts for structs."""
    if isinstance(value, int):
        return value
    layout = value.shape()
    if isinstance(layout, data.ArrayLayout):
        return [to_python(value[index]) for index in range(layout.length)]
    return {name: to_python(getattr(value, name)) for name, _ in layout}


async def send(ctx, stream, payloads: Iterable[Any],
               valid_pattern: Optional[Iterator[int]] = None) -> None:
    """Send every payload on ``stream``, idling where ``valid_pattern`` yields 0."""
    valid_pattern = valid_pattern or itertools.repeat(1)
    for payload in payloads:
        while not next(valid_pattern):
            ctx.set(stream.valid, 0)
            await ctx.tick()
        ctx.set(stream.payload, payload)
        ctx.set(stream.valid, 1)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


class HeldUntilReady:
    """The stream rule a sink checks: once ``valid`` is up it stays up, with the same
    payload, until a cycle with ``ready``. Call :meth:`check` once per cycle."""

    def __init__(self):
        self.offered = None     # a payload shown while ready was low: it must stay

    def check(self, valid, ready, payload) -> None:
        if self.offered is not None and (not valid or payload != self.offered):
            broken = "valid fell" if not valid else "the payload changed"
            raise AssertionError(f"stream rule broken: {broken} before ready "
                                 f"(offered {self.offered!r})")
        self.offered = payload if valid and not ready else None


async def receive(ctx, stream, count: int, ready_pattern: Optional[Iterator[int]] = None, *,
                  timeout_cycles: int = 200_000) -> list[Any]:
    """Collect ``count`` payloads from ``stream``, withholding ``ready`` per the pattern, and
    check the stream rules: once ``valid`` is up it stays up, with the same payload, until a
    cycle with ``ready``."""
    ready_pattern = ready_pattern or itertools.repeat(1)
    received = []
    rule = HeldUntilReady()
    for _ in range(timeout_cycles):
        if len(received) == count:
            break
        ready = next(ready_pattern)
        ctx.set(stream.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        payload = to_python(payload)
        rule.check(valid, ready, payload)
        if ready and valid:
            received.append(payload)
    else:
        raise AssertionError(f"timed out after {timeout_cycles} cycles with {len(received)} "
                             f"of {count} transfers received")
    ctx.set(stream.ready, 0)
    return received


def simulate(dut, *testbenches, vcd: Optional[str] = None) -> None:
    """Run ``testbenches`` (async functions of ``ctx``) on ``dut`` with a 1 MHz clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-6, if_exists=True)  # combinational designs have no sync domain
    for testbench in testbenches:
        sim.add_testbench(testbench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
