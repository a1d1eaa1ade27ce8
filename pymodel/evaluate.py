"""Evaluation: features of a data split, the golden model on them, and the reference paths.

A clip that cannot be used (corrupt, empty, stereo, wrong rate, silent) is reported with a
one-line reason and skipped; the run goes on with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from tqdm import tqdm

from .audio import AudioError, read_wav
from .datasets import Clip
from .frontend import FrontendConfig, features
from .golden import network
from .modelfile import IntegerModel

__all__ = ["ClipFeatures", "extract_features", "golden_results", "evaluate", "torch_available"]


@dataclass
class ClipFeatures:
    """uint8 features of the usable clips of a split, and the clips that were not usable."""

    features: np.ndarray          # (N, frames, n_mels) uint8
    labels: np.ndarray            # (N,)
    paths: list[str]
    bad: list[str] = field(default_factory=list)


def torch_available() -> bool:
    """Whether PyTorch is installed (the float and PyTorch-integer references need it)."""
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def extract_features(clips: Sequence[Clip], frontend: FrontendConfig, *,
                     progress: bool = True, desc: str = "features") -> ClipFeatures:
    feats, labels, paths, bad = [], [], [], []
    for clip in tqdm(clips, desc=desc, unit="clip", disable=not progress, leave=False):
        try:
            samples, rate = read_wav(clip.path)
            feats.append(features(samples, rate, frontend, path=str(clip.path)))
        except AudioError as error:
            bad.append(str(error))
            continue
        labels.append(clip.label)
        paths.append(str(clip.path))
    shape = (0, frontend.frames, frontend.n_mels)
    return ClipFeatures(np.stack(feats) if feats else np.zeros(shape, np.uint8),
                        np.asarray(labels, dtype=np.int64), paths, bad)


def golden_results(model: IntegerModel, feats: np.ndarray, *, trace: bool = False,
                   progress: bool = True) -> list[network.GoldenResult]:
    return [network.run(model, x, trace=trace)
            for x in tqdm(feats, desc="golden model", unit="clip", disable=not progress,
                          leave=False)]


def _confusion(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def evaluate(model: IntegerModel, data: ClipFeatures, *, check_torch: bool = True,
             progress: bool = True) -> dict:
    """Accuracies of the golden (integer) model, the float reference and the PyTorch integer
    forward; how many clips the golden and PyTorch integer logits agree on; the confusion
    matrix; and the bad clips. Without PyTorch installed, the two references are None."""
    classes = len(model.config.classes)
    results = golden_results(model, data.features, progress=progress)
    logits = np.stack([r.logits for r in results]) if results else np.zeros((0, classes))
    predicted = np.array([r.predicted for r in results], dtype=np.int64)
    clips = len(results)
    report = {
        "clips": clips,
        "accuracy": float(np.mean(predicted == data.labels)) if clips else None,
        "float_accuracy": None,
        "fake_quant_accuracy": None,
        "torch_equal_clips": None,
        "confusion": _confusion(data.labels, predicted, classes).tolist(),
        "classes": list(model.config.classes),
        "bad_files": data.bad,
        "predictions": [{"path": p, "label": int(y), "predicted": int(q)}
                        for p, y, q in zip(data.paths, data.labels, predicted)],
    }
    if check_torch and clips and torch_available():
        # PyTorch is imported only here: the golden model itself never needs it.
        import torch

        from .export import float_network, torch_integer_logits
        torch_logits = torch_integer_logits(model, data.features)
        report["torch_equal_clips"] = int(np.all(torch_logits == logits, axis=1).sum())
        report["fake_quant_accuracy"] = float(np.mean(torch_logits.argmax(1) == data.labels))
        float_net = float_network(model)
        if float_net is not None:
            with torch.no_grad():
                x = torch.from_numpy(data.features.astype(np.float32))
                float_logits = float_net(x, "float")["logits"].numpy()
            report["float_accuracy"] = float(np.mean(float_logits.argmax(1) == data.labels))
    report["_results"] = results
    return report
