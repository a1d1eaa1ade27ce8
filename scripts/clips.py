"""What the commands that read a data split share: the options and the loading."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import UsageError
from .options import add_model, add_progress

__all__ = ["add_common", "load_clips", "open_data"]

def add_common(parser) -> None:
    from qkspike.pymodel.datasets import ALL, SPLITS
    add_model(parser)
    parser.add_argument("--data", type=Path, default=None,
                        help="data folder: FSDD (digit_speaker_index.wav, or a folder holding "
                             "recordings/), Speech Commands (one folder per word and the split "
                             "lists) or {label}/*.wav folders; default: $QKSPIKE_DATA, else "
                             "../shared/data/fsdd beside the checkout, else the FSDD that "
                             "`qkspike data fetch fsdd` downloads")
    parser.add_argument("--split", choices=SPLITS + (ALL,), default="test",
                        help="which clips: FSDD's official test split is index 0-4; 'all' "
                             "counts every clip whatever its name (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use N clips of the split, spread over classes and speakers")
    add_holdout(parser)
    add_progress(parser)


def add_holdout(parser) -> None:
    parser.add_argument("--holdout-speakers", default=None, metavar="NAME[,NAME]",
                        help="split by speaker instead: these speakers' clips (all of them) "
                             "are the test split, everyone else's the training split")


def split_by_speaker(dataset, holdout: str | None):
    """``dataset``, re-split so that the ``--holdout-speakers`` are the test split."""
    from qkspike.pymodel.datasets import speaker_names
    if holdout is None:
        return dataset
    names = speaker_names(holdout)
    if not names:
        raise UsageError("--holdout-speakers needs at least one speaker name")
    return dataset.hold_out(names)


def open_data(data: Path | None):
    """The data set at ``data``, or the FSDD found by the data rule, and where it came from."""
    from qkspike.locations import fsdd_location
    from qkspike.pymodel.datasets import open_dataset
    location = fsdd_location(data)
    return open_dataset(location.path), location


def load_clips(args):
    """The model, and the features of the requested split's clips (bad ones reported)."""
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.datasets import relabel, spread
    from qkspike.pymodel.evaluate import extract_features

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}")
    model = modelfile.load(args.model)
    dataset, location = open_data(args.data)
    dataset = split_by_speaker(dataset, args.holdout_speakers)
    print(f"data: {location.describe()}"
          + (f", held-out speakers {args.holdout_speakers}" if args.holdout_speakers else ""))
    for skipped in dataset.skipped:
        print(f"skipped: {skipped}", file=sys.stderr)
    clips = dataset.split(args.split)
    if args.limit is not None:
        clips = spread(clips, args.limit)
    if not clips:
        raise UsageError(f"{dataset.root}: the {args.split} split has no clips"
                         + ("; --split all counts every clip" if args.split != "all" else ""))
    clips = relabel(clips, dataset.classes, model.config.classes)
    data = extract_features(clips, model.frontend, progress=not args.no_progress)
    for bad in data.bad:
        print(f"skipped: {bad}", file=sys.stderr)
    if not len(data.labels):
        raise UsageError(f"none of the {len(clips)} clips could be used")
    return model, data
