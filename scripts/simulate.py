"""``qkspike simulate``: the RTL under Verilator on a data split, checked against the golden
model clip by clip, with cycles per inference, the sparse bound and the dense count."""

from __future__ import annotations

import json
from pathlib import Path

from sim.parallel import SchedulerError
from sim.simulate import format_simulation, plot_layer_cycles, simulate_clips

from .cli import UsageError
from .eval import add_common, load_clips


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--lanes", type=int, default=16, help="P (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--plot", type=Path, default=None,
                        help="PNG of per-layer cycles against the bound (default: next to "
                             "--json)")
    parser.add_argument("--batch", type=int, default=25,
                        help="clips per Verilator run (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="local worker processes (default: every core)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the batches on this Dask distributed scheduler instead "
                             "(e.g. tcp://host:8786; needs qkspike[distributed])")


def run(args) -> int:
    for option, value in (("--lanes", args.lanes), ("--batch", args.batch),
                          ("--jobs", args.jobs)):
        if value is not None and value < 1:
            raise UsageError(f"{option} must be at least 1")
    model, data = load_clips(args)
    try:
        result = simulate_clips(model, data.features, data.labels, data.paths,
                                lanes=args.lanes, batch=args.batch, jobs=args.jobs,
                                scheduler=args.scheduler, progress=not args.no_progress)
    except SchedulerError as error:
        raise UsageError(str(error)) from None
    result["bad_files"] = data.bad
    print(format_simulation(result))
    plot = args.plot or (args.json.with_suffix(".png") if args.json else None)
    if plot:
        plot_layer_cycles(result, plot)
        print(f"wrote {plot}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if result["bit_exact"] == result["clips"] else 1
