"""``qkspike eval``: accuracy of a model file on a data split (golden model, integers only),
with the float reference and the PyTorch integer forward beside it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pymodel import modelfile
from pymodel.datasets import SPLITS, spread
from pymodel.evaluate import evaluate, extract_features, resolve_data
from pymodel.report import build_report, format_table

from .cli import UsageError


def add_common(parser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (default: the shipped FSDD model)")
    parser.add_argument("--data", type=Path, default=None,
                        help="data folder (default: the FSDD test split shipped with QKSpike)")
    parser.add_argument("--split", choices=SPLITS, default="test",
                        help="(default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use N clips of the split, spread over classes and speakers")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(parser) -> None:
    add_common(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--no-torch", action="store_true",
                        help="skip the float and PyTorch integer references")


def load_clips(args):
    """The model, and the features of the requested split's clips (bad ones reported)."""
    model = modelfile.load(args.model)
    dataset = resolve_data(args.data)
    clips = dataset.split(args.split)
    if args.limit is not None:
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        clips = spread(clips, args.limit)
    if not clips:
        raise UsageError(f"{dataset.root}: the {args.split} split has no clips")
    if list(dataset.classes) != list(model.config.classes):
        raise UsageError(f"the data set's classes {list(dataset.classes)} are not the model's "
                         f"{list(model.config.classes)}")
    data = extract_features(clips, model.frontend, progress=not args.no_progress)
    for bad in data.bad:
        print(f"skipped: {bad}", file=sys.stderr)
    if not len(data.labels):
        raise UsageError(f"none of the {len(clips)} clips could be used")
    return model, data


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
