"""cocotb drivers for Amaranth ``lib.stream`` ports (``<name>__valid/ready/payload``).

Both sides sample the handshake in the ``ReadOnly`` phase before the clock edge, so a
transfer is counted exactly when ``valid & ready`` hold at the edge. Idle cycles and
backpressure come from patterns such as Forencich's ``itertools.cycle([1, 1, 1, 0])``.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Iterator, Optional

from cocotb.triggers import ReadOnly, RisingEdge, SimTimeoutError, with_timeout

from .common import as_unsigned

__all__ = ["StreamSource", "StreamSink", "pattern", "PATTERNS"]

#: Named valid/ready patterns the tests use: always on, Forencich's 3-of-4, and sparse.
PATTERNS = {
    "full": [1],
    "idle_1_in_4": [1, 1, 1, 0],
    "sparse": [1, 0, 0, 1, 0],
}


def pattern(name: str) -> Iterator[int]:
    return itertools.cycle(PATTERNS[name])


class StreamSource:
    """Drives ``<name>__valid`` and ``<name>__payload``; waits for ``<name>__ready``.

    Follows the stream rules: once ``valid`` rises, it and the payload hold until the
    transfer; ``valid`` never waits for ``ready``.
    """

    def __init__(self, dut, name: str, clock):
        self.clock = clock
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.valid.value = 0

    async def send(self, payloads: Iterable[int], valid_pattern: Optional[Iterator[int]] = None):
        """Send every payload (flat integers), idling where ``valid_pattern`` yields 0."""
        valid_pattern = valid_pattern or itertools.repeat(1)
        for payload in payloads:
            while not next(valid_pattern):
                self.valid.value = 0
                await RisingEdge(self.clock)
            self.payload.value = int(payload)
            self.valid.value = 1
            while True:
                await ReadOnly()
                if not self.ready.value:
                    # Sleep until the sink is ready again instead of waking every cycle.
                    await RisingEdge(self.ready)
                    continue
                await RisingEdge(self.clock)
                break
        self.valid.value = 0


class StreamSink:
    """Collects transfers from ``<name>__valid/payload``, driving ``<name>__ready``."""

    def __init__(self, dut, name: str, clock, period_ns: int = 10):
        self.clock = clock
        self.period_ns = period_ns
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.ready.value = 0

    async def receive(self, count: int, ready_pattern: Optional[Iterator[int]] = None, *,
                      timeout_cycles: int = 1_000_000,
                      convert: Callable[[Any], Any] = as_unsigned):
        """Return the next ``count`` payloads, withholding ``ready`` where the pattern says 0.

        Checks the stream rules on the way: once ``valid`` is up it stays up, with the same
        payload, until a cycle with ``ready`` (an AssertionError says which rule broke).
        """
        ready_pattern = ready_pattern or itertools.repeat(1)
        received = []

        async def collect():
            offered = None      # a payload shown while ready was low: it must stay
            while len(received) < count:
                ready = next(ready_pattern)
                self.ready.value = ready
                await ReadOnly()
                if not self.valid.value:
                    if offered is not None:
                        raise AssertionError(f"stream rule broken: valid fell before ready "
                                             f"(payload {offered:#x} was offered)")
                    # Nothing offered: sleep until something is, instead of waking every cycle.
                    await RisingEdge(self.valid)
                    continue
                payload = as_unsigned(self.payload.value)
                if offered is not None and payload != offered:
                    raise AssertionError(f"stream rule broken: the payload changed from "
                                         f"{offered:#x} to {payload:#x} while valid waited for "
                                         f"ready")
                if ready:
                    received.append(convert(self.payload.value))
                    offered = None
                else:
                    offered = payload
                await RisingEdge(self.clock)

        try:
            await with_timeout(collect(), timeout_cycles * self.period_ns, "ns")
        except SimTimeoutError:
            raise AssertionError(f"timed out after {timeout_cycles} cycles with "
                                 f"{len(received)} of {count} transfers received") from None
        self.ready.value = 0
        return received
