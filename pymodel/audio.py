"""Reading recordings: any WAV, FLAC or OGG through ``soundfile``, one-line errors.

:func:`read_audio` accepts any sample rate (the front end resamples) and any channel count
(downmixed to mono by averaging the channels). A file that cannot be used raises
:class:`AudioError`, whose message names the file and what is wrong; a file that can be
used but looks damaged (a WAV whose data stops before its header says) comes back with a
warning in :attr:`Recording.warnings`.

Refused as well, in one line: a folder given as a file, a sample rate outside
:data:`SAMPLE_RATE_RANGE` (a file that says 1 Hz or 8 MHz is damaged or not speech, and
resampling it would cost minutes and gigabytes), and samples that are NaN or infinite (a
damaged float file: they would turn every feature of the window into garbage).

Samples are float64 in [-1, 1]: integer PCM is divided by 2^(bits-1) (8-bit WAV is
unsigned, offset by 128), which is exactly what the earlier ``wave``-based reader did, so
features of the same file are the same integers.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

__all__ = ["AudioError", "Recording", "SILENCE_PEAK", "SAMPLE_RATE_RANGE", "read_audio",
           "read_wav", "write_wav", "check_not_silent", "check_sample_rate", "check_finite"]

#: A clip whose peak stays below this (full scale = 1.0; about 3 LSB of 16-bit audio) is silent.
SILENCE_PEAK = 1e-4

#: Sample rates (Hz) a recording may have. Below 4 kHz it holds nothing above 2 kHz, too
#: little of a word for a front end that listens up to 4 kHz; 768 kHz is the highest rate
#: audio interfaces record.
SAMPLE_RATE_RANGE = (4_000, 768_000)


class AudioError(ValueError):
    """A clip that cannot be used; the message names the file and the reason."""


@dataclass
class Recording:
    """A decoded recording: mono samples, their rate, and what was noticed on the way."""

    samples: np.ndarray            # float64, mono, [-1, 1]
    rate: int                      # Hz, as recorded
    channels: int                  # before the downmix
    warnings: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.samples.size / self.rate


def _wav_truncation(path: Path) -> str | None:
    """A warning when a PCM WAV's data stops before the length its header gives."""
    try:
        with wave.open(str(path), "rb") as handle:
            expected = handle.getnframes()
            got = len(handle.readframes(expected)) // max(1, handle.getsampwidth()
                                                          * handle.getnchannels())
    except (wave.Error, EOFError, OSError):
        return None           # not a PCM WAV that `wave` reads: libsndfile judged it already
    if got < expected:
        return (f"truncated file: the header gives {expected} samples, the file holds {got}; "
                f"classified on what is there")
    return None


def read_audio(path: str | Path) -> Recording:
    """Decode ``path`` to mono float64 samples.

    Raises
    ------
    AudioError
        Missing, a folder, empty, corrupt or not audio, no samples at all, a sample rate
        outside :data:`SAMPLE_RATE_RANGE`, or NaN or infinite samples.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        # libsndfile's own words ("Format not recognised."), without the path again.
        reason = getattr(error, "error_string", None) or str(error) or type(error).__name__
        reason = reason.splitlines()[0].rstrip(".")
        raise AudioError(f"{path}: not a readable audio file (WAV, FLAC or OGG): "
                         f"{reason}") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    check_sample_rate(int(rate), path)
    check_finite(data, path)
    recording = Recording(data.mean(axis=1) if data.shape[1] > 1 else data[:, 0],
                          int(rate), int(data.shape[1]))
    if path.suffix.lower() == ".wav":
        truncated = _wav_truncation(path)
        if truncated:
            recording.warnings.append(truncated)
    return recording


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples (mono float64) and sample rate of ``path``; see :func:`read_audio`."""
    recording = read_audio(path)
    return recording.samples, recording.rate


def check_sample_rate(rate: int, path: str | Path = "clip") -> None:
    """Raise :class:`AudioError` for a rate outside :data:`SAMPLE_RATE_RANGE`."""
    lowest, highest = SAMPLE_RATE_RANGE
    if not lowest <= rate <= highest:
        raise AudioError(f"{path}: sample rate {rate} Hz is outside {lowest:,} to "
                         f"{highest:,} Hz; not a speech recording this reads")


def check_finite(samples: np.ndarray, path: str | Path = "clip") -> None:
    """Raise :class:`AudioError` when any sample is NaN or infinite."""
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        raise AudioError(f"{path}: {bad} of {np.size(samples)} samples are NaN or infinite "
                         f"(a damaged recording)")


def check_not_silent(samples: np.ndarray, path: str | Path = "clip") -> None:
    """Raise :class:`AudioError` for a clip with no speech energy at all."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak < SILENCE_PEAK:
        raise AudioError(f"{path}: silent clip (peak {peak:.2e} of full scale)")


def write_wav(path: str | Path, samples: np.ndarray, rate: int = 8000) -> None:
    """Write float samples in [-1, 1] as 16-bit mono PCM."""
    pcm = np.clip(np.round(np.asarray(samples) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
