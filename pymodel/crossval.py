"""Speaker-held-out cross-validation: one model per held-out speaker.

For each speaker, train on every other speaker's clips (all indices), export, and evaluate
the integer (golden) model and the float reference on every clip of the held-out speaker:
voices the model never heard. FSDD has six speakers, so six folds; the summary gives each
speaker's accuracy, the mean and the minimum, integer and float, and a confusion matrix per
fold. A benchmark (about 15 minutes per fold with the default epochs on 2 cores), not a CI
test; each finished fold is saved (``fold-<speaker>.json`` and ``.npz``) and a rerun skips
it, so an interrupted run resumes at the fold it was in. With a teacher folder (a
cross-validation of the teacher recipe), each fold learns from the teacher's model of the
same fold, which never heard the held-out speaker either (``pymodel/distill.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .datasets import Dataset
from .frontend import FrontendConfig
from .model_config import ModelConfig, TrainConfig

__all__ = ["cross_validate", "run_fold", "check_saved_settings", "summarise", "format_crossval",
           "compare_recipes", "format_comparison"]


def _fold(dataset: Dataset, speaker: str, model_config: ModelConfig, frontend: FrontendConfig,
          config: TrainConfig, out_dir: Path, progress: bool,
          log: Callable[[str], None], teacher) -> dict:
    from .evaluate import evaluate, extract_features
    from .train import train_and_save

    split = dataset.hold_out([speaker])
    model = train_and_save(split, model_config, frontend, config, out_dir / f"fold-{speaker}.npz",
                           checkpoint=out_dir / f"fold-{speaker}.ckpt",
                           metadata={"holdout_speakers": speaker}, progress=progress, log=log,
                           teacher=teacher)
    data = extract_features(split.split("test"), frontend, progress=progress)
    evaluation = evaluate(model, data, progress=progress)
    return {"speaker": speaker, "clips": evaluation["clips"],
            "accuracy": evaluation["accuracy"], "float_accuracy": evaluation["float_accuracy"],
            "confusion": evaluation["confusion"], "bad_files": evaluation["bad_files"],
            "train_seconds": model.metadata["train_seconds"]}


def check_saved_settings(model_path: Path, config: TrainConfig,
                         model_config: ModelConfig) -> None:
    """``ValueError`` unless the model file at ``model_path`` was trained with ``config``
    and ``model_config``: a rerun with other settings must not report the old model as the
    new one."""
    from . import modelfile

    saved_model = modelfile.load(model_path)
    saved = saved_model.metadata.get("train_config")
    if saved is None:
        raise ValueError(f"{model_path}: the model file does not store its training "
                         f"settings; remove it to train it again")
    changed = config.differences(saved)
    changed += [f"model {item.name}" for item in fields(ModelConfig)
                if getattr(saved_model.config, item.name) != getattr(model_config, item.name)]
    if changed:
        raise ValueError(f"{model_path}: trained with other settings ({', '.join(changed)}); "
                         f"use another output folder, or remove it to train again")


def _check_fold_settings(out_dir: Path, speaker: str, config: TrainConfig,
                         model_config: ModelConfig) -> None:
    """A saved fold is kept only if it was trained with the settings asked for now."""
    model_path = out_dir / f"fold-{speaker}.npz"
    if not model_path.exists():
        raise ValueError(f"{out_dir}: fold {speaker} has no model with its training settings "
                         f"({model_path.name}); remove fold-{speaker}.json to train it again")
    check_saved_settings(model_path, config, model_config)


def fold_teachers(teacher_folder: Optional[Path], speakers: Sequence[str]) -> dict:
    """Each fold's teacher (``distill.Teacher``) from the teacher recipe's cross-validation
    folder, or none without a folder; ``ValueError`` (one line) for the first missing or
    unfit one, before any training."""
    if teacher_folder is None:
        return {speaker: None for speaker in speakers}
    from .distill import fold_teacher_path, load_teacher

    return {speaker: load_teacher(fold_teacher_path(teacher_folder, speaker),
                                  student_holds_out=[speaker]) for speaker in speakers}


def cross_validate(dataset: Dataset, model_config: ModelConfig, frontend: FrontendConfig,
                   config: TrainConfig, out_dir: Path, *,
                   speakers: Optional[Sequence[str]] = None, progress: bool = True,
                   log: Callable[[str], None] = print,
                   teacher_folder: Optional[Path] = None, jobs: int = 1, client=None) -> dict:
    """Run (or resume) every fold; return :func:`summarise` of them, also written as
    ``crossval.json`` in ``out_dir``. With ``teacher_folder``, each fold is distilled from
    that folder's model of the same fold (``config.distill_weight`` > 0). ``jobs`` folds
    at a time in local processes, or on ``client`` (a Dask client); in parallel, each fold
    logs one line per epoch, with its speaker's name, instead of bars."""
    speakers = list(speakers or dataset.speakers)
    if len(set(dataset.speakers)) < 2:
        raise ValueError(f"{dataset.root}: cross-validation needs at least two speakers")
    fold_teachers(teacher_folder, speakers)     # every teacher checked before any training
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(number, len(speakers), speaker) for number, speaker in enumerate(speakers, 1)]
    shared = (dataset, model_config, frontend, config, out_dir, teacher_folder)
    if jobs <= 1 and client is None:
        folds = [_fold_task(*shared, task, progress=progress, log=log) for task in tasks]
    else:
        # Folds are independent: spread them over processes or a Dask cluster (the runner
        # of the regression jobs). Each worker logs its epochs with its speaker's name.
        from qkspike.sim.parallel import run_tasks

        done = dict(run_tasks(_fold_task, shared, tasks, jobs=jobs, client=client))
        folds = [done[index] for index in range(len(tasks))]
    summary = summarise(folds, list(model_config.classes))
    summary["train_config"] = asdict(config)
    # The whole network the folds trained (--stride, --kernel, --blocks, --head-leaks among
    # it: a summary says what it measured), and the front end (--hop).
    summary["model_config"] = {**model_config.to_dict(), "steps": model_config.steps}
    summary["frontend"] = frontend.to_dict()
    if teacher_folder is not None:
        summary["teacher_folder"] = str(teacher_folder)
    (out_dir / "crossval.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "crossval.md").write_text(format_crossval(summary) + "\n")
    return summary


def _fold_task(dataset: Dataset, model_config: ModelConfig, frontend: FrontendConfig,
               config: TrainConfig, out_dir: Path, teacher_folder: Optional[Path],
               task: tuple, *, progress: bool = False,
               log: Optional[Callable[[str], None]] = None) -> dict:
    """One fold as a job of ``sim.parallel.run_tasks``: ``task = (number, count, speaker)``;
    the teacher is loaded where the fold runs (a network does not travel between
    processes)."""
    number, count, speaker = task
    if log is None:
        def log(line: str) -> None:
            print(f"{speaker}: {line}", flush=True)
    return run_fold(dataset, speaker, model_config, frontend, config, out_dir,
                    progress=progress, log=log, label=f"fold {number}/{count}",
                    teacher=fold_teachers(teacher_folder, [speaker])[speaker])


def run_fold(dataset: Dataset, speaker: str, model_config: ModelConfig,
             frontend: FrontendConfig, config: TrainConfig, out_dir: Path, *,
             progress: bool = True, log: Callable[[str], None] = print,
             label: str = "fold", teacher=None) -> dict:
    """One fold: the model trained without ``speaker`` (distilled from ``teacher``, a
    ``distill.Teacher``, when given), evaluated on every clip of theirs; kept in
    ``out_dir/fold-<speaker>.json`` (and ``.npz``), reused by a rerun with the same
    settings, refused with others."""
    if teacher is not None:
        config = replace(config, teacher=teacher.sha256)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = out_dir / f"fold-{speaker}.json"
    if saved.exists():
        _check_fold_settings(out_dir, speaker, config, model_config)
        log(f"{label} ({speaker}): done before, kept")
        return json.loads(saved.read_text())
    log(f"{label}: training without {speaker}")
    fold = _fold(dataset, speaker, model_config, frontend, config, out_dir, progress, log,
                 teacher)
    saved.write_text(json.dumps(fold, indent=2) + "\n")
    log(f"{label} ({speaker}): integer {100 * fold['accuracy']:.2f} % on {fold['clips']} "
        f"unheard clips")
    return fold


def summarise(folds: list[dict], classes: list[str]) -> dict:
    """Per-speaker accuracies with their mean and minimum, integer and float."""
    def stats(key: str) -> dict:
        values = [fold[key] for fold in folds if fold[key] is not None]
        if not values:
            return {"mean": None, "min": None}
        return {"mean": float(np.mean(values)), "min": float(np.min(values))}
    return {"classes": classes, "folds": folds, "integer": stats("accuracy"),
            "float": stats("float_accuracy")}


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def format_crossval(summary: dict) -> str:
    lines = ["| held-out speaker | clips | integer | float |", "| --- | --- | --- | --- |"]
    for fold in summary["folds"]:
        lines.append(f"| {fold['speaker']} | {fold['clips']} | {_percent(fold['accuracy'])} | "
                     f"{_percent(fold['float_accuracy'])} |")
    for name in ("mean", "min"):
        lines.append(f"| **{name}** | | {_percent(summary['integer'][name])} | "
                     f"{_percent(summary['float'][name])} |")
    return "\n".join(lines)


# --- two recipes over seeds: the held-out rule as a command (``qkspike compare``) -----------

#: Settings that do not change what a recipe trains: the seed is what a comparison varies,
#: threads only how fast it runs.
_NOT_RECIPE = ("seed", "threads")


def _correct(fold: dict, name: str) -> Fraction:
    """A fold's integer accuracy as the exact fraction of its clips."""
    if fold.get("accuracy") is None or not fold.get("clips"):
        raise ValueError(f"{name}: fold {fold.get('speaker')} has no evaluated clips")
    return Fraction(round(fold["accuracy"] * fold["clips"]), fold["clips"])


def _recipe_differences(first: dict, other: dict) -> list[str]:
    """Settings (training, and network and front end where both summaries record them)
    in which two summaries' recipes differ, the seed and threads aside."""
    # Both through from_saved, so what an older summary left out reads as its value then.
    first_train = TrainConfig.from_saved(first.get("train_config", {}))
    other_train = asdict(TrainConfig.from_saved(other.get("train_config", {})))
    changed = [name for name in first_train.differences(other_train)
               if name not in _NOT_RECIPE]
    for section in ("model_config", "frontend"):
        ours, theirs = first.get(section), other.get(section)
        if ours is None or theirs is None:
            continue             # summaries from before the section was stored
        # Only what both record: older summaries kept five fields of the network.
        changed += [f"{section} {key}" for key in sorted(set(ours) & set(theirs))
                    if ours[key] != theirs[key]]
    return changed


def _side(summaries: Sequence[tuple[str, dict]], role: str) -> dict:
    """One recipe's runs: ``{seed: {speaker: Fraction}}``, checked to be one recipe at
    distinct seeds over the same folds."""
    if not summaries:
        raise ValueError(f"no {role} cross-validation given")
    first_name, first = summaries[0]
    runs: dict[int, dict[str, Fraction]] = {}
    for name, summary in summaries:
        seed = summary.get("train_config", {}).get("seed")
        if seed is None:
            raise ValueError(f"{name}: the summary does not record its training seed")
        if seed in runs:
            raise ValueError(f"{name}: seed {seed} is in the {role} twice; each run counts "
                             f"once")
        changed = _recipe_differences(first, summary)
        if changed:
            raise ValueError(f"{name}: another recipe than {first_name} ({', '.join(changed)}); "
                             f"a side is one recipe at several seeds")
        if not summary["folds"]:
            raise ValueError(f"{name}: the summary holds no folds")
        runs[seed] = {fold["speaker"]: _correct(fold, name) for fold in summary["folds"]}
        if len(runs[seed]) != len(summary["folds"]):
            raise ValueError(f"{name}: a speaker's fold is in the summary twice")
    return runs


def _mean(values) -> Fraction:
    values = list(values)
    return sum(values, Fraction(0)) / len(values)


def compare_recipes(candidate: Sequence[tuple[str, dict]],
                    reference: Sequence[tuple[str, dict]]) -> dict:
    """The speaker-held-out rule of issue 12 between two recipes, each given as
    ``(name, crossval summary)`` pairs, one per seed: the candidate passes when its mean
    integer accuracy over every (fold, seed) is not lower than the reference's.

    Every run must hold the same held-out speakers (a mean over other folds is another
    measure); within a side, the runs must be one recipe at distinct seeds. Accuracies are
    compared as exact fractions of each fold's clips, so "not lower" is decided without
    rounding. Also returned, to judge the noise: each run's mean over its folds, and the paired
    differences of the (fold, seed) pairs that both sides ran (their mean, standard deviation
    and t statistic)."""
    given = {"candidate": candidate, "reference": reference}
    sides = {role: _side(runs, role) for role, runs in given.items()}
    speakers = None
    for role, runs in sides.items():
        for seed, folds in runs.items():
            if speakers is None:
                speakers = sorted(folds)
            elif sorted(folds) != speakers:
                raise ValueError(f"the {role} run with seed {seed} holds out "
                                 f"{', '.join(sorted(folds))}, not {', '.join(speakers)}: "
                                 f"compare the same folds")
    result: dict = {"speakers": speakers}
    means = {}
    for role, runs in sides.items():
        seeds = sorted(runs)
        per_run = {seed: _mean(runs[seed].values()) for seed in seeds}
        means[role] = _mean(per_run.values())
        spread = (float(np.std([float(v) for v in per_run.values()], ddof=1))
                  if len(seeds) > 1 else None)
        result[role] = {
            "runs": [name for name, _ in given[role]],
            "seeds": seeds,
            "per_fold": {speaker: [float(runs[seed][speaker]) for seed in seeds]
                         for speaker in speakers},
            "per_seed_mean": [float(per_run[seed]) for seed in seeds],
            "mean": float(means[role]),
            "seed_spread": spread,
        }
    pairs = [float(sides["candidate"][seed][speaker] - sides["reference"][seed][speaker])
             for seed in sorted(set(sides["candidate"]) & set(sides["reference"]))
             for speaker in speakers]
    paired = {"pairs": len(pairs), "mean": float(np.mean(pairs)) if pairs else None,
              "sd": None, "t": None}
    if len(pairs) > 1:
        paired["sd"] = float(np.std(pairs, ddof=1))
        if paired["sd"] > 0:
            paired["t"] = paired["mean"] / (paired["sd"] / math.sqrt(len(pairs)))
    result["paired"] = paired
    result["difference"] = float(means["candidate"] - means["reference"])
    result["not_lower"] = bool(means["candidate"] >= means["reference"])
    return result


def format_comparison(comparison: dict) -> str:
    """:func:`compare_recipes` as a Markdown table per fold and the verdict."""
    cand, ref = comparison["candidate"], comparison["reference"]

    def seeds(side: dict) -> str:
        return " / ".join(str(seed) for seed in side["seeds"])

    def values(numbers) -> str:
        return " / ".join(f"{100 * value:.2f}" for value in numbers)

    lines = [f"| held-out speaker | candidate %, seed {seeds(cand)} | mean | "
             f"reference %, seed {seeds(ref)} | mean | difference |",
             "| --- | --- | --- | --- | --- | --- |"]
    for speaker in comparison["speakers"]:
        ours, theirs = cand["per_fold"][speaker], ref["per_fold"][speaker]
        lines.append(f"| {speaker} | {values(ours)} | {100 * np.mean(ours):.2f} | "
                     f"{values(theirs)} | {100 * np.mean(theirs):.2f} | "
                     f"{100 * (np.mean(ours) - np.mean(theirs)):+.2f} |")
    lines.append(f"| **mean** | {values(cand['per_seed_mean'])} | **{100 * cand['mean']:.2f}** "
                 f"| {values(ref['per_seed_mean'])} | **{100 * ref['mean']:.2f}** | "
                 f"{100 * comparison['difference']:+.2f} |")
    lines.append("")
    paired = comparison["paired"]
    if paired["pairs"]:
        detail = (f"; sd {100 * paired['sd']:.2f}, t {paired['t']:.2f}"
                  if paired["t"] is not None else "")
        lines.append(f"Paired (fold, seed) differences: {paired['pairs']} pairs, mean "
                     f"{100 * paired['mean']:+.2f} points{detail}.")
    for role, side in (("candidate", cand), ("reference", ref)):
        if side["seed_spread"] is not None:
            lines.append(f"Seed spread of the {role}'s fold means: sd "
                         f"{100 * side['seed_spread']:.2f} points.")
    verdict = "not lower" if comparison["not_lower"] else "LOWER"
    lines.append(f"Held-out rule: the candidate's mean {100 * cand['mean']:.2f} % is "
                 f"**{verdict}** than the reference's {100 * ref['mean']:.2f} %.")
    return "\n".join(lines)
