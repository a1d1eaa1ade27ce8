"""Progress on waits that show nothing else: a heartbeat line while a tool runs.

Verilator builds (about 100 s for the core) and Yosys or nextpnr runs (minutes) print
nothing of their own, so :func:`heartbeat` prints ``[qkspike] <what>: 30 s`` to stderr every
``every`` seconds until the block ends, then how long it took.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import re
from pathlib import Path
from typing import Callable, Iterator, Optional

__all__ = ["heartbeat", "yosys_stage"]

_YOSYS_STEP = re.compile(r"^\d+(?:\.\d+)*\. Executing (.+?)(?: \(.*)?\.?$")


def yosys_stage(log: Path) -> Callable[[], str]:
    """A status for :func:`heartbeat`: the pass Yosys's log file says it is running."""
    def stage() -> str:
        try:
            with open(log, "rb") as handle:
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - 16384))
                lines = handle.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            match = _YOSYS_STEP.match(line.strip())
            if match:
                return match.group(1)
        return ""
    return stage


@contextlib.contextmanager
def heartbeat(what: str, *, every: float = 15.0, stream=None,
              status: Optional[Callable[[], str]] = None) -> Iterator[None]:
    """Print ``what``, the elapsed time and ``status()`` (when given) every ``every`` seconds
    while the block runs."""
    stream = stream or sys.stderr
    started = time.monotonic()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            now = status() if status else ""
            print(f"[qkspike] {what}: {time.monotonic() - started:.0f} s"
                  + (f", {now}" if now else ""), file=stream, flush=True)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
