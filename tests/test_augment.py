"""Training augmentation (pymodel/augment.py): each step does what its name says, the
recipes are reproducible from their seed (that evaluation features are never augmented:
tests/test_train.py, which needs PyTorch)."""

from dataclasses import replace

import numpy as np
import pytest

from qkspike.pymodel.augment import (add_noise, augmented_features, reverberate, room_response,
                                     spec_augment, speed_perturb, warped_log_mel_db)
from qkspike.pymodel.frontend import FrontendConfig, features, log_mel_db, place_in_window
from qkspike.pymodel.model_config import TrainConfig

RATE = 8000


def tone(hz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.sin(2 * np.pi * hz * t)


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return np.argmax(spectrum) * RATE / samples.size


@pytest.mark.parametrize("factor", [0.85, 0.9, 1.1, 1.15])
def test_speed_perturbation_scales_length_and_pitch(factor):
    out = speed_perturb(tone(500.0), factor)
    assert abs(out.size - 4000 / factor) <= 1
    assert abs(peak_hz(out) - 500.0 * factor) < 5.0


def test_speed_factor_one_is_the_clip():
    clip = tone(300.0)
    assert speed_perturb(clip, 1.0) is clip


@pytest.mark.parametrize("warp", [0.9, 1.1])
def test_vocal_tract_warp_moves_a_tone_to_the_band_of_the_scaled_frequency(warp):
    config = FrontendConfig()
    window = place_in_window(tone(1000.0), RATE, config)
    band_of = lambda db: int(np.argmax(db[50]))          # noqa: E731, a frame inside the tone
    moved = band_of(warped_log_mel_db(window, config, warp))
    target = band_of(log_mel_db(place_in_window(tone(1000.0 * warp), RATE, config), config))
    assert moved == target != band_of(log_mel_db(window, config))
    assert np.array_equal(warped_log_mel_db(window, config, 1.0), log_mel_db(window, config))


def test_room_response_decays_sixty_decibels_over_rt60():
    rng = np.random.default_rng(1)
    response = room_response(0.4, RATE, rng)
    assert response[0] == 1.0 and response.size == int(0.4 * RATE)
    tail = response[1:] ** 2
    early = tail[int(0.01 * RATE):int(0.05 * RATE)].mean()
    late = tail[int(0.35 * RATE):int(0.39 * RATE)].mean()
    # 0.34 s apart: 60 dB * 0.34 / 0.4 = 51 dB, within the noise of 320-sample means
    assert 45.0 < 10 * np.log10(early / late) < 57.0
    out = reverberate(tone(200.0), RATE, 0.4, rng)
    assert out.size == 4000 + response.size - 1 and np.all(np.isfinite(out))


@pytest.mark.parametrize("snr", [0.0, 10.0, 30.0])
def test_noise_is_added_at_the_drawn_snr(snr):
    clip = tone(400.0, 1.0)
    power = float(np.mean(clip ** 2))
    noisy = add_noise(clip, power, (snr, snr), np.random.default_rng(2), [])
    measured = 10 * np.log10(power / np.mean((noisy - clip) ** 2))
    assert abs(measured - snr) < 1e-6


def test_spec_augment_only_zeroes_whole_runs_of_frames_and_bands():
    config = TrainConfig()
    for seed in range(20):
        feats = np.full((100, 40), 7, dtype=np.uint8)
        spec_augment(feats, np.random.default_rng(seed), config)
        assert set(np.unique(feats)) <= {0, 7}
        zero_frames = np.flatnonzero(np.all(feats == 0, axis=1))
        zero_bands = np.flatnonzero(np.all(feats == 0, axis=0))
        # every zero lies in a fully masked frame or band
        mask = np.zeros_like(feats, dtype=bool)
        mask[zero_frames] = True
        mask[:, zero_bands] = True
        assert np.array_equal(feats == 0, mask)
        assert zero_frames.size <= config.time_masks * config.time_mask_frames
        assert zero_bands.size <= config.freq_masks * config.freq_mask_bands


EVERY_VOICE_STEP = dict(speed_probability=1.0, warp_probability=1.0, reverb_probability=1.0,
                        voice_noise_probability=1.0, spec_augment_probability=1.0)


@pytest.mark.parametrize("augment, steps", [("level", {}), ("voice", {}),
                                            ("voice", EVERY_VOICE_STEP)])
def test_recipes_are_reproducible_from_their_seed(augment, steps):
    config = replace(TrainConfig(), augment=augment, **steps)
    clip = tone(300.0) * np.hanning(4000)
    first = augmented_features(clip, RATE, FrontendConfig(), config, np.random.default_rng(5))
    again = augmented_features(clip, RATE, FrontendConfig(), config, np.random.default_rng(5))
    other = augmented_features(clip, RATE, FrontendConfig(), config, np.random.default_rng(6))
    assert first.dtype == np.uint8 and first.shape == (100, 40)
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_voice_noise_fills_the_silence_around_the_word_and_level_noise_does_not():
    clip = tone(300.0, 0.3) * np.hanning(2400)         # 0.3 s word centred in a 1 s window
    outside = slice(0, 25)                               # frames before the word starts
    for augment, expect_noise in (("voice", True), ("level", False)):
        config = replace(TrainConfig(), augment=augment, noise_probability=1.0,
                         voice_noise_probability=1.0,
                         snr_db=(0.0, 0.0), voice_snr_db=(0.0, 0.0), speed_probability=0.0,
                         reverb_probability=0.0, warp_probability=0.0,
                         spec_augment_probability=0.0, max_shift_s=0.0)
        feats = augmented_features(clip, RATE, FrontendConfig(), config,
                                   np.random.default_rng(0))
        assert bool(feats[outside].any()) == expect_noise, augment


def test_unknown_recipe_is_one_clear_error():
    config = replace(TrainConfig(), augment="pitch")
    with pytest.raises(ValueError, match="unknown augmentation 'pitch'"):
        augmented_features(tone(300.0), RATE, FrontendConfig(), config, np.random.default_rng())


def test_voice_with_every_step_off_gives_the_evaluation_features_at_its_shift():
    """Training and evaluation features must not differ by anything but the augmentation:
    with every step's probability 0 the "voice" recipe is the front end at a drawn shift."""
    config = replace(TrainConfig(), augment="voice", speed_probability=0.0,
                     warp_probability=0.0, reverb_probability=0.0,
                     voice_noise_probability=0.0, spec_augment_probability=0.0)
    clip = tone(450.0, 0.4) * np.hanning(3200)
    rng = np.random.default_rng(3)
    trained_on = augmented_features(clip, RATE, FrontendConfig(), config, rng)
    max_shift = int(config.max_shift_s * RATE)
    rng = np.random.default_rng(3)
    for _ in range(2):          # the speed and room draws come before the shift's
        rng.random()
    shift = int(rng.integers(-max_shift, max_shift + 1))
    assert np.array_equal(trained_on, features(clip, RATE, FrontendConfig(), shift=shift))


def test_training_settings_compare_with_what_older_files_left_out():
    """A model file written before a setting existed was trained with the setting's old
    value (no rate penalty, the level recipe): such a file matches today's defaults, and
    asking for a rate penalty or another recipe is a difference; threads never are."""
    from dataclasses import asdict
    saved = asdict(TrainConfig())
    for name in ("rate_penalty", "augment"):
        saved.pop(name)
    assert TrainConfig(rate_penalty=0.0).differences(saved) == []
    assert TrainConfig(rate_penalty=2.0).differences(saved) == ["rate_penalty"]
    assert TrainConfig(augment="voice", rate_penalty=0.0).differences(saved) == ["augment"]
    assert TrainConfig(threads=1, snr_db=(1.0, 2.0),
                       rate_penalty=0.0).differences(saved) == ["snr_db"]


def test_training_settings_come_back_from_a_model_file_as_they_were():
    import json
    from dataclasses import asdict
    config = TrainConfig(seed=3, augment="voice", rate_penalty=0.5, snr_db=(1.0, 2.0))
    stored = json.loads(json.dumps(asdict(config)))          # as a model file keeps them
    assert TrainConfig.from_saved(stored) == config
    assert TrainConfig.from_saved(stored, threads=1) == replace(config, threads=1)
    older = {k: v for k, v in stored.items() if k not in ("augment", "rate_penalty")}
    assert TrainConfig.from_saved(older).rate_penalty == 0.0
    with pytest.raises(ValueError, match="unknown training settings: colour"):
        TrainConfig.from_saved({**stored, "colour": 1})
