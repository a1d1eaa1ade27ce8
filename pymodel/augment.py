"""Training augmentation that changes the voice, the room and the microphone, not only the level.

Two recipes, named by ``TrainConfig.augment``:

- ``"level"`` (the default, and the shipped model's recipe): a random
  time shift, a random gain, and with ``noise_probability`` additive noise on the clip at
  ``snr_db``.
- ``"voice"`` (opt-in): what crowd-sourced speech differs from six speakers' trimmed clips
  by (the defaults in :class:`TrainConfig` are the mildest setting measured; reverberation
  and SpecAugment are off unless their probabilities are raised, and even so the recipe
  scored below "level" on the FSDD speaker-held-out fold it was tried on, DESIGN.md
  section 3):

  * **speed perturbation** (Ko et al., 2015): the clip resampled by a factor in
    ``speed_range`` and played at the old rate, so tempo, pitch and formants move together;
  * **vocal-tract-length perturbation** (Jaitly and Hinton, 2013): the mel filterbank laid on
    a frequency axis scaled by a factor in ``warp_range``, so formants move without the
    tempo;
  * **reverberation**: the clip convolved with a synthetic room response, exponentially
    decaying Gaussian noise with RT60 in ``rt60_s`` (Lehmann-Johansson-style diffuse tail);
  * **noise over the whole window**, with ``voice_noise_probability``, at ``voice_snr_db``
    (white, pink, or the data set's background clips), so the silence around the word is
    noisy as in a real recording, not the exact zeros of a trimmed clip; the SNR is the
    word's power over the noise's;
  * **SpecAugment** masks (Park et al., 2019) on the uint8 features: up to ``time_masks``
    runs of at most ``time_mask_frames`` frames and ``freq_masks`` runs of at most
    ``freq_mask_bands`` bands set to 0 (the value of silence).

Every step draws from the ``numpy.random.Generator`` it is given, so an epoch is
reproducible from its seed. Augmentation happens on the host in training only: the front end
the model file stores, and so the integer contract of the golden model and the RTL, is
unchanged (the warp uses the same filterbank function with a scaled frequency axis).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.signal import fftconvolve, resample_poly

from .frontend import (FrontendConfig, features, log_mel_db, mel_filterbank, place_in_window,
                       quantize_db)
from .model_config import AUGMENTATIONS, TrainConfig

__all__ = ["AUGMENTATIONS", "speed_perturb", "room_response", "reverberate", "make_noise",
           "add_noise", "warped_log_mel_db", "spec_augment", "augmented_features"]

#: Resolution of the speed and warp factors: 1/100 keeps the polyphase filters short and
#: the warped filterbanks few enough to cache.
_FACTOR_STEPS = 100


def _factor(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return round(float(rng.uniform(*bounds)) * _FACTOR_STEPS) / _FACTOR_STEPS


def speed_perturb(samples: np.ndarray, factor: float) -> np.ndarray:
    """The clip played ``factor`` times faster: ``len / factor`` samples, pitch times
    ``factor`` (polyphase resampling by ``100 / round(100 * factor)``)."""
    down = int(round(factor * _FACTOR_STEPS))
    if down == _FACTOR_STEPS:
        return samples
    return resample_poly(samples, _FACTOR_STEPS, down)


def room_response(rt60_s: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a direct path of 1 and a diffuse tail of Gaussian
    noise decaying by 60 dB over ``rt60_s`` seconds, starting 2 ms after it."""
    length = max(2, int(rt60_s * rate))
    t = np.arange(length) / rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)   # ln(1000) = 60 dB
    tail[: max(1, int(0.002 * rate))] = 0.0
    tail *= 0.5 / (np.sqrt(np.sum(tail ** 2)) + 1e-12)   # tail energy a quarter of the direct
    tail[0] = 1.0
    return tail


def reverberate(samples: np.ndarray, rate: int, rt60_s: float,
                rng: np.random.Generator) -> np.ndarray:
    """The clip in a synthetic room (:func:`room_response`), tail included."""
    return fftconvolve(samples, room_response(rt60_s, rate, rng))


def make_noise(kind: int, size: int, rng: np.random.Generator,
               noise_clips: list[np.ndarray]) -> np.ndarray:
    """Noise of ``size`` samples: 0 white, 1 pink (1/f power), 2 a random stretch of one of
    ``noise_clips`` (the data set's background recordings), zero-padded if short."""
    if noise_clips and kind == 2:
        clip = noise_clips[rng.integers(len(noise_clips))]
        start = rng.integers(0, max(1, clip.size - size))
        out = clip[start:start + size]
        return np.pad(out, (0, size - out.size))
    white = rng.standard_normal(size)
    if kind == 0:
        return white
    spectrum = np.fft.rfft(white)
    spectrum /= np.sqrt(np.arange(1, spectrum.size + 1))   # 1/f power: pink
    return np.fft.irfft(spectrum, n=size)


