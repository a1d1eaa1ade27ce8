"""``qkspike report``: accuracy, confusion matrix, spike raster, per-layer spike density,
synaptic operations and theoretical energy, as JSON, Markdown and PNG."""

from __future__ import annotations

from pathlib import Path

from .clips import add_common, load_clips
from .options import make_out_folder


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--out", type=Path, default=Path("report"),
                        help="output folder (default: %(default)s)")


def run(args) -> int:
    from qkspike.pymodel.evaluate import evaluate
    from qkspike.pymodel.report import format_table, write_report

    make_out_folder(args.out)
    model, data = load_clips(args)
    evaluation = evaluate(model, data, progress=not args.no_progress)
    report = write_report(model, evaluation, data.features, args.out)
    print(format_table(report))
    print(f"wrote report.json, report.md, confusion.png, raster.png, density.png to {args.out}")
    return 0
