"""``qkspike demo``: the shipped model on the shipped FSDD test clips, through the golden
model (all clips) and the RTL under Verilator (a sample, or all), with cycles per inference."""

from __future__ import annotations

import numpy as np

from qkspike.pymodel import modelfile
from qkspike.pymodel.datasets import shipped_fsdd_test
from qkspike.pymodel.evaluate import extract_features, golden_results
from qkspike.sim.simulate import CLOCK_MHZ, simulate_clips

from .cli import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("--rtl-clips", type=int, default=30,
                        help="clips to run through the RTL, spread over the split; 300 for "
                             "all (default: %(default)s)")
    parser.add_argument("--lanes", type=int, default=16, help="P (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    if not 1 <= args.rtl_clips <= 300:
        raise UsageError("--rtl-clips must be in 1..300")
    model = modelfile.load()
    clips = shipped_fsdd_test().split("test")
    data = extract_features(clips, model.frontend, progress=not args.no_progress)
    results = golden_results(model, data.features, progress=not args.no_progress)
    golden_accuracy = np.mean([r.predicted for r in results] == data.labels)
    print(f"model {model.path.name}: {model.summary()['weights']} int8 weights, "
          f"{model.config.blocks} blocks, {model.config.channels} channels")
    print(f"golden model (integers only): {100 * golden_accuracy:.2f} % on all "
          f"{len(data.labels)} FSDD test clips")

    picks = np.linspace(0, len(data.labels) - 1, args.rtl_clips).round().astype(int)
    result = simulate_clips(model, data.features[picks], data.labels[picks],
                            [data.paths[i] for i in picks], lanes=args.lanes,
                            progress=not args.no_progress)
    print(f"RTL (Verilator, P={args.lanes}): {result['bit_exact']}/{result['clips']} clips "
          f"bit-exact with the golden model, accuracy {100 * result['accuracy']:.2f} %")
    print(f"cycles per inference: mean {result['cycles_mean']:.0f}, max {result['cycles_max']} "
          f"= {result['latency_us_at_100mhz']:.0f} us at an assumed {CLOCK_MHZ:.0f} MHz; sparse bound "
          f"{result['bound_mean']:.0f}, dense {result['dense_mean']:.0f}")
    for mismatch in result["mismatches"]:
        print(f"MISMATCH {mismatch['path']}: {mismatch['problem']}")
    return 0 if result["bit_exact"] == result["clips"] else 1
