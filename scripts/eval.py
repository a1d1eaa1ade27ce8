"""``qkspike eval``: accuracy of a model file on a data split (golden model, integers only),
with the float reference and the PyTorch integer forward beside it."""

from __future__ import annotations

import json
from pathlib import Path

from qkspike.pymodel.evaluate import evaluate
from qkspike.pymodel.report import build_report, format_table

from .clips import add_common, load_clips


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--no-torch", action="store_true",
                        help="skip the float and PyTorch integer references")


def run(args) -> int:
    model, data = load_clips(args)
    evaluation = evaluate(model, data, check_torch=not args.no_torch,
                          progress=not args.no_progress)
    report = build_report(model, evaluation)
    print(format_table(report))
    if args.json:
        out = {key: value for key, value in evaluation.items() if not key.startswith("_")}
        out["model"] = str(model.path)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
