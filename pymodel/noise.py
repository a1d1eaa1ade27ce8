"""Noise robustness: accuracy of the integer model against signal-to-noise ratio.

Each clip, at the model's sample rate, gets noise added at a given SNR (the clip's mean
power over the noise's), then goes through the usual front end and the golden model. Two
noises: white, and speech-shaped (white noise filtered to the long-term average spectrum of
the evaluated clips themselves, the usual stand-in for babble). Seeded, so a report is
reproducible.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from .audio import AudioError, read_audio
from .frontend import features, resample_to
from .golden import network
from .modelfile import IntegerModel

__all__ = ["SNRS_DB", "NOISES", "speech_spectrum", "make_noise", "add_noise",
           "noise_robustness"]

#: SNRs of the report, in dB; None is the clean clip.
SNRS_DB: tuple[Optional[float], ...] = (None, 20.0, 10.0, 5.0, 0.0)
NOISES = ("white", "speech-shaped")
_N_FFT = 256


def speech_spectrum(clips: Sequence[np.ndarray]) -> np.ndarray:
    """Long-term average power spectrum (``_N_FFT // 2 + 1`` bins) of ``clips``."""
    total, frames = np.zeros(_N_FFT // 2 + 1), 0
    for samples in clips:
        if samples.size < _N_FFT:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(samples, _N_FFT)[::_N_FFT // 2]
        total += (np.abs(np.fft.rfft(windows * np.hanning(_N_FFT), axis=-1)) ** 2).sum(0)
        frames += len(windows)
    return total / max(1, frames)


def make_noise(kind: str, size: int, rng: np.random.Generator,
               spectrum: Optional[np.ndarray] = None) -> np.ndarray:
    """``size`` samples of unit-power ``kind`` noise."""
    white = rng.standard_normal(size)
    if kind == "white":
        noise = white
    elif kind == "speech-shaped":
        if spectrum is None:
            raise ValueError("speech-shaped noise needs the speech spectrum")
        bins = np.fft.rfftfreq(size)
        gain = np.sqrt(np.interp(bins, np.linspace(0, 0.5, spectrum.size), spectrum))
        noise = np.fft.irfft(np.fft.rfft(white) * gain, n=size)
    else:
        raise ValueError(f"unknown noise {kind!r}; expected one of {', '.join(NOISES)}")
    return noise / np.sqrt(np.mean(noise ** 2))


def add_noise(samples: np.ndarray, snr_db: float, noise: np.ndarray) -> np.ndarray:
    """``samples`` plus ``noise`` scaled to ``snr_db`` below the clip's mean power."""
    power = np.mean(samples ** 2)
    return samples + noise * np.sqrt(power / 10 ** (snr_db / 10))


def noise_robustness(model: IntegerModel, paths: Sequence[str], labels: Sequence[int], *,
                     snrs: Sequence[Optional[float]] = SNRS_DB,
                     noises: Sequence[str] = NOISES, seed: int = 0,
                     progress: bool = True) -> dict:
    """Integer accuracy for every (noise, SNR); unreadable clips are left out."""
    rate = model.frontend.sample_rate
    clips, kept = [], []
    for path, label in zip(paths, labels):
        try:
            recording = read_audio(path)
        except AudioError:
            continue
        samples = recording.samples
        if recording.rate != rate:
            samples = resample_to(samples, recording.rate, rate, path=str(path))
        clips.append(samples)
        kept.append(int(label))
    spectrum = speech_spectrum(clips)
    table = {noise: [] for noise in noises}
    conditions = [(noise, snr) for noise in noises for snr in snrs]
    bar = tqdm(total=len(conditions) * len(clips), desc="noise robustness", unit="clip",
               disable=not progress, leave=False)
    for noise, snr in conditions:
        rng = np.random.default_rng(seed)
        correct = 0
        for samples, label in zip(clips, kept):
            noisy = samples if snr is None else add_noise(
                samples, snr, make_noise(noise, samples.size, rng, spectrum))
            try:
                x = features(noisy, rate, model.frontend)
            except AudioError:
                bar.update(1)
                continue
            correct += int(network.run(model, x).predicted == label)
            bar.update(1)
        table[noise].append(correct / len(clips) if clips else None)
    bar.close()
    return {"clips": len(clips), "snr_db": [("clean" if s is None else s) for s in snrs],
            "accuracy": table, "seed": seed}
