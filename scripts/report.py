"""``qkspike report``: accuracy, confusion matrix, spike raster, per-layer spike density,
synaptic operations and theoretical energy, as JSON, Markdown and PNG."""

from __future__ import annotations

from pathlib import Path

from .cli import UsageError
from .clips import add_common, load_clips
from .options import make_out_folder


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--out", type=Path, default=Path("report"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--no-noise", action="store_true",
                        help="skip the accuracy-against-SNR table (white and speech-shaped "
                             "noise at 20, 10, 5 and 0 dB; about a minute for 300 clips)")
    parser.add_argument("--raster-clip", type=int, default=0, metavar="N",
                        help="the spike raster shows the N-th evaluated clip "
                             "(default: %(default)s)")


def run(args) -> int:
    from qkspike.pymodel.evaluate import evaluate
    from qkspike.pymodel.report import check_raster_clip, format_table, write_report

    if args.raster_clip < 0:
        raise UsageError(f"--raster-clip must be at least 0, not {args.raster_clip}")
    make_out_folder(args.out)
    model, data = load_clips(args)
    # Before the evaluation and the noise benchmark (a minute for 300 clips), not after.
    try:
        check_raster_clip(args.raster_clip, len(data.labels))
    except ValueError as error:
        raise UsageError(str(error)) from None
    evaluation = evaluate(model, data, progress=not args.no_progress)
    noise = None
    if not args.no_noise:
        from qkspike.pymodel.noise import noise_robustness
        noise = noise_robustness(model, data.paths, data.labels, progress=not args.no_progress)
    report = write_report(model, evaluation, data.features, args.out,
                          raster_clip=args.raster_clip, noise=noise)
    print(format_table(report))
    if noise is not None:
        from qkspike.pymodel.report import format_noise
        print(format_noise(noise))
    print(f"wrote report.json, report.md, confusion.png, raster.png, density.png"
          f"{'' if noise is None else ', noise.png'} to {args.out}")
    return 0
