"""Classify any recording: find the utterance, warn about what may hurt, run the golden model.

The model hears a fixed window (1.0 s at 8 kHz for the shipped one). A recording from a
phone or a laptop is longer, louder or quieter, at 44.1 or 48 kHz, often stereo; so before
the front end, :func:`find_utterance` keeps the part that holds speech, found by short-time
energy, and says when it had to crop speech or when too little is there to be a word. The
features of the kept part are the training front end's, so the integers are those the
hardware sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .audio import read_audio
from .frontend import FrontendConfig, features, resample_to
from .golden import network
from .modelfile import IntegerModel

__all__ = ["Utterance", "Classification", "find_utterance", "recording_features",
           "classify_file", "ACTIVE_BELOW_PEAK_DB", "SHORTEST_WORD_S"]

#: A 10 ms frame counts as speech when its energy is within this many dB of the loudest...
ACTIVE_BELOW_PEAK_DB = 35.0
#: ...and this many dB above the background (the 20th percentile of the frames' energies),
#: so that a steady hiss in a long take is not taken for speech.
ACTIVE_ABOVE_FLOOR_DB = 12.0
#: Less speech than this (seconds) is unlikely to hold a whole word.
SHORTEST_WORD_S = 0.15
_FRAME_S = 0.010
#: Kept either side of the detected speech, so soft onsets and endings survive.
_MARGIN_S = 0.05


@dataclass
class Utterance:
    """Where the speech is in a recording (seconds) and what was kept for the model."""

    start_s: float
    end_s: float
    kept_start_s: float
    kept_end_s: float
    recording_s: float
    cropped: bool


@dataclass
class Classification:
    """One recording's result: the class, its margin over the runner-up, and the logits."""

    path: str
    predicted: int
    label: str
    margin: int
    logits: list[int]
    utterance: Utterance
    sample_rate: int
    channels: int
    warnings: list[str] = field(default_factory=list)
    features: Optional[np.ndarray] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"path": self.path, "predicted": self.predicted, "label": self.label,
                "margin": self.margin, "logits": self.logits,
                "sample_rate": self.sample_rate, "channels": self.channels,
                "utterance": vars(self.utterance), "warnings": self.warnings}


def find_utterance(samples: np.ndarray, rate: int, window_s: float) -> tuple[Utterance, list[str]]:
    """The span of speech in ``samples`` and the part (at most ``window_s``) to keep.

    Speech is every 10 ms frame within :data:`ACTIVE_BELOW_PEAK_DB` of the loudest frame and
    :data:`ACTIVE_ABOVE_FLOOR_DB` above the background, from the first such frame to the
    last. A recording that fits the window is kept whole,
    so a clip gives the same features here as in ``eval`` and training. A longer one is cut
    to the speech plus 50 ms each side; when that is still longer than the window, the
    window with the most energy inside the span is kept and a warning says so.
    """
    hop = max(1, int(round(_FRAME_S * rate)))
    frames = samples.size // hop
    if frames == 0:
        seconds = samples.size / rate
        return Utterance(0.0, seconds, 0.0, seconds, seconds, False), [
            f"only {seconds * 1000:.0f} ms of audio; too short to hold a word"]
    energy = np.square(samples[:frames * hop]).reshape(frames, hop).sum(axis=1)
    peak = energy.max()
    floor = np.percentile(energy, 20)
    threshold = max(peak * 10 ** (-ACTIVE_BELOW_PEAK_DB / 10),
                    min(peak, floor * 10 ** (ACTIVE_ABOVE_FLOOR_DB / 10)))
    active = np.flatnonzero(energy >= threshold) if peak > 0 else np.arange(frames)
    margin = int(round(_MARGIN_S / _FRAME_S))
    first, last = max(0, active[0] - margin), min(frames, active[-1] + 1 + margin)
    window = int(round(window_s / _FRAME_S))
    total = samples.size / rate
    if total <= window_s:
        first, last = 0, frames
    warnings = []
    cropped = bool(last - first > window)
    kept_first, kept_last = first, last
    if cropped:
        sums = np.convolve(energy[first:last], np.ones(window), mode="valid")
        kept_first = first + int(np.argmax(sums))
        kept_last = kept_first + window
        warnings.append(f"the speech spans {(last - first) * _FRAME_S:.2f} s, longer than the "
                        f"model's {window_s:.2f} s window; kept {kept_first * _FRAME_S:.2f}-"
                        f"{kept_last * _FRAME_S:.2f} s, the loudest part")
    speech_s = (active[-1] + 1 - active[0]) * _FRAME_S
    if speech_s < SHORTEST_WORD_S:
        warnings.append(f"only {speech_s * 1000:.0f} ms of speech found; too short to hold a "
                        f"word")
    utterance = Utterance(round(active[0] * _FRAME_S, 3), round((active[-1] + 1) * _FRAME_S, 3),
                          round(kept_first * _FRAME_S, 3),
                          round(total if kept_last == frames else kept_last * _FRAME_S, 3),
                          round(total, 3), cropped)
    return utterance, warnings


def recording_features(path: str | Path, frontend: FrontendConfig):
    """uint8 features of the utterance in ``path``, with what was found and the warnings."""
    recording = read_audio(path)
    samples = recording.samples
    if recording.rate != frontend.sample_rate:
        samples = resample_to(samples, recording.rate, frontend.sample_rate, path=str(path))
    window_s = frontend.window_samples / frontend.sample_rate
    utterance, warnings = find_utterance(samples, frontend.sample_rate, window_s)
    if samples.size <= frontend.window_samples:
        kept = samples                     # whole, exactly as eval and training see it
    else:
        start = int(round(utterance.kept_start_s * frontend.sample_rate))
        end = int(round(utterance.kept_end_s * frontend.sample_rate))
        kept = samples[start:end] if end > start else samples
    feats = features(kept, frontend.sample_rate, frontend, path=str(path))
    return feats, utterance, recording, recording.warnings + warnings


def classify_file(model: IntegerModel, path: str | Path) -> Classification:
    """The golden (integer) model's answer for the recording at ``path``.

    Raises :class:`~qkspike.pymodel.audio.AudioError` for a file that cannot be used.
    """
    feats, utterance, recording, warnings = recording_features(path, model.frontend)
    result = network.run(model, feats)
    logits = [int(v) for v in result.logits]
    ranked = sorted(logits, reverse=True)
    margin = ranked[0] - ranked[1] if len(ranked) > 1 else 0
    return Classification(str(path), int(result.predicted),
                          model.config.classes[int(result.predicted)], margin, logits,
                          utterance, recording.rate, recording.channels, warnings, feats)
