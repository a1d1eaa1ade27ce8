"""``qkspike eval``: accuracy of a model file on a data split (golden model, integers only),
with the float reference and the PyTorch integer forward beside it."""

from __future__ import annotations

from pathlib import Path

from .clips import add_common, load_clips
from .options import check_json_path, write_json


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--no-torch", action="store_true",
                        help="skip the float and PyTorch integer references")


def run(args) -> int:
    from qkspike.pymodel.evaluate import evaluate, torch_available
    from qkspike.pymodel.report import build_report, format_table

    check_json_path(args.json)
    model, data = load_clips(args)
    if not args.no_torch and not torch_available():
        print("PyTorch is not installed: the float and PyTorch-integer references are "
              "skipped (pip install -e '.[train]' adds them)")
    evaluation = evaluate(model, data, check_torch=not args.no_torch,
                          progress=not args.no_progress)
    report = build_report(model, evaluation)
    print(format_table(report))
    if args.json:
        out = {key: value for key, value in evaluation.items() if not key.startswith("_")}
        out["model"] = str(model.path)
        write_json(args.json, out)
    return 0
