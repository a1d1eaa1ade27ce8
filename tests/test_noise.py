"""Noise robustness: the noise has the asked-for SNR and shape, and the report shows it."""

import json

import numpy as np
import pytest

from qkspike.pymodel.noise import add_noise, make_noise, noise_robustness, speech_spectrum
from qkspike.scripts.cli import main
from tests.conftest import fsdd_test_clips


@pytest.mark.parametrize("kind", ["white", "speech-shaped"])
@pytest.mark.parametrize("snr_db", [20.0, 5.0, 0.0])
def test_added_noise_has_the_asked_for_snr(kind, snr_db):
    rng = np.random.default_rng(3)
    clip = np.sin(np.arange(8000) * 0.3) * np.hanning(8000)
    spectrum = speech_spectrum([clip])
    noisy = add_noise(clip, snr_db, make_noise(kind, clip.size, rng, spectrum))
    measured = 10 * np.log10(np.mean(clip ** 2) / np.mean((noisy - clip) ** 2))
    assert abs(measured - snr_db) < 1e-9


def test_speech_shaped_noise_follows_the_speech_spectrum():
    rng = np.random.default_rng(0)
    low = np.sin(2 * np.pi * 300 * np.arange(16000) / 8000)      # all energy near 300 Hz
    noise = make_noise("speech-shaped", 16000, rng, speech_spectrum([low]))
    power = np.abs(np.fft.rfft(noise)) ** 2
    hz = np.fft.rfftfreq(16000, 1 / 8000)
    assert power[(hz > 200) & (hz < 400)].mean() > 100 * power[hz > 2000].mean()


def test_the_clean_column_is_the_golden_accuracy_and_noise_is_seeded(shipped_model):
    clips = fsdd_test_clips()[::60]
    paths, labels = [c.path for c in clips], [c.label for c in clips]
    first = noise_robustness(shipped_model, paths, labels, snrs=(None, 0.0), progress=False)
    again = noise_robustness(shipped_model, paths, labels, snrs=(None, 0.0), progress=False)
    assert first == again and first["clips"] == 5
    assert first["accuracy"]["white"][0] == first["accuracy"]["speech-shaped"][0] == 1.0


def test_report_writes_the_noise_table_and_plot(tmp_path):
    fsdd_test_clips()
    out = tmp_path / "report"
    assert main(["report", "--limit", "3", "--no-progress", "--out", str(out)]) == 0
    saved = json.loads((out / "report.json").read_text())
    assert saved["noise"]["snr_db"] == ["clean", 20.0, 10.0, 5.0, 0.0]
    assert set(saved["noise"]["accuracy"]) == {"white", "speech-shaped"}
    assert "Integer accuracy against SNR" in (out / "report.md").read_text()
    assert (out / "noise.png").stat().st_size > 0
