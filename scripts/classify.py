"""``qkspike classify FILE...``: the class of any recording (WAV, FLAC, OGG; any rate, any
channel count, any length), with its score margin and logits; ``--rtl`` also runs each one
through the RTL under Verilator and reports cycles per inference and bit-exactness."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import UsageError
from .options import add_lanes, add_model, check_lanes, lanes_label, write_json


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="recordings to classify (no naming rules, no labels)")
    add_model(parser)
    parser.add_argument("--rtl", action="store_true",
                        help="also run the RTL under Verilator: cycles and bit-exactness")
    add_lanes(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")


def run(args) -> int:
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.audio import AudioError
    from qkspike.pymodel.classify import classify_file

    check_lanes(args)
    model = modelfile.load(args.model)
    results, failed = [], 0
    for path in args.files:
        try:
            result = classify_file(model, path)
        except AudioError as error:
            if len(args.files) == 1:
                raise UsageError(str(error)) from None
            print(f"skipped: {error}", file=sys.stderr)
            failed += 1
            continue
        for warning in result.warnings:
            print(f"warning: {path}: {warning}", file=sys.stderr)
        spoken = result.utterance
        print(f"{path}: {result.label}  (margin {result.margin}; speech "
              f"{spoken.start_s:.2f}-{spoken.end_s:.2f} s of {spoken.recording_s:.2f} s, "
              f"{result.sample_rate} Hz, {result.channels} ch)")
        print("  logits: " + "  ".join(f"{name}={value}" for name, value
                                        in zip(model.config.classes, result.logits)))
        results.append(result)
    if not results:
        raise UsageError(f"none of the {len(args.files)} files could be used")
    out = {"model": str(model.path), "clips": [r.to_dict() for r in results],
           "skipped": failed}
    status = 0
    if args.rtl:
        import numpy as np

        from qkspike.sim.simulate import clock_note, simulate_clips
        simulated = simulate_clips(model, np.stack([r.features for r in results]),
                                   [r.predicted for r in results], [r.path for r in results],
                                   lanes=args.lanes, engine_lanes=args.engine_lanes,
                                   progress=False)
        for record, clip in zip(simulated["per_clip"], out["clips"]):
            clip["rtl"] = {"bit_exact": record["bit_exact"], "cycles": record["cycles"]}
            verdict = "bit-exact" if record["bit_exact"] else "MISMATCH"
            print(f"RTL ({lanes_label(args)}) {clip['path']}: {verdict} with the golden model, "
                  f"{record['cycles']} cycles ({clock_note(record['cycles'])})")
        status = 0 if simulated["bit_exact"] == simulated["clips"] else 1
    if args.json:
        write_json(args.json, out)
    return status
