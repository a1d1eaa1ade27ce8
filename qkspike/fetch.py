"""``qkspike data fetch fsdd``: the Free Spoken Digit Dataset, verified file by file.

The recordings come from the dataset's public repository at a pinned commit, one file per
request (``raw.githubusercontent.com``), into the user data folder (see
:mod:`qkspike.locations`). Every file is checked against the SHA-256 list that ships with
QKSpike (``pymodel/data/fsdd_sha256.txt``) before it takes its final name, so the folder
only ever holds verified recordings:

* a file already there with the right checksum is kept (a rerun resumes);
* each download goes to ``<name>.part`` and is renamed only once verified; ``.part`` files
  left by an interrupted run are removed and those files fetched again from the start;
* a file whose checksum does not match is deleted and reported; the run finishes the other
  files, then fails with one line that names them, and a rerun retries only those.

Licence: the recordings are CC BY-SA 4.0 ("Free Spoken Digit Dataset (FSDD), Z. Jackson
et al."); the folder gets a README saying so.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from qkspike.pymodel.datasets import FSDD_RECORDINGS

__all__ = ["FSDD_REPOSITORY", "FSDD_COMMIT", "FSDD_URL", "FetchError", "FetchResult",
           "fsdd_checksums", "fetch_fsdd", "file_sha256"]

FSDD_REPOSITORY = "Jakobovski/free-spoken-digit-dataset"
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
#: Base URL of the recordings at the pinned commit; a file's URL is this plus its name.
FSDD_URL = (f"https://raw.githubusercontent.com/{FSDD_REPOSITORY}/{FSDD_COMMIT}/"
            f"recordings/")
_CHUNK = 1 << 16
_README = f"""# Free Spoken Digit Dataset (FSDD)

Fetched by `qkspike data fetch fsdd` from github.com/{FSDD_REPOSITORY}, commit {FSDD_COMMIT},
folder `recordings/`; every file verified against QKSpike's SHA-256 list.

Licence: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0).
Credit "Free Spoken Digit Dataset (FSDD), Z. Jackson et al." when redistributing.
Official split: index 0-4 of each digit and speaker is the test set (300 clips).
"""


class FetchError(RuntimeError):
    """Files that could not be fetched or verified; the message names them."""


@dataclass
class FetchResult:
    folder: Path
    downloaded: int = 0
    present: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def fsdd_checksums() -> dict[str, str]:
    """File name -> SHA-256 of every FSDD recording at :data:`FSDD_COMMIT`."""
    text = (resources.files("qkspike.pymodel") / "data" / "fsdd_sha256.txt").read_text()
    sums = {}
    for line in text.splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name] = digest
    return sums


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, part: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            out.write(chunk)


def _fetch_one(name: str, digest: str, folder: Path, base_url: str,
               timeout: float) -> tuple[str, Optional[str]]:
    """Download and verify one file; ``(name, None)`` or ``(name, reason)``."""
    target, part = folder / name, folder / (name + ".part")
    try:
        _download(base_url + name, part, timeout)
    except (urllib.error.URLError, OSError, ValueError) as error:
        part.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        return name, f"download failed ({reason})"
    except BaseException:
        part.unlink(missing_ok=True)     # interrupted: leave no partial file behind
        raise
    if file_sha256(part) != digest:
        part.unlink()
        return name, "checksum mismatch (corrupted download or a changed mirror)"
    part.replace(target)
    return name, None


def fetch_fsdd(dest: Path, *, base_url: str = FSDD_URL, jobs: int = 8, timeout: float = 60.0,
               progress: bool = True) -> FetchResult:
    """Fetch every FSDD recording into ``dest/recordings``, verified; see the module notes.

    Raises
    ------
    FetchError
        Some files could not be fetched or failed their checksum (the rest are kept).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    sums = fsdd_checksums()
    folder = Path(dest) / FSDD_RECORDINGS
    folder.mkdir(parents=True, exist_ok=True)
    (Path(dest) / "README.md").write_text(_README)
    for stale in folder.glob("*.part"):
        stale.unlink()
    result = FetchResult(Path(dest))
    wanted = {}
    for name, digest in sums.items():
        path = folder / name
        if path.is_file() and file_sha256(path) == digest:
            result.present += 1
        else:
            path.unlink(missing_ok=True)
            wanted[name] = digest
    if not base_url.endswith("/"):
        base_url += "/"
    with tqdm(total=len(wanted), desc="FSDD recordings", unit="file",
              disable=not progress or not wanted) as bar, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_fetch_one, name, digest, folder, base_url, timeout)
                   for name, digest in wanted.items()]
        try:
            for future in futures:
                name, problem = future.result()
                if problem:
                    result.failed[name] = problem
                else:
                    result.downloaded += 1
                bar.update(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    if result.failed:
        first = next(iter(result.failed.items()))
        raise FetchError(f"{len(result.failed)} of {len(sums)} files failed (e.g. {first[0]}: "
                         f"{first[1]}); the {result.present + result.downloaded} verified "
                         f"ones are kept in {folder}; run the command again to retry the rest")
    return result
