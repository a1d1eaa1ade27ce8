"""Where QKSpike reads data and keeps its caches: one rule each, shared by every command.

Data (the FSDD recordings): ``--data DIR``, else ``$QKSPIKE_DATA``, else
``../shared/data/fsdd`` beside the checkout when it exists (development and CI), else the
user data folder (``platformdirs``), where ``qkspike data fetch fsdd`` puts them.

Builds (Verilator models): ``$QKSPIKE_BUILD_DIR``, else the user cache folder, so every
working folder shares one build of each design.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import platformdirs

from qkspike.pymodel.datasets import fsdd_recordings

__all__ = ["DATA_ENV", "BUILD_DIR_ENV", "DataNotFound", "DataLocation", "fsdd_location",
           "user_data_dir", "build_cache_dir", "checkout_root"]

#: Environment variable naming the FSDD folder.
DATA_ENV = "QKSPIKE_DATA"
#: Environment variable naming the folder of cached Verilator builds.
BUILD_DIR_ENV = "QKSPIKE_BUILD_DIR"
_APP = "qkspike"


class DataNotFound(FileNotFoundError):
    """No dataset where the rule looked; the message lists the places and how to get it."""


@dataclass(frozen=True)
class DataLocation:
    """A dataset folder and which step of the rule chose it (printed by ``demo``)."""

    path: Path
    source: str

    def describe(self) -> str:
        return f"{self.path} ({self.source})"


def user_data_dir() -> Path:
    """The per-user data folder (``~/.local/share/qkspike`` on Linux)."""
    return platformdirs.user_data_path(_APP)


def build_cache_dir() -> Path:
    """Verilator builds: ``$QKSPIKE_BUILD_DIR`` or the per-user cache folder."""
    override = os.environ.get(BUILD_DIR_ENV)
    base = Path(override) if override else platformdirs.user_cache_path(_APP) / "verilator"
    return base.expanduser().resolve()


def checkout_root() -> Optional[Path]:
    """The repository folder when QKSpike runs from a checkout (editable install), else None."""
    import qkspike
    root = Path(qkspike.__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def _has_recordings(folder: Path) -> bool:
    clips = fsdd_recordings(folder)
    return clips.is_dir() and any(clips.glob("*.wav"))


def fsdd_location(data: Optional[str | Path] = None) -> DataLocation:
    """The FSDD folder by the rule in this module's docstring.

    An explicit ``data`` or ``$QKSPIKE_DATA`` is returned as given (a wrong folder is the
    dataset reader's error to report); the fallbacks are used only when they hold clips.

    Raises
    ------
    DataNotFound
        Nothing given and no recordings in the fallbacks; the message says where it looked
        and the command that fetches the data.
    """
    if data is not None:
        return DataLocation(Path(data), "--data")
    if os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV]).expanduser()
        if _has_recordings(path):
            return DataLocation(path, f"${DATA_ENV}")
        raise DataNotFound(f"no FSDD recordings in {path} (${DATA_ENV}); fetch them with "
                           f"`qkspike data fetch fsdd --dest {path}`, or point ${DATA_ENV} "
                           f"at a folder that has them")
    looked = []
    root = checkout_root()
    if root is not None:
        shared = root.parent / "shared" / "data" / "fsdd"
        looked.append(str(shared))
        if _has_recordings(shared):
            return DataLocation(shared, "beside the checkout")
    user = user_data_dir() / "fsdd"
    looked.append(str(user))
    if _has_recordings(user):
        return DataLocation(user, "user data folder")
    raise DataNotFound(f"no FSDD recordings found (looked in --data, ${DATA_ENV}, "
                       f"{', '.join(looked)}); fetch them with `qkspike data fetch fsdd`")
