"""``qkspike crossval``: speaker-held-out cross-validation, one model per held-out speaker
(a benchmark: about 15 minutes per fold on 2 cores with the default epochs; resumable)."""

from __future__ import annotations

from pathlib import Path

from .cli import UsageError
from .options import (add_parallel, add_progress, add_training, check_at_least_one,
                      check_training, make_out_folder, require_torch, training_configs)


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="a data folder with speakers (default: the FSDD, by the data "
                             "rule)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for each fold's model and results, and the summary")
    parser.add_argument("--speakers", default=None, metavar="NAME[,NAME]",
                        help="the folds to run (default: every speaker)")
    add_training(parser)
    add_parallel(parser, "folds", default="1; with N, give each --threads 1 on N cores")
    add_progress(parser)


def run(args) -> int:
    require_torch("cross-validation (it trains)")
    from qkspike.pymodel.crossval import cross_validate, format_crossval
    from qkspike.sim.parallel import SchedulerError, dask_client

    from .clips import open_data

    check_training(args)                   # bad options fail before the data is read
    check_at_least_one(("--jobs", args.jobs))
    make_out_folder(args.out)
    dataset, location = open_data(args.data)
    speakers = None
    if args.speakers:
        from qkspike.pymodel.datasets import speaker_names
        speakers = speaker_names(args.speakers)
        dataset.hold_out(speakers)          # names every unknown speaker, before any training
    print(f"data: {location.describe()}, speakers {', '.join(dataset.speakers)}")
    config, model_config, frontend = training_configs(args, dataset.classes)
    try:
        with dask_client(args.scheduler) as client:
            summary = cross_validate(dataset, model_config, frontend,
                                     config, args.out, speakers=speakers,
                                     progress=not args.no_progress, teacher_folder=args.teacher,
                                     jobs=args.jobs or 1, client=client)
    except SchedulerError as error:
        raise UsageError(str(error)) from None
    print(format_crossval(summary))
    print(f"wrote crossval.json and crossval.md to {args.out}")
    return 0
