"""``qkspike demo``: the shipped model on the FSDD test split (found by the data rule of
:mod:`qkspike.locations`), through the golden model (all clips) and the RTL under Verilator
(a sample, or all), with cycles per inference."""

from __future__ import annotations

from .cli import UsageError
from .options import add_lanes, add_progress, check_lanes, lanes_label


def add_arguments(parser) -> None:
    parser.add_argument("--rtl-clips", type=int, default=30,
                        help="clips to run through the RTL, spread over the split; 300 for "
                             "all (default: %(default)s)")
    add_lanes(parser)
    add_progress(parser)


def run(args) -> int:
    import numpy as np

    from qkspike.pymodel import modelfile
    from qkspike.pymodel.evaluate import extract_features, golden_results
    from qkspike.sim.simulate import clock_note, simulate_clips

    from .clips import open_data

    if not 1 <= args.rtl_clips <= 300:
        raise UsageError(f"--rtl-clips must be in 1..300, not {args.rtl_clips}")
    check_lanes(args)
    model = modelfile.load()
    dataset, location = open_data(None)
    clips = dataset.split("test")
    if not clips:
        raise UsageError(f"{location.path}: the FSDD test split (index 0-4) has no clips")
    print(f"data: FSDD test split, {len(clips)} clips from {location.describe()}")
    data = extract_features(clips, model.frontend, progress=not args.no_progress)
    results = golden_results(model, data.features, progress=not args.no_progress)
    golden_accuracy = np.mean([r.predicted for r in results] == data.labels)
    print(f"model {model.path.name}: {model.summary()['weights']} int8 weights, "
          f"{model.config.blocks} blocks, {model.config.channels} channels")
    print(f"golden model (integers only): {100 * golden_accuracy:.2f} % on all "
          f"{len(data.labels)} FSDD test clips")

    count = min(args.rtl_clips, len(data.labels))
    picks = np.linspace(0, len(data.labels) - 1, count).round().astype(int)
    result = simulate_clips(model, data.features[picks], data.labels[picks],
                            [data.paths[i] for i in picks], lanes=args.lanes,
                            engine_lanes=args.engine_lanes, progress=not args.no_progress)
    print(f"RTL (Verilator, {lanes_label(args)}): {result['bit_exact']}/{result['clips']} clips "
          f"bit-exact with the golden model, accuracy {100 * result['accuracy']:.2f} %")
    print(f"cycles per inference: mean {result['cycles_mean']:.0f}, max {result['cycles_max']} "
          f"({clock_note(result['cycles_mean'])}); sparse bound {result['bound_mean']:.0f}, "
          f"dense {result['dense_mean']:.0f}")
    print(f"decision after the last frame (earlier frames already processed, as in real "
          f"time): mean {result['decision_cycles_mean']:.0f}, max "
          f"{result['decision_cycles_max']} cycles "
          f"({result['decision_us_at_100mhz']:.2f} us at 100 MHz)")
    for mismatch in result["mismatches"]:
        print(f"MISMATCH {mismatch['path']}: {mismatch['problem']}")
    return 0 if result["bit_exact"] == result["clips"] else 1
