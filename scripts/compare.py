"""``qkspike compare``: two recipes' speaker-held-out cross-validations, each over one or
more seeds, and whether the candidate is not lower than the reference (the held-out rule a
new default model must meet; ``pymodel.crossval.compare_recipes``)."""

from __future__ import annotations

import json
from pathlib import Path

from .cli import UsageError
from .options import check_json_path, write_json


def add_arguments(parser) -> None:
    parser.add_argument("--candidate", required=True, metavar="PATH[,PATH]",
                        help="the candidate recipe's runs, one per seed: each a "
                             "`qkspike crossval --out` folder or its crossval.json")
    parser.add_argument("--reference", required=True, metavar="PATH[,PATH]",
                        help="the reference recipe's runs (the shipped model's), likewise")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the comparison here as well")


def read_summary(text: str) -> tuple[str, dict]:
    """A crossval summary from a folder or a ``crossval.json``; ``UsageError`` (one line) for
    a path without one or a file that is not a summary."""
    path = Path(text)
    file = path / "crossval.json" if path.is_dir() else path
    if not file.is_file():
        raise UsageError(f"{path}: no crossval.json (run qkspike crossval --out {path} first)")
    try:
        summary = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{file}: not a crossval summary ({error})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("folds"), list):
        raise UsageError(f"{file}: not a crossval summary (no folds)")
    if not all(isinstance(fold, dict) and "speaker" in fold for fold in summary["folds"]) or \
            not isinstance(summary.get("train_config", {}), dict):
        raise UsageError(f"{file}: not a crossval summary (folds without speakers, or "
                         f"training settings that are not a mapping)")
    return str(path), summary


def run(args) -> int:
    from qkspike.pymodel.crossval import compare_recipes, format_comparison

    check_json_path(args.json)
    sides = {}
    for role in ("candidate", "reference"):
        paths = [part for part in getattr(args, role).split(",") if part]
        if not paths:
            raise UsageError(f"--{role} names no cross-validation")
        sides[role] = [read_summary(path) for path in paths]
    try:
        comparison = compare_recipes(sides["candidate"], sides["reference"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"cannot compare: {error}") from None
    print(format_comparison(comparison))
    if args.json:
        write_json(args.json, comparison)
    return 0
