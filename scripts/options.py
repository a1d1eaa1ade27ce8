"""Command-line options and checks that several subcommands share.

Light on purpose: the command line imports this for ``--help``, so nothing here imports
numpy, Amaranth, scipy or torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from .cli import UsageError

__all__ = ["add_model", "add_lanes", "add_progress", "add_augment", "check_at_least_one",
           "check_json_path", "write_json", "make_out_folder", "require_torch", "DEFAULT_LANES"]

#: Engine lanes of the shipped configuration.
DEFAULT_LANES = 16


def add_model(parser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (.npz; default: the shipped FSDD model)")


def add_lanes(parser) -> None:
    parser.add_argument("--lanes", type=int, default=DEFAULT_LANES, metavar="P",
                        help="engine lanes P: neurons the core updates in parallel each "
                             "cycle; more lanes, fewer cycles, more LUTs "
                             "(default: %(default)s)")


def add_augment(parser) -> None:
    from qkspike.pymodel.model_config import AUGMENTATIONS, TrainConfig

    parser.add_argument("--augment", choices=AUGMENTATIONS, default=TrainConfig.augment,
                        help="training augmentation: 'level' (the shipped model's: shift, gain, "
                             "noise on the clip); 'voice' adds speed and vocal-tract-length "
                             "perturbation and noise over the whole window (default: %(default)s)")


def add_progress(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def check_at_least_one(*options: tuple[str, int | None]) -> None:
    """``UsageError`` for the first ``(name, value)`` whose value is given and below 1."""
    for name, value in options:
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, not {value}")


def make_out_folder(path: Path) -> Path:
    """Create the output folder ``path`` before any long work, so a bad one fails fast."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_json_path(path: Path | None) -> None:
    """Refuse a ``--json`` that names a folder before any long work starts."""
    if path is not None and path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name for --json")


def write_json(path: Path, data: dict) -> None:
    check_json_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def require_torch(what: str) -> None:
    """``UsageError`` naming the install command when PyTorch is missing."""
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        raise UsageError(f"{what} needs PyTorch, which is not installed: pip install torch "
                         f"--index-url https://download.pytorch.org/whl/cpu, then pip "
                         f"install -e '.[train]'")
