"""Speech-command datasets: three layouts, one :class:`Dataset`.

The readers return :class:`Clip` records (path, label index, split); none reads audio, so
listing a folder is instant and bad files surface only when a clip is used.

* FSDD: files ``{digit}_{speaker}_{index}.wav`` (speaker: letters and digits); the official
  split puts index 0-4 in the test set and 5-49 in the training set. Sets named the same
  way with other indices (``eval/sc_digits``) are read whole with the split ``all``.
* Google Speech Commands: one folder per word, ``validation_list.txt`` and
  ``testing_list.txt`` name the clips of those splits (paths relative to the root), the
  rest is training; ``_background_noise_`` holds noise for augmentation.
* Labelled folders: ``{label}/*.wav`` (or .flac, .ogg), for evaluating on one's own
  recordings; every clip is in the test split.

Where the FSDD lives when no folder is named: :func:`qkspike.locations.fsdd_location`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["Clip", "Dataset", "DatasetError", "SPLITS", "ALL", "AUDIO_SUFFIXES",
           "FSDD_RECORDINGS", "fsdd_recordings", "speaker_names", "read_fsdd",
           "read_speech_commands", "read_label_folders", "open_dataset", "default_fsdd",
           "relabel", "FSDD_CLASSES"]

SPLITS = ("train", "validation", "test")
#: The pseudo-split of every clip, whatever its split.
ALL = "all"
FSDD_CLASSES = tuple(str(digit) for digit in range(10))
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
#: The folder of the FSDD repository that holds the clips.
FSDD_RECORDINGS = "recordings"
_FSDD_NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z0-9]+)_(?P<index>\d+)\.wav$")


class DatasetError(ValueError):
    """A data folder that cannot be read as a dataset; the message says why."""


@dataclass(frozen=True)
class Clip:
    path: Path
    label: int
    split: str
    speaker: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    classes: tuple[str, ...]
    clips: tuple[Clip, ...]
    noise: tuple[Path, ...] = ()
    #: Files that looked like clips but could not be placed (bad names); reported, not fatal.
    skipped: tuple[str, ...] = ()

    def split(self, name: str) -> list[Clip]:
        """The clips of split ``name``; ``"all"`` gives every clip."""
        if name == ALL:
            return list(self.clips)
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name!r}; expected one of "
                               f"{', '.join(SPLITS + (ALL,))}")
        return [clip for clip in self.clips if clip.split == name]

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(sorted({clip.speaker for clip in self.clips}))

    def hold_out(self, speakers: Sequence[str]) -> "Dataset":
        """The same clips split by speaker: every clip of ``speakers`` is a test clip, every
        other clip a training clip (whatever its index), so the test voices are unheard."""
        unknown = sorted(set(speakers) - set(self.speakers))
        if unknown:
            raise DatasetError(f"{self.root}: no speaker(s) {', '.join(unknown)}; the "
                               f"speakers are {', '.join(self.speakers)}")
        held = set(speakers)
        clips = tuple(replace(clip, split="test" if clip.speaker in held else "train")
                      for clip in self.clips)
        return replace(self, clips=clips)


def spread(clips: Sequence[Clip], count: int) -> list[Clip]:
    """``count`` clips spread over classes and speakers, deterministically.

    Every (class, speaker) pair gives its clips in order; the first round takes one clip of
    each pair, classes interleaved and each class starting at another speaker, so the first
    ten of FSDD are ten different digits from six speakers, not ten zeros.
    """
    speakers = sorted({clip.speaker for clip in clips})
    rank = {speaker: number for number, speaker in enumerate(speakers)}
    seen: dict[tuple[int, str], int] = {}
    keyed = []
    for position, clip in enumerate(clips):
        turn = seen.get((clip.label, clip.speaker), 0)
        seen[(clip.label, clip.speaker)] = turn + 1
        slot = (rank[clip.speaker] - clip.label) % max(1, len(speakers))
        keyed.append(((turn, slot, clip.label, position), clip))
    keyed.sort(key=lambda item: item[0])
    return [clip for _, clip in keyed[:count]]


def fsdd_recordings(root: Path) -> Path:
    """The folder of an FSDD's clips: ``root/recordings`` when there is one, else ``root``."""
    inner = Path(root) / FSDD_RECORDINGS
    return inner if inner.is_dir() else Path(root)


def speaker_names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``: a command line's list of speakers."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _require_folder(root: Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return root


