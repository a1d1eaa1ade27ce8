"""``qkspike crossval``: speaker-held-out cross-validation, one model per held-out speaker
(a benchmark: about 15 minutes per fold on 2 cores with the default epochs; resumable)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from qkspike.pymodel.model_config import TrainConfig

from .cli import UsageError
from .options import add_augment, add_progress, check_at_least_one, make_out_folder, require_torch


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="a data folder with speakers (default: the FSDD, by the data "
                             "rule)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for each fold's model and results, and the summary")
    parser.add_argument("--speakers", default=None, metavar="NAME[,NAME]",
                        help="the folds to run (default: every speaker)")
    defaults = TrainConfig()
    parser.add_argument("--float-epochs", type=int, default=defaults.float_epochs,
                        help="(default: %(default)s)")
    parser.add_argument("--qat-epochs", type=int, default=defaults.qat_epochs,
                        help="(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="(default: %(default)s)")
    parser.add_argument("--threads", type=int, default=defaults.threads,
                        help="CPU threads for PyTorch (default: %(default)s)")
    add_augment(parser)
    add_progress(parser)


def run(args) -> int:
    require_torch("cross-validation (it trains)")
    from qkspike.pymodel.crossval import cross_validate, format_crossval
    from qkspike.pymodel.frontend import FrontendConfig
    from qkspike.pymodel.model_config import ModelConfig

    from .clips import open_data

    check_at_least_one(("--threads", args.threads))
    if args.float_epochs < 0 or args.qat_epochs < 0 or args.float_epochs + args.qat_epochs < 1:
        raise UsageError("train for at least one epoch")
    make_out_folder(args.out)
    dataset, location = open_data(args.data)
    speakers = None
    if args.speakers:
        from qkspike.pymodel.datasets import speaker_names
        speakers = speaker_names(args.speakers)
        dataset.hold_out(speakers)          # names every unknown speaker, before any training
    print(f"data: {location.describe()}, speakers {', '.join(dataset.speakers)}")
    config = replace(TrainConfig(), seed=args.seed, float_epochs=args.float_epochs,
                     qat_epochs=args.qat_epochs, threads=args.threads,
                     augment=args.augment)
    summary = cross_validate(dataset, ModelConfig(classes=dataset.classes), FrontendConfig(),
                             config, args.out, speakers=speakers,
                             progress=not args.no_progress)
    print(format_crossval(summary))
    print(f"wrote crossval.json and crossval.md to {args.out}")
    return 0
