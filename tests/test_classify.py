"""``qkspike classify`` and ``eval`` on recordings as users have them: a phone's 44.1 kHz
stereo file with the word late in it, long and short takes, cut files, labelled folders."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

import qkspike
from qkspike.pymodel.audio import read_audio, write_wav
from qkspike.pymodel.classify import find_utterance
from qkspike.scripts.cli import main
from tests.conftest import fsdd_test_clips

EVAL_SC_DIGITS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "eval" / \
    "sc_digits"


def phone_recording(path: Path, clip: Path, *, at_s: float = 2.3, seconds: float = 3.0,
                    rate: int = 44100) -> Path:
    """``clip`` (8 kHz mono) as a 44.1 kHz stereo FLAC/WAV take of ``seconds``, the word
    starting at ``at_s``, with quiet background noise."""
    speech = read_audio(clip).samples
    speech = resample_poly(speech, 441, 80)
    take = 0.002 * np.random.default_rng(1).standard_normal(int(seconds * rate))
    start = int(at_s * rate)
    take[start:start + speech.size] += speech[:take.size - start]
    stereo = np.stack([take, 0.8 * take], axis=1)
    soundfile.write(str(path), stereo, rate)
    return path


def test_a_phone_take_is_classified_like_the_clip_it_holds(tmp_path, shipped_model):
    clip = fsdd_test_clips()[123]
    take = phone_recording(tmp_path / "take.wav", clip.path)
    result = qkspike.classify(take, shipped_model)
    assert result.label == str(clip.label) and result.warnings == []
    assert (result.sample_rate, result.channels) == (44100, 2)
    assert 2.2 <= result.utterance.start_s <= 2.4
    assert result.margin == sorted(result.logits)[-1] - sorted(result.logits)[-2]


def test_classify_command_prints_and_writes_json(tmp_path, capsys, shipped_model):
    clip = fsdd_test_clips()[45]
    take = phone_recording(tmp_path / "take.flac", clip.path, at_s=0.5, rate=48000)
    out = tmp_path / "out.json"
    assert main(["classify", str(take), str(clip.path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"take.flac: {clip.label}" in printed and "logits:" in printed
    result = json.loads(out.read_text())
    assert [c["label"] for c in result["clips"]] == [str(clip.label)] * 2


@pytest.mark.parametrize("samples, warning", [
    (lambda speech: np.concatenate([speech, speech, speech, speech]), "longer than the model's"),
    (lambda speech: speech[:600], "too short to hold a word"),
])
def test_long_and_short_takes_are_warned_about(samples, warning, tmp_path, capsys):
    clip = fsdd_test_clips()[7]
    speech = read_audio(clip.path).samples
    path = tmp_path / "take.wav"
    write_wav(path, samples(speech))
    assert main(["classify", str(path)]) == 0
    assert warning in capsys.readouterr().err


def test_a_cut_file_is_classified_with_a_warning(tmp_path, capsys):
    path = tmp_path / "cut.wav"
    path.write_bytes(fsdd_test_clips()[3].path.read_bytes()[:2000])
    assert main(["classify", str(path)]) == 0
    assert "truncated file" in capsys.readouterr().err


def test_find_utterance_keeps_the_loudest_window_of_long_speech():
    rate = 8000
    hiss = 0.01 * np.random.default_rng(0).standard_normal(rate)
    speech = np.linspace(0.2, 0.5, 3 * rate // 2) * np.sin(np.arange(3 * rate // 2))
    utterance, warnings = find_utterance(np.concatenate([hiss, speech, hiss]), rate, 1.0)
    assert utterance.cropped and "longer than the model's" in warnings[0]
    assert 0.95 <= utterance.start_s <= 1.05 and 2.45 <= utterance.end_s <= 2.55
    assert 1.5 <= utterance.kept_start_s and utterance.kept_end_s <= 2.6   # the louder end


@pytest.mark.verilator
def test_classify_on_the_rtl_is_bit_exact(tmp_path, capsys):
    clip = fsdd_test_clips()[200]
    assert main(["classify", str(clip.path), "--rtl"]) == 0
    assert "bit-exact with the golden model" in capsys.readouterr().out


def test_eval_reads_labelled_folders_and_names_unknown_labels(tmp_path, capsys):
    clips = fsdd_test_clips()
    for clip in clips[:40:10]:
        folder = tmp_path / "mine" / str(clip.label)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"take{clip.path.stem}.wav").write_bytes(clip.path.read_bytes())
    out = tmp_path / "out.json"
    assert main(["eval", "--data", str(tmp_path / "mine"), "--json", str(out),
                 "--no-progress", "--no-torch"]) == 0
    result = json.loads(out.read_text())
    assert result["clips"] == 4
    assert sorted(p["label"] for p in result["predictions"]) == \
        sorted(c.label for c in clips[:40:10])
    (tmp_path / "mine" / "cat").mkdir()
    (tmp_path / "mine" / "cat" / "meow.wav").write_bytes(clips[0].path.read_bytes())
    assert main(["eval", "--data", str(tmp_path / "mine"), "--no-progress"]) == 2
    assert "label(s) cat are not among the model's classes" in capsys.readouterr().err


@pytest.mark.skipif(not EVAL_SC_DIGITS.is_dir(), reason=f"no {EVAL_SC_DIGITS}")
def test_eval_counts_every_clip_of_a_set_named_like_fsdd(tmp_path):
    out = tmp_path / "sc.json"
    assert main(["eval", "--data", str(EVAL_SC_DIGITS), "--split", "all", "--json", str(out),
                 "--no-progress", "--no-torch"]) == 0
    assert json.loads(out.read_text())["clips"] == 338


def test_classify_sees_the_same_integers_as_eval_on_clips_that_fit_the_window(shipped_model):
    from qkspike.pymodel.evaluate import extract_features
    clips = fsdd_test_clips()[::10]
    data = extract_features(clips, shipped_model.frontend, progress=False)
    for clip, x in zip(clips, data.features):
        if read_audio(clip.path).samples.size <= shipped_model.frontend.window_samples:
            assert np.array_equal(qkspike.features(clip.path, shipped_model), x), clip.path