def read_fsdd(root: str | Path, *, test_indices: range = range(0, 5)) -> Dataset:
    """Read an FSDD folder (the clips, or a folder holding ``recordings/``)."""
    root = _require_folder(Path(root))
    folder = fsdd_recordings(root)
    clips, skipped = [], []
    for path in sorted(folder.glob("*.wav")):
        match = _FSDD_NAME.match(path.name)
        if not match:
            skipped.append(f"{path}: name is not digit_speaker_index.wav")
            continue
        split = "test" if int(match["index"]) in test_indices else "train"
        clips.append(Clip(path, int(match["digit"]), split, match["speaker"]))
    if not clips:
        raise DatasetError(f"{folder}: no FSDD clips (digit_speaker_index.wav) found, and no "
                           f"{{label}}/ folders of audio files")
    return Dataset("fsdd", root, FSDD_CLASSES, tuple(clips), skipped=tuple(skipped))


def _read_list(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def read_speech_commands(root: str | Path, *, words: Optional[list[str]] = None) -> Dataset:
    """Read a Google Speech Commands folder; ``words`` picks a subset of the word folders."""
    root = _require_folder(Path(root))
    if not (root / "testing_list.txt").exists() and not (root / "validation_list.txt").exists():
        raise DatasetError(f"{root}: no testing_list.txt or validation_list.txt; "
                           f"not a Speech Commands folder")
    testing = _read_list(root / "testing_list.txt")
    validation = _read_list(root / "validation_list.txt")
    available = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if words:
        missing = sorted(set(words) - set(available))
        if missing:
            raise DatasetError(f"{root}: no folder for word(s) {', '.join(missing)}")
        available = [w for w in available if w in set(words)]
    if not available:
        raise DatasetError(f"{root}: no word folders")
    clips = []
    for label, word in enumerate(available):
        for path in sorted((root / word).glob("*.wav")):
            relative = f"{word}/{path.name}"
            split = "test" if relative in testing else \
                "validation" if relative in validation else "train"
            speaker = path.name.split("_nohash_")[0]
            clips.append(Clip(path, label, split, speaker))
    if not clips:
        raise DatasetError(f"{root}: the word folders hold no .wav clips")
    noise = tuple(sorted((root / "_background_noise_").glob("*.wav")))
    return Dataset("speech_commands", root, tuple(available), tuple(clips), noise)


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()
                  and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith("."))


def _label_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name[0] not in "._"
                  and p.name != FSDD_RECORDINGS and _audio_files(p))


def read_label_folders(root: str | Path) -> Dataset:
    """Read ``{label}/*.wav`` folders (also .flac, .ogg); every clip is a test clip."""
    root = _require_folder(Path(root))
    folders = _label_folders(root)
    if not folders:
        raise DatasetError(f"{root}: no label folders holding audio files")
    classes = tuple(folder.name for folder in folders)
    clips = tuple(Clip(path, label, "test", "") for label, folder in enumerate(folders)
                  for path in _audio_files(folder))
    return Dataset("labelled_folders", root, classes, clips)


def open_dataset(root: str | Path) -> Dataset:
    """Recognise the layout of ``root``: Speech Commands (split lists), FSDD (its names, or
    a ``recordings/`` folder), else ``{label}/`` folders."""
    root = _require_folder(Path(root))
    if (root / "testing_list.txt").exists() or (root / "validation_list.txt").exists():
        return read_speech_commands(root)
    folder = fsdd_recordings(root)
    if any(_FSDD_NAME.match(path.name) for path in folder.glob("*.wav")) \
            or not _label_folders(root):
        return read_fsdd(root)
    return read_label_folders(root)


def default_fsdd() -> Dataset:
    """The FSDD where :func:`qkspike.locations.fsdd_location` finds it."""
    from qkspike.locations import fsdd_location
    return read_fsdd(fsdd_location().path)


def relabel(clips: Sequence[Clip], names: Sequence[str], classes: Sequence[str]) -> list[Clip]:
    """``clips`` labelled by the data set's class ``names``, relabelled as indices into the
    model's ``classes``; a label the model does not know is a :class:`DatasetError`."""
    unknown = sorted({names[clip.label] for clip in clips} - set(classes))
    if unknown:
        raise DatasetError(f"label(s) {', '.join(unknown)} are not among the model's classes "
                           f"({', '.join(classes)})")
    index = {name: position for position, name in enumerate(classes)}
    return [replace(clip, label=index[names[clip.label]]) for clip in clips]
