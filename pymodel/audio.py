"""Reading speech clips: the standard ``wave`` module, with one-line errors for bad files.

Accepted: mono PCM WAV (8-, 16- or 32-bit) at 8 or 16 kHz, the rates of FSDD and Google
Speech Commands. Everything else is an :class:`AudioError` that names the file and what
is wrong with it.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

__all__ = ["AudioError", "SUPPORTED_RATES", "SILENCE_PEAK", "read_wav", "write_wav",
           "check_not_silent"]

#: Sample rates the front end accepts (it resamples 16 kHz to 8 kHz).
SUPPORTED_RATES = (8000, 16000)

#: A clip whose peak stays below this (full scale = 1.0; about 3 LSB of 16-bit audio) is silent.
SILENCE_PEAK = 1e-4


class AudioError(ValueError):
    """A clip that cannot be used; the message names the file and the reason."""


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples as float64 in [-1, 1] and the sample rate.

    Raises
    ------
    AudioError
        Missing, empty or corrupt file, not PCM, not mono, or an unsupported rate.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        with wave.open(str(path), "rb") as handle:
            channels = handle.getnchannels()
            width = handle.getsampwidth()
            rate = handle.getframerate()
            raw = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as error:
        raise AudioError(f"{path}: not a readable PCM WAV file ({error})") from None
    if channels != 1:
        raise AudioError(f"{path}: {channels} channels (stereo); expected a mono clip")
    if rate not in SUPPORTED_RATES:
        raise AudioError(f"{path}: sample rate {rate} Hz is not supported "
                         f"(expected {' or '.join(map(str, SUPPORTED_RATES))} Hz)")
    if width not in (1, 2, 4):
        raise AudioError(f"{path}: {8 * width}-bit samples are not supported "
                         f"(expected 8-, 16- or 32-bit PCM)")
    if len(raw) < width:
        raise AudioError(f"{path}: the file holds no audio samples")
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    else:
        dtype = {2: "<i2", 4: "<i4"}[width]
        usable = len(raw) // width * width
        samples = np.frombuffer(raw[:usable], dtype=dtype).astype(np.float64)
        samples /= float(1 << (8 * width - 1))
    return samples, rate


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
