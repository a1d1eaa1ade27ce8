"""``qkspike board``: a build plan for a board of :data:`pymodel.targets.BOARDS` (the Arty A7s:
Vivado, through amaranth-boards), with the model's weights inside the bitstream; ``--build``
runs the toolchain when it is on PATH."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hw.board import BoardTop
from pymodel import modelfile
from pymodel.targets import BOARDS, board_platform

from .cli import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("--board", choices=sorted(BOARDS), default="arty-a7-35",
                        help="(default: %(default)s)")
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (default: the shipped model)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the build plan")
    parser.add_argument("--lanes", type=int, default=16, help="P (default: %(default)s)")
    parser.add_argument("--baud", type=int, default=115200,
                        help="UART speed (default: %(default)s)")
    parser.add_argument("--build", action="store_true",
                        help="run Vivado on the plan (needs vivado on PATH)")


NAME = "qkspike"


def run(args) -> int:
    if args.lanes < 1:
        raise UsageError("--lanes must be at least 1")
    model = modelfile.load(args.model)
    platform = board_platform(args.board)
    top = BoardTop(model, board=BOARDS[args.board], lanes=args.lanes, baud=args.baud)
    plan = platform.prepare(top, name=NAME)
    args.out.mkdir(parents=True, exist_ok=True)
    plan.extract(args.out)
    files = sorted(str(p.relative_to(args.out)) for p in args.out.rglob("*") if p.is_file())
    info = {"board": args.board, "device": f"{platform.device}{platform.package}-"
                                           f"{platform.speed}",
            "model": str(model.path), "lanes": args.lanes, "baud": args.baud,
            "clock_hz": platform.default_clk_frequency, "files": files,
            "build_script": f"build_{NAME}.sh", "bitstream": f"{NAME}.bit"}
    (args.out / "qkspike_board.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote the Vivado build plan for {args.board} ({info['device']}) to {args.out}: "
          f"{', '.join(files)}")
    if not args.build:
        print(f"to build: cd {args.out} && sh build_{NAME}.sh   (needs Vivado on PATH)")
        return 0
    if shutil.which("vivado") is None:
        raise UsageError(f"vivado is not on PATH: the plan is in {args.out}; run "
                         f"'sh build_{NAME}.sh' there on a machine with Vivado")
    plan.execute_local(args.out)
    print(f"bitstream: {args.out / (NAME + '.bit')}")
    return 0