def add_noise(samples: np.ndarray, speech_power: float, snr_range_db: tuple[float, float],
              rng: np.random.Generator, noise_clips: list[np.ndarray]) -> np.ndarray:
    """``samples`` plus noise of a random kind, scaled so that ``speech_power`` over its
    power is an SNR drawn from ``snr_range_db`` (drawn after the noise: the order the first
    recipe drew in, so its models stay reproducible)."""
    noise = make_noise(int(rng.integers(3 if noise_clips else 2)), samples.size, rng,
                       noise_clips)
    snr_db = float(rng.uniform(*snr_range_db))
    noise *= np.sqrt(speech_power / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr_db / 10))
    return samples + noise


def warped_log_mel_db(window: np.ndarray, config: FrontendConfig, warp: float) -> np.ndarray:
    """:func:`log_mel_db` with the filterbank on a frequency axis scaled by ``warp``: a
    component at ``f`` Hz lands where ``f * warp`` would (warp > 1 raises the formants)."""
    if warp == 1.0:
        return log_mel_db(window, config)
    bank = mel_filterbank(config.sample_rate * warp, config.n_fft, config.n_mels,
                          config.f_min, config.f_max)
    return log_mel_db(window, config, bank=bank)


def spec_augment(feats: np.ndarray, rng: np.random.Generator, config: TrainConfig) -> np.ndarray:
    """Up to ``time_masks`` frame runs and ``freq_masks`` band runs set to 0, in place."""
    frames, bands = feats.shape
    for _ in range(int(rng.integers(config.time_masks + 1))):
        width = int(rng.integers(1, config.time_mask_frames + 1))
        start = int(rng.integers(0, max(1, frames - width)))
        feats[start:start + width] = 0
    for _ in range(int(rng.integers(config.freq_masks + 1))):
        width = int(rng.integers(1, config.freq_mask_bands + 1))
        start = int(rng.integers(0, max(1, bands - width)))
        feats[:, start:start + width] = 0
    return feats


def _draw_shift(rng: np.random.Generator, frontend: FrontendConfig, config: TrainConfig) -> int:
    """The clip's offset in the window, in samples, uniform within ``max_shift_s``."""
    max_shift = int(config.max_shift_s * frontend.sample_rate)
    return int(rng.integers(-max_shift, max_shift + 1))


def _level(samples: np.ndarray, rate: int, frontend: FrontendConfig, config: TrainConfig,
           rng: np.random.Generator, noise_clips: list[np.ndarray], path: str) -> np.ndarray:
    shift = _draw_shift(rng, frontend, config)
    samples = samples * 10 ** (rng.uniform(*config.gain_db) / 20)
    if rng.random() < config.noise_probability:
        speech_power = np.mean(samples ** 2) + 1e-12
        samples = add_noise(samples, speech_power, config.snr_db, rng, noise_clips)
    return features(samples, rate, frontend, shift=shift, path=path)


def _voice(samples: np.ndarray, rate: int, frontend: FrontendConfig, config: TrainConfig,
           rng: np.random.Generator, noise_clips: list[np.ndarray], path: str) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float64)
    if rng.random() < config.speed_probability:
        samples = speed_perturb(samples, _factor(rng, config.speed_range))
    if rng.random() < config.reverb_probability:
        samples = reverberate(samples, rate, float(rng.uniform(*config.rt60_s)), rng)
    shift = _draw_shift(rng, frontend, config)
    window = place_in_window(samples, rate, frontend, shift=shift, path=path)
    if rng.random() < config.voice_noise_probability:
        # the word's power: the window's energy over the samples the clip occupies
        speech_power = np.sum(window ** 2) / max(1, np.count_nonzero(window)) + 1e-12
        window = add_noise(window, speech_power, config.voice_snr_db, rng, noise_clips)
        window /= np.max(np.abs(window))   # the front end's peak normalisation, noise included
    warp = _factor(rng, config.warp_range) if rng.random() < config.warp_probability else 1.0
    feats = quantize_db(warped_log_mel_db(window, frontend, warp), frontend)
    if rng.random() < config.spec_augment_probability:
        spec_augment(feats, rng, config)
    return feats


#: Each name of :data:`AUGMENTATIONS` and the function that applies it.
_RECIPES = {"level": _level, "voice": _voice}


def augmented_features(samples: np.ndarray, rate: int, frontend: FrontendConfig,
                       config: TrainConfig, rng: np.random.Generator,
                       noise_clips: Optional[list[np.ndarray]] = None, *,
                       path: str = "clip") -> np.ndarray:
    """uint8 features of one clip under ``config.augment``'s recipe, shape (frames, n_mels).

    Raises :class:`~qkspike.pymodel.audio.AudioError` for a clip the front end refuses.
    """
    recipe = _RECIPES.get(config.augment)
    if recipe is None:
        raise ValueError(f"unknown augmentation {config.augment!r}; "
                         f"one of {', '.join(AUGMENTATIONS)}")
    return recipe(samples, rate, frontend, config, rng, list(noise_clips or []), path)
