"""``qkspike synth``: Yosys synth_xilinx resource report of the core for an Artix-7 part."""

from __future__ import annotations

from pathlib import Path

from qkspike.pymodel.targets import DEFAULT_PART, PARTS

from .cli import UsageError
from .options import add_lanes, add_model, check_json_path, check_lanes, lanes_label, write_json


def add_arguments(parser) -> None:
    add_model(parser)
    parser.add_argument("--part", choices=sorted(PARTS), default=DEFAULT_PART,
                        help="(default: %(default)s)")
    add_lanes(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep Yosys's files here (default: a temporary folder)")


def format_report(report: dict, lanes: str) -> str:
    """The report as a table; ``lanes``: as :func:`options.lanes_label` names them."""
    pct = report["percent"]
    rows = [("LUT", f"{report['LUT']} ({report['LUT_memory']} as memory)", pct["LUT"]),
            ("FF", report["FF"], pct["FF"]),
            ("BRAM36", f"{report['BRAM36']:g} ({report['RAMB36E1']} RAMB36 + "
                       f"{report['RAMB18E1']} RAMB18)", pct["BRAM36"]),
            ("DSP48E1", report["DSP"], pct["DSP"])]
    lines = [f"Yosys synth_xilinx, {report['part']}, {lanes}:", "",
             "| resource | used | of the part |", "| --- | --- | --- |"]
    lines += [f"| {name} | {used} | {percent} % |" for name, used, percent in rows]
    lines.append(f"| longest combinational path | {report['logic_levels']} cells: "
                 f"{report['logic_levels_lut']} LUT/mux + {report['logic_levels_carry4']} "
                 f"CARRY4 | |")
    return "\n".join(lines)


def run(args) -> int:
    from amaranth.back import verilog

    from qkspike.hw.core import Core
    from qkspike.hw.program import compile_program
    from qkspike.hw.synthesis import fits, synthesize
    from qkspike.pymodel import modelfile

    check_lanes(args)
    check_json_path(args.json)
    part = PARTS[args.part]
    model = modelfile.load(args.model)
    # Fail fast on the obvious: the weights alone must fit the part's block RAM.
    weight_bits = compile_program(model, args.lanes,
                                  engine_lanes=args.engine_lanes).weight_rows.size * 8
    if weight_bits > part.bram36 * 36 * 1024:
        raise UsageError(f"the model's {weight_bits} weight bits do not fit the {part.name}'s "
                         f"{part.bram36} BRAM36 ({part.bram36 * 36} kbit)")
    core = Core(model, lanes=args.lanes, engine_lanes=args.engine_lanes)
    print(f"synthesising the core ({lanes_label(args)}) for {part.name} with Yosys "
          f"(a few minutes; a line every 15 s)", flush=True)
    report = synthesize(verilog.convert(core, name="qkspike_core"), "qkspike_core", part,
                        workdir=args.workdir)
    report["lanes"] = args.lanes
    report["engine_lanes"] = core.engine_lanes
    report["model"] = str(model.path)
    print(format_report(report, lanes_label(args)))
    if args.json:
        write_json(args.json, report)
    over = fits(report, part)
    if over:
        raise UsageError(f"the core does not fit the {part.name}: {', '.join(over)}")
    return 0
