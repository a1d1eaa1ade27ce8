"""Audio reading, the front end and the data set readers, with bad input."""

import wave

import numpy as np
import pytest

from qkspike.pymodel.audio import AudioError, read_audio, read_wav, write_wav
from qkspike.pymodel.datasets import (DatasetError, default_fsdd, open_dataset, read_fsdd,
                                      read_speech_commands)
from qkspike.pymodel.frontend import FrontendConfig, features, mel_filterbank
from tests.conftest import fsdd_test_clips


def tone(seconds=0.4, rate=8000, hz=440.0, amplitude=0.3):
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t) * np.hanning(t.size)


# --- the front end -------------------------------------------------------------------------

def test_features_have_the_contract_shape_and_dtype():
    config = FrontendConfig()
    x = features(tone(), 8000, config)
    assert config.frames == 100
    assert x.shape == (100, 40) and x.dtype == np.uint8


def test_features_are_deterministic_and_level_independent():
    a = features(tone(amplitude=0.3), 8000)
    b = features(tone(amplitude=0.03), 8000)   # peak normalisation: same features
    assert np.array_equal(a, features(tone(amplitude=0.3), 8000))
    assert np.array_equal(a, b)


def test_short_clip_is_centred_and_padding_gives_all_zero_frames():
    x = features(tone(seconds=0.3), 8000)
    active = np.flatnonzero(x.sum(axis=1))
    assert x[:10].sum() == 0 and x[-10:].sum() == 0
    assert abs((active[0] + active[-1]) / 2 - 50) <= 3


def test_sixteen_kilohertz_is_resampled_to_the_same_features():
    slow = tone(rate=8000, hz=500.0)
    fast = tone(rate=16000, hz=500.0)
    a, b = features(slow, 8000).astype(int), features(fast, 16000).astype(int)
    assert np.mean(np.abs(a - b)) < 3.0


def test_long_clip_is_cropped_around_its_energy():
    rate = 8000
    clip = np.zeros(3 * rate)
    burst = tone(seconds=0.3)
    clip[2 * rate:2 * rate + burst.size] = burst
    x = features(clip, rate)
    assert x.sum() > 0   # the speech, far from the start, is inside the window


def test_mel_filterbank_covers_every_band():
    bank = mel_filterbank(8000, 256, 40, 20.0, 4000.0)
    assert bank.shape == (129, 40)
    assert np.all(bank.max(axis=0) > 0.5)


# --- bad input -----------------------------------------------------------------------------

def write_raw(path, data: bytes, *, channels=1, width=2, rate=8000):
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(data)
    return path


def write_float(path, samples, rate=8000):
    import soundfile
    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), rate, subtype="FLOAT")
    return path


def with_sample(index, value):
    samples = tone()
    samples[index] = value
    return samples


