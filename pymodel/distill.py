"""Knowledge distillation: a trained model file teaches the network being trained.

The use (issue 12): a model with fewer time steps (``--stride 4``, 25 steps, half the
cycles) learns from the 50-step model's soft outputs as well as from the labels, the way
SpikeSCR cut its time steps. The teacher is the float reference network stored in the
teacher's model file (``export.float_network``): it reads the same uint8 features whatever
its stride, so a teacher of any time-step count teaches a student of any other.

A teacher must not have heard the speakers its student is evaluated on: a teacher for a
speaker-held-out fold is that fold of the teacher recipe's cross-validation
(``fold-<speaker>.npz``), and :func:`load_teacher` refuses one that heard them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["Teacher", "load_teacher", "fold_teacher_path", "held_out_by", "teacher_logits",
           "distillation_loss"]


@dataclass(frozen=True)
class Teacher:
    """A teacher model file: its float network and the file's SHA-256 (what the student's
    training settings store, so a student taught by another teacher is another model)."""

    path: Path
    sha256: str
    net: object          # QKSpikeNet in eval mode


def held_out_by(metadata: dict) -> set[str]:
    """The speakers a model file says it was trained without (none when it does not say):
    its ``holdout_speakers``, stored as the command line gave them."""
    from .datasets import speaker_names

    return set(speaker_names(metadata.get("holdout_speakers") or ""))


def load_teacher(path: Path, *, student_holds_out: Sequence[str] = ()) -> Teacher:
    """The teacher in the model file at ``path``; ``ValueError`` (one line) when the file has
    no float network or was trained on a speaker in ``student_holds_out``."""
    from qkspike.fetch import file_sha256

    from . import modelfile
    from .export import float_network

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no teacher model file there")
    model = modelfile.load(path)
    heard = sorted(set(student_holds_out) - held_out_by(model.metadata))
    if heard:
        raise ValueError(f"{path}: the teacher was trained on {', '.join(heard)}, whom its "
                         f"student is evaluated on; teach each fold with the teacher's own fold")
    net = float_network(model)
    if net is None:
        raise ValueError(f"{path}: the model file stores no float network to teach with")
    return Teacher(path, file_sha256(path), net)


def fold_teacher_path(folder: Path, speaker: str) -> Path:
    """The teacher of the fold that holds out ``speaker``: the teacher recipe's fold model in
    ``folder`` (a ``qkspike crossval --out`` folder)."""
    return Path(folder) / f"fold-{speaker}.npz"


def teacher_logits(teacher: Teacher, x):
    """The teacher's float logits for a batch of features (no gradient)."""
    import torch

    with torch.no_grad():
        return teacher.net(x, "float")["logits"]


def distillation_loss(student_logits, teacher_logits, temperature: float):
    """Hinton's soft-target loss: ``T^2 * KL(softmax(t / T) || softmax(s / T))``, batch mean
    (the ``T^2`` keeps its gradient's scale independent of ``T``)."""
    import torch.nn.functional as F

    soft_targets = F.softmax(teacher_logits / temperature, dim=1)
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    return temperature ** 2 * F.kl_div(log_student, soft_targets, reduction="batchmean")
