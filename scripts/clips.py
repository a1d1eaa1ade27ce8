"""What the commands that read a data split share: the options and the loading."""

from __future__ import annotations

import sys
from pathlib import Path

from qkspike.pymodel import modelfile
from qkspike.pymodel.datasets import SPLITS, spread
from qkspike.pymodel.evaluate import extract_features, resolve_data

from .cli import UsageError

__all__ = ["add_common", "load_clips"]


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