def pcm(samples):
    return np.round(samples * 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("maker, message", [
    (lambda p: p.write_bytes(b"RIFF\x00\x00garbage"), "not a readable audio file"),
    (lambda p: p.write_bytes(b""), "not a readable audio file"),
    (lambda p: write_raw(p, b""), "holds no audio samples"),
    (lambda p: p.mkdir(), "a folder, not an audio file"),
    # A damaged float file: one NaN or infinity would poison the whole window's features.
    (lambda p: write_float(p, with_sample(100, np.nan)), "1 of 3200 samples are NaN or infinite"),
    (lambda p: write_float(p, with_sample(7, -np.inf)), "1 of 3200 samples are NaN or infinite"),
    # A header's rate far off speech: nonsense to classify, and minutes and gigabytes to
    # resample (8 MHz took 55 s and 7.6 GB before it was refused).
    (lambda p: write_raw(p, pcm(tone()), rate=1), "sample rate 1 Hz is outside 4,000 to 768,000"),
    (lambda p: write_raw(p, pcm(tone()), rate=3999), "sample rate 3999 Hz is outside"),
    (lambda p: write_raw(p, pcm(tone()), rate=7_999_999), "sample rate 7999999 Hz is outside"),
])
def test_bad_wav_files_give_one_line_errors(tmp_path, maker, message):
    path = tmp_path / "bad.wav"
    maker(path)
    with pytest.raises(AudioError, match=message) as info:
        samples, rate = read_wav(path)
        features(samples, rate, path=str(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_arrays_with_nan_or_a_rate_off_speech_are_refused_by_the_front_end():
    """The API takes arrays too: the same checks as for files."""
    with pytest.raises(AudioError, match="1 of 3200 samples are NaN or infinite"):
        features(with_sample(5, np.nan), 8000)
    with pytest.raises(AudioError, match="sample rate 0 Hz is outside"):
        features(tone(), 0)


@pytest.mark.parametrize("rate", [4_000, 11_025, 44_101, 768_000])
def test_every_rate_in_range_is_read_and_resampled_to_the_window(tmp_path, rate):
    recording = read_audio(write_raw(tmp_path / "t.wav", pcm(tone(rate=rate)), rate=rate))
    assert recording.rate == rate and features(recording.samples, rate).shape == (100, 40)


def test_resampling_is_exact_for_common_rates_and_bounded_for_odd_ones():
    """44.1 kHz keeps its exact 80 / 441; 44,101 Hz (exact: 8,000 / 44,101, a filter of
    about 900,000 taps) takes the nearest ratio with factors of at most 1,000 (119 / 656,
    3.6e-6 off), so its samples drift 0.012 of a sample over 0.4 s: under 0.5 % of the
    peak for a 440 Hz tone."""
    from scipy.signal import resample_poly

    from qkspike.pymodel.frontend import MAX_RESAMPLE_FACTOR, resample_ratio, resample_to

    common = tone(rate=44_100)
    assert np.array_equal(resample_to(common, 44_100, 8000), resample_poly(common, 80, 441))
    odd = tone(rate=44_101)
    exact, bounded = resample_poly(odd, 8000, 44_101), resample_to(odd, 44_101, 8000)
    assert abs(bounded.size - exact.size) <= 1
    size = min(bounded.size, exact.size)
    assert np.max(np.abs(bounded[:size] - exact[:size])) < 5e-3 * np.max(np.abs(exact))
    assert max(resample_ratio(44_101, 8000).as_integer_ratio()) <= MAX_RESAMPLE_FACTOR


def test_stereo_at_44k1_is_downmixed_and_resampled(tmp_path):
    left = tone(rate=44100)
    stereo = np.stack([left, -0.5 * left], axis=1)        # downmix: 0.25 * left
    pcm = np.round(stereo * 32767).astype("<i2").tobytes()
    recording = read_audio(write_raw(tmp_path / "phone.wav", pcm, channels=2, rate=44100))
    assert recording.channels == 2 and recording.rate == 44100
    assert np.allclose(recording.samples, 0.25 * left, atol=2e-4)
    assert features(recording.samples, recording.rate).shape == (100, 40)


def test_a_wav_cut_short_is_read_with_a_warning(tmp_path):
    path = write_raw(tmp_path / "cut.wav", np.round(tone() * 32767).astype("<i2").tobytes())
    path.write_bytes(path.read_bytes()[:100])            # the header and 28 samples
    recording = read_audio(path)
    assert recording.samples.size == 28
    assert any("truncated" in warning for warning in recording.warnings)


def test_silent_clip_is_rejected(tmp_path):
    path = tmp_path / "silent.wav"
    write_wav(path, np.zeros(4000))
    samples, rate = read_wav(path)
    with pytest.raises(AudioError, match="silent clip"):
        features(samples, rate, path=str(path))


def test_missing_file_and_eight_bit_audio(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        read_wav(tmp_path / "nope.wav")
    pcm8 = (np.clip(tone() * 127 + 128, 0, 255)).astype(np.uint8).tobytes()
    samples, rate = read_wav(write_raw(tmp_path / "u8.wav", pcm8, width=1))
    assert rate == 8000 and abs(samples.max() - 0.3) < 0.02


# --- data sets ------------------------------------------------------------------------------

def test_fsdd_test_split_is_the_official_one():
    test = fsdd_test_clips()
    data = default_fsdd()
    assert len(test) == 300 and len(data.split("train")) == 2700
    assert {clip.label for clip in test} == set(range(10))
    assert all(int(clip.path.stem.split("_")[2]) < 5 for clip in test)
    assert len(data.split("all")) == 3000


def test_fsdd_reader_splits_by_index_and_reports_odd_names(tmp_path):
    for name in ("3_ann_4.wav", "3_ann_5.wav", "7_bob_49.wav", "notes.wav"):
        write_wav(tmp_path / name, tone())
    data = read_fsdd(tmp_path)
    assert [c.path.name for c in data.split("test")] == ["3_ann_4.wav"]
    assert sorted(c.path.name for c in data.split("train")) == ["3_ann_5.wav", "7_bob_49.wav"]
    assert len(data.skipped) == 1 and "notes.wav" in data.skipped[0]


def build_speech_commands(root):
    words = {"yes": ["aa_nohash_0", "bb_nohash_0", "cc_nohash_1"],
             "no": ["aa_nohash_1", "dd_nohash_0"]}
    for word, names in words.items():
        (root / word).mkdir(parents=True)
        for name in names:
            write_wav(root / word / f"{name}.wav", tone(rate=16000), rate=16000)
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "white.wav", 0.1 * np.random.default_rng(0)
              .standard_normal(16000), rate=16000)
    (root / "testing_list.txt").write_text("yes/bb_nohash_0.wav\nno/dd_nohash_0.wav\n")
    (root / "validation_list.txt").write_text("yes/cc_nohash_1.wav\n")
    return root


def test_speech_commands_reader_on_a_folder_it_builds(tmp_path):
    data = open_dataset(build_speech_commands(tmp_path / "gsc"))
    assert data.name == "speech_commands" and data.classes == ("no", "yes")
    assert sorted(c.path.name for c in data.split("test")) == ["bb_nohash_0.wav",
                                                                "dd_nohash_0.wav"]
    assert [c.path.name for c in data.split("validation")] == ["cc_nohash_1.wav"]
    assert sorted((c.path.name, c.label) for c in data.split("train")) == [
        ("aa_nohash_0.wav", 1), ("aa_nohash_1.wav", 0)]
    assert [p.name for p in data.noise] == ["white.wav"]
    clip = data.split("test")[0]
    assert features(*read_wav(clip.path)).shape == (100, 40)   # 16 kHz resampled
    assert read_speech_commands(tmp_path / "gsc", words=["yes"]).classes == ("yes",)


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "missing", "no such folder"),
    (lambda root: (root / "f.txt").write_text("x") and root / "f.txt", "not a folder"),
    (lambda root: root, "no FSDD clips"),
])
def test_bad_data_folders_give_clear_errors(tmp_path, make, message):
    with pytest.raises(DatasetError, match=message):
        open_dataset(make(tmp_path))


def test_speech_commands_unknown_word_and_split(tmp_path):
    root = build_speech_commands(tmp_path / "gsc")
    with pytest.raises(DatasetError, match="no folder for word"):
        read_speech_commands(root, words=["maybe"])
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        open_dataset(root).split("dev")
