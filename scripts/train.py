"""``qkspike train``: train on a data folder, export the model file, evaluate it."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from .cli import UsageError
from .clips import add_holdout, split_by_speaker
from .options import add_training, check_training, require_torch, training_configs


def add_arguments(parser) -> None:
    parser.add_argument("--data", type=Path, required=True,
                        help="FSDD folder (or one holding recordings/) or a Speech Commands "
                             "folder")
    parser.add_argument("--out", type=Path, required=True, help="model file to write (.npz)")
    add_training(parser)
    add_holdout(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint <out>.ckpt if it exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    require_torch("training")
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.datasets import open_dataset
    from qkspike.pymodel.evaluate import evaluate, extract_features
    from qkspike.pymodel.report import build_report, format_table
    from qkspike.pymodel.train import train

    if args.out.exists() and args.out.is_dir():
        raise UsageError(f"{args.out}: is a folder; give the model file's name")
    if args.out.suffix != ".npz":
        raise UsageError(f"{args.out}: the model file must end in .npz")
    check_training(args)                   # bad options fail before the data is read
    dataset = split_by_speaker(open_dataset(args.data), args.holdout_speakers)
    for skipped in dataset.skipped:
        print(f"skipped: {skipped}")
    config, model_config, frontend = training_configs(args, dataset.classes)
    teacher = None
    if args.teacher is not None:
        from dataclasses import replace

        from qkspike.pymodel.datasets import speaker_names
        from qkspike.pymodel.distill import load_teacher
        teacher = load_teacher(args.teacher,
                               student_holds_out=speaker_names(args.holdout_speakers or ""))
        config = replace(config, teacher=teacher.sha256)
        print(f"teacher: {args.teacher} (soft targets weight {config.distill_weight:g}, "
              f"temperature {config.distill_temperature:g})")
    checkpoint = args.out.with_name(args.out.name + ".ckpt")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    trained = train(dataset, model_config, frontend, config, checkpoint, resume=args.resume,
                    progress=not args.no_progress, teacher=teacher)
    from qkspike.pymodel.export import export

    metadata = {"dataset": dataset.name, "train_config": asdict(config),
                "calibration": {k: v for k, v in trained["calibration"].items()},
                "train_seconds": round(trained["train_seconds"], 1),
                "history": trained["history"],
                "holdout_speakers": args.holdout_speakers,
                "teacher": str(args.teacher) if args.teacher else None}
    model = export(trained["net"], frontend, float_state=trained["float_state"],
                   metadata=metadata)
    test = extract_features(dataset.split("test"), frontend, progress=not args.no_progress)
    if len(test.labels):
        evaluation = evaluate(model, test, progress=not args.no_progress)
        report = build_report(model, evaluation)
        model.metadata["test"] = {key: report[key] for key in (
            "clips", "accuracy", "float_accuracy", "fake_quant_accuracy", "torch_equal_clips")}
        print(format_table(report))
    modelfile.save(model, args.out)
    modelfile.load(args.out)   # the file we wrote passes its own schema check
    print(f"wrote {args.out} (trained {trained['train_seconds'] / 60:.1f} min, "
          f"{(time.monotonic() - started) / 60:.1f} min in all); checkpoint {checkpoint}")
    return 0
