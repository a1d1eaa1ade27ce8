"""``qkspike sweep``: the design-space sweep of time steps, firing-rate penalty, blocks and lanes
(a benchmark: each trained point takes minutes to tens of minutes on 2 cores; resumable).

Writes ``sweep.json``, ``sweep.md`` (the table, Pareto rows marked) and ``sweep.png`` (integer
accuracy against cycles per inference, the Pareto front joined) to ``--out``.
"""

from __future__ import annotations

from pathlib import Path

from .cli import UsageError
from .options import (add_parallel, add_progress, add_training_run, check_at_least_one,
                      check_blocks, check_shape, check_training_run, make_out_folder,
                      require_torch, train_config, training_frontend)


def _list(kind, text: str, option: str) -> list:
    try:
        values = [kind(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UsageError(f"{option}: not a comma-separated list of numbers: {text!r}") from None
    if not values:
        raise UsageError(f"{option}: give at least one value")
    return values


def add_arguments(parser) -> None:
    from qkspike.pymodel.model_config import ModelConfig

    parser.add_argument("--data", type=Path, default=None,
                        help="FSDD folder (default: the FSDD, by the data rule)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for every point's models and results, and the summary")
    parser.add_argument("--stride", default=None, metavar="S[,S]",
                        help="encoder strides to train (frames / S time steps, 100 frames "
                             "at the default hop; "
                             "default: 2 when --rate-penalty is given)")
    parser.add_argument("--hop", type=int, default=None, metavar="H",
                        help="the trained points' front-end hop in samples (default: 80, "
                             "100 frames a second; 160 gives 50)")
    parser.add_argument("--kernel-overlap", type=int, default=1, metavar="N",
                        help="encoder kernel = stride + N frames (0: frame stacking; "
                             "default: %(default)s, the shipped 3 at stride 2)")
    parser.add_argument("--blocks", default=None, metavar="N[,N]",
                        help="transformer blocks of the trained points, each four layer "
                             f"passes a time step (default: {ModelConfig.blocks})")
    parser.add_argument("--rate-penalty", default=None, metavar="W[,W]",
                        help="firing-rate penalty weights to train (default: 0 when --stride "
                             "is given)")
    parser.add_argument("--models", default=None, metavar="PATH[,PATH]",
                        help="model files to include as they are (e.g. the shipped one)")
    parser.add_argument("--lanes", default="16", metavar="P[:E][,P[:E]]",
                        help="lane counts to simulate: P neuron lanes with an engine as wide, "
                             "or P:E for E engine lanes behind them, E a multiple of P "
                             "(e.g. 16,16:64; default: %(default)s)")
    parser.add_argument("--holdout-speakers", default=None, metavar="NAME[,NAME]",
                        help="also train one model per point without each of these speakers "
                             "and report its accuracy on them (speaker-held-out)")
    parser.add_argument("--synth", action="store_true",
                        help="Yosys synth_xilinx for the xc7a35t per point and lanes "
                             "(LUT/FF/BRAM36/DSP; minutes each)")
    parser.add_argument("--timing", action="store_true",
                        help="ECP5 place-and-route per point and lanes (Fmax; about 7 "
                             "minutes each)")
    parser.add_argument("--limit", type=int, default=None,
                        help="simulate this many test clips, spread over classes and "
                             "speakers (default: all)")
    add_parallel(parser, "training, RTL and synthesis jobs")
    add_training_run(parser)
    # Jobs run side by side, one per core: one PyTorch thread each unless asked otherwise.
    parser.set_defaults(threads=1)
    add_progress(parser)


def points_from_args(args) -> list:
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.model_config import ModelConfig
    from qkspike.sim.sweep import Point, grid

    points = []
    if args.stride is not None or args.rate_penalty is not None or args.blocks is not None:
        strides = _list(int, args.stride or "2", "--stride")
        depths = _list(int, args.blocks or str(ModelConfig.blocks), "--blocks")
        for depth in depths:
            check_blocks(depth)
        penalties = _list(float, args.rate_penalty or "0", "--rate-penalty")
        if args.kernel_overlap < 0:
            raise UsageError(f"--kernel-overlap must be 0 or more, not {args.kernel_overlap}")
        frontend = training_frontend(Point.hop if args.hop is None else args.hop)
        for stride in strides:
            for penalty in penalties:
                check_shape(stride, stride + args.kernel_overlap, penalty, frontend.frames)
        points += grid(strides, penalties, kernel=lambda s: s + args.kernel_overlap,
                       hop=frontend.hop, blocks=depths)
    for text in (args.models or "").split(","):
        if text.strip():
            path = Path(text.strip())
            model = modelfile.load(path)          # one line naming the path if it is bad
            points.append(Point(path.stem, model.config.stride, model.config.kernel,
                                float(model.metadata.get("train_config", {})
                                      .get("rate_penalty", 0.0)), str(path),
                                model.frontend.hop, model.config.blocks))
    if not points:
        raise UsageError("nothing to sweep: give --stride, --rate-penalty and/or --blocks "
                         "to train, or --models")
    names = [point.name for point in points]
    if len(set(names)) != len(names):
        raise UsageError(f"two points share a name: {', '.join(names)}")
    return points


def lane_configurations(text: str) -> list[tuple[int, int]]:
    """``--lanes``' ``(P, E)`` pairs; ``UsageError`` for a bad entry."""
    pairs = []
    for entry in text.split(","):
        lanes, _, engine = entry.partition(":")
        try:
            p, e = int(lanes), int(engine or lanes)
        except ValueError:
            raise UsageError(f"--lanes: not a comma-separated list of P or P:E, "
                             f"{text!r}") from None
        check_at_least_one(("--lanes", p), ("--lanes' engine lanes", e))
        if e % p:
            raise UsageError(f"--lanes {entry}: the engine lanes must be a multiple of P")
        pairs.append((p, e))
    return pairs


def run(args) -> int:
    from qkspike.pymodel.frontend import FrontendConfig
    from qkspike.sim.parallel import SchedulerError, dask_client, default_jobs
    from qkspike.sim.sweep import format_sweep, plot_sweep, sweep

    from .clips import open_data

    check_training_run(args)
    lanes = lane_configurations(args.lanes)
    check_at_least_one(("--jobs", args.jobs), ("--limit", args.limit))
    points = points_from_args(args)
    if any(point.model is None for point in points):
        require_torch("the sweep's training")
    make_out_folder(args.out)
    dataset, location = open_data(args.data)
    holdout = []
    if args.holdout_speakers:
        from qkspike.pymodel.datasets import speaker_names
        holdout = speaker_names(args.holdout_speakers)
        dataset.hold_out(holdout)                 # names every unknown speaker now
    print(f"data: {location.describe()}; {len(points)} point(s) x {len(lanes)} lane "
          f"count(s)", flush=True)
    try:
        with dask_client(args.scheduler) as client:
            result = sweep(dataset, FrontendConfig(), train_config(args), points, lanes,
                           args.out, holdout=holdout, synth=args.synth, timing=args.timing,
                           limit=args.limit, jobs=args.jobs or default_jobs(), client=client,
                           scheduler=args.scheduler,
                           log=lambda line: print(line, flush=True))
    except SchedulerError as error:
        raise UsageError(str(error)) from None
    except ValueError as error:                   # a saved model trained otherwise
        raise UsageError(str(error)) from None
    table = format_sweep(result)
    (args.out / "sweep.md").write_text(table + "\n")
    plot_sweep(result, args.out / "sweep.png")
    print(table)
    print(f"wrote sweep.json, sweep.md and sweep.png to {args.out}")
    return 0
