"""``qkspike simulate``: the RTL under Verilator on a data split, checked against the golden
model clip by clip, with cycles per inference, the sparse bound and the dense count."""

from __future__ import annotations

from pathlib import Path

from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES, MAX_FEATURE_PORT_BYTES

from .cli import UsageError
from .clips import add_common, load_clips
from .options import (add_lanes, add_parallel, check_at_least_one, check_json_path, check_lanes,
                      write_json)


def add_arguments(parser) -> None:
    add_common(parser)
    add_lanes(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--plot", type=Path, default=None,
                        help="PNG of per-layer cycles against the bound (default: next to "
                             "--json)")
    parser.add_argument("--feature-port-bytes", type=int, default=DEFAULT_FEATURE_PORT_BYTES,
                        metavar="W", help="feature bytes the core takes per cycle: a frame "
                        "of n_mels features is ceil(n_mels / W) beats (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=25,
                        help="clips per Verilator run (default: %(default)s)")
    add_parallel(parser, "the batches")


def run(args) -> int:
    from qkspike.sim.parallel import SchedulerError
    from qkspike.sim.simulate import simulate_clips

    check_lanes(args)
    check_at_least_one(("--batch", args.batch), ("--jobs", args.jobs),
                       ("--feature-port-bytes", args.feature_port_bytes))
    if args.feature_port_bytes > MAX_FEATURE_PORT_BYTES:
        raise UsageError(f"--feature-port-bytes must be at most {MAX_FEATURE_PORT_BYTES}, "
                         f"not {args.feature_port_bytes}")
    check_json_path(args.json)
    model, data = load_clips(args)
    try:
        result = simulate_clips(model, data.features, data.labels, data.paths,
                                lanes=args.lanes, engine_lanes=args.engine_lanes,
                                feature_port_bytes=args.feature_port_bytes,
                                batch=args.batch, jobs=args.jobs, scheduler=args.scheduler,
                                progress=not args.no_progress)
    except SchedulerError as error:
        raise UsageError(str(error)) from None
    result["bad_files"] = data.bad
    print(format_simulation(result))
    plot = args.plot or (args.json.with_suffix(".png") if args.json else None)
    if plot:
        plot_layer_cycles(result, plot)
        print(f"wrote {plot}")
    if args.json:
        write_json(args.json, result)
    return 0 if result["bit_exact"] == result["clips"] else 1


def format_simulation(result: dict) -> str:
    from qkspike.sim.simulate import CLOCK_MHZ, SHIPPED_CLOCK
    lines = [
        "| metric | value |", "| --- | --- |",
        f"| lanes | P = {result['lanes']} neuron lanes, E = {result['engine_lanes']} engine "
        f"lanes |",
        f"| feature port | {result['feature_port_bytes']} bytes a cycle |",
        f"| clips | {result['clips']} |",
        f"| bit-exact (RTL == golden: logits, trace, counters) | {result['bit_exact']} / "
        f"{result['clips']} |",
        f"| RTL accuracy | {100 * result['accuracy']:.2f} % |",
        f"| cycles per inference (mean / max) | {result['cycles_mean']:.0f} / "
        f"{result['cycles_max']} |",
        f"| latency at {CLOCK_MHZ:.0f} MHz (shipped core: {SHIPPED_CLOCK}; Artix-7: an "
        f"estimate) | "
        f"{result['latency_us_at_100mhz']:.1f} us |",
        f"| decision latency: last frame in -> logits out, earlier frames done (mean / max) | "
        f"{result['decision_cycles_mean']:.0f} / {result['decision_cycles_max']} cycles "
        f"({result['decision_us_at_100mhz']:.2f} us at {CLOCK_MHZ:.0f} MHz) |",
        f"| sparse bound (mean) | {result['bound_mean']:.0f} "
        f"(cycles / bound = {result['cycles_over_bound']:.3f}) |",
        f"| dense walk (no zero-skipping) | {result['dense_mean']:.0f} "
        f"({result['dense_over_cycles']:.1f} x the measured cycles) |",
        f"| Verilator speed (one simulator) | {result['verilator_cycles_per_second']} "
        f"cycles/s |",
        f"| regression wall time (jobs: {result['jobs'] or 'Dask'}; build excluded) | "
        f"{result['regression_seconds']} s ({result['regression_cycles_per_second']} "
        f"cycles/s) |",
        "", "| layer | cycles (mean) | sparse bound (mean) | overhead | dense |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, layer in result["layers"].items():
        lines.append(f"| {name} | {layer['cycles_mean']:.0f} | {layer['bound_mean']:.0f} | "
                     f"{layer['overhead_mean']:.0f} | {layer['dense']} |")
    for mismatch in result["mismatches"][:10]:
        lines.append(f"\nMISMATCH {mismatch['path']}: {mismatch['problem']}")
    return "\n".join(lines)


def plot_layer_cycles(result: dict, path) -> None:
    """Per-layer measured cycles against the sparse bound (and the dense walk)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(result["layers"])
    cycles = [result["layers"][n]["cycles_mean"] for n in names]
    bound = [result["layers"][n]["bound_mean"] for n in names]
    dense = [result["layers"][n]["dense"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.bar(x - 0.27, dense, 0.27, label="dense (no zero-skipping)", color="0.8")
    ax.bar(x, cycles, 0.27, label="measured (RTL)", color="tab:blue")
    ax.bar(x + 0.27, bound, 0.27, label="sparse bound nnz*ceil(C_out/E)", color="tab:orange")
    ax.set_xticks(x, names, rotation=45, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("cycles per inference")
    ax.set_title(f"P = {result['lanes']}, E = {result['engine_lanes']}: "
                 f"{result['cycles_mean']:.0f} cycles per inference "
                 f"({result['latency_us_at_100mhz']:.0f} us at 100 MHz; decision after the last frame "
                 f"{result['decision_cycles_mean']:.0f} cycles)", fontsize=9)
    # Outside the axes, so it never covers a bar.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
