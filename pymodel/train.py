"""Training: float phase, calibration of the integer grid, then quantization-aware phase.

Seedable and resumable: a checkpoint (``<out>.ckpt``) is written after every epoch and a
run started with ``resume=True`` continues from it. Augmentation (``pymodel/augment.py``,
fresh every epoch): by default the "level" recipe, a random time shift, gain and noise on the
clip (Speech Commands' ``_background_noise_`` clips when the data set has them, white and
pink noise otherwise); "voice" (opt-in) adds speed and vocal-tract-length perturbation and
puts the noise over the whole window, with reverberation and SpecAugment available.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from tqdm import tqdm

from .audio import AudioError, read_wav
from .augment import augmented_features
from .datasets import Dataset
from .distill import Teacher, distillation_loss, teacher_logits
from .frontend import FrontendConfig, features
from .model import ModelConfig, QKSpikeNet
from .model_config import TrainConfig

__all__ = ["TrainConfig", "LoadedSplit", "load_split", "featurize", "train", "train_and_save",
           "evaluate_torch"]


@dataclass
class LoadedSplit:
    """Waveforms of one split in memory, with the files that could not be used."""

    samples: list[np.ndarray]
    rates: list[int]
    labels: np.ndarray
    paths: list[str]
    bad: list[str] = field(default_factory=list)


def load_split(dataset: Dataset, split: str, *, progress: bool = True) -> LoadedSplit:
    """Read every clip of ``split``; unreadable clips are reported in ``bad`` and skipped."""
    loaded = LoadedSplit([], [], np.zeros(0, dtype=np.int64), [], [])
    labels = []
    for clip in tqdm(dataset.split(split), desc=f"reading {split}", unit="clip",
                     disable=not progress, leave=False):
        try:
            samples, rate = read_wav(clip.path)
        except AudioError as error:
            loaded.bad.append(str(error))
            continue
        loaded.samples.append(samples)
        loaded.rates.append(rate)
        labels.append(clip.label)
        loaded.paths.append(str(clip.path))
    loaded.labels = np.asarray(labels, dtype=np.int64)
    return loaded


def featurize(split: LoadedSplit, frontend: FrontendConfig, *,
              rng: Optional[np.random.Generator] = None, config: Optional[TrainConfig] = None,
              noise_clips: Optional[list[np.ndarray]] = None) -> tuple[np.ndarray, list[int]]:
    """uint8 features of every clip (augmented when ``rng`` is given) and indices that failed.

    Silent clips fail here, not on reading: their index is returned in the second list.
    """
    out = np.zeros((len(split.samples), frontend.frames, frontend.n_mels), dtype=np.uint8)
    failed = []
    for index, (samples, rate) in enumerate(zip(split.samples, split.rates)):
        try:
            if rng is None:
                out[index] = features(samples, rate, frontend, path=split.paths[index])
            else:
                out[index] = augmented_features(samples, rate, frontend, config, rng,
                                                noise_clips, path=split.paths[index])
        except AudioError:
            failed.append(index)
    return out, failed


@torch.no_grad()
def evaluate_torch(net: QKSpikeNet, feats: np.ndarray, labels: np.ndarray, numerics: str,
                   batch_size: int = 256) -> tuple[float, np.ndarray]:
    """Accuracy and predictions of ``net`` in ``numerics`` on uint8 features."""
    net.eval()
    predictions = []
    for start in range(0, len(feats), batch_size):
        x = torch.from_numpy(feats[start:start + batch_size].astype(np.float32))
        out = net(x, numerics)
        logits = out["logits_int"] if numerics == "integer" else out["logits"]
        predictions.append(torch.argmax(logits, dim=1).numpy())
    predictions = np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)
    return float(np.mean(predictions == labels)) if len(labels) else 0.0, predictions


def _save_checkpoint(path: Path, state: dict) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, temporary)
    temporary.replace(path)   # never a half-written checkpoint


def _end_float_phase(net: QKSpikeNet, train_split: LoadedSplit, frontend: FrontendConfig,
                     state: dict) -> None:
    """Keep the float weights and fix the integer grid from 512 clean training clips."""
    state["float_state"] = copy.deepcopy(net.state_dict())
    clean, _ = featurize(train_split, frontend)
    calibration = net.calibrate(torch.from_numpy(clean[:512].astype(np.float32)))
    calibration["exponent_list"] = [int(e) for e in net.exponents]
    state["calibration"] = calibration


def _check_teacher(config: TrainConfig, teacher: Optional[Teacher]) -> None:
    """The settings name the teacher given (or none), so a model file's stored settings say
    which teacher it learnt from."""
    given = teacher.sha256 if teacher is not None else ""
    if config.teacher != given:
        raise ValueError(f"the training settings name teacher {config.teacher or 'none'!r}, "
                         f"but {given or 'none'!r} was given")
    if teacher is not None and not 0 < config.distill_weight <= 1:
        raise ValueError(f"distill_weight must be in (0, 1] with a teacher, "
                         f"not {config.distill_weight}")


def train(dataset: Dataset, model_config: ModelConfig, frontend: FrontendConfig,
          config: TrainConfig, checkpoint: Path, *, resume: bool = False,
          progress: bool = True, log: Callable[[str], None] = print,
          on_epoch_end: Optional[Callable[[dict], None]] = None,
          teacher: Optional[Teacher] = None) -> dict:
    """Train on the data set's ``train`` split; return the trained net and its history.

    With a ``teacher`` (whose SHA-256 ``config.teacher`` must name), the loss is
    ``(1 - w) * cross-entropy + w * distillation`` with ``w = config.distill_weight``, in
    both phases.

    Returns a dict with ``net`` (calibrated, integer-trained), ``float_state`` (the float
    network's weights before quantization-aware training), ``calibration`` and ``history``.
    ``on_epoch_end`` sees each epoch's record after its checkpoint is on disk.
    """
    _check_teacher(config, teacher)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    train_split = load_split(dataset, "train", progress=progress)
    for bad in train_split.bad:
        log(f"skipped: {bad}")
    if not train_split.samples:
        raise ValueError(f"{dataset.root}: no usable training clips")
    noise_clips = [read_wav(path)[0] for path in dataset.noise]
    net = QKSpikeNet(model_config)
    state = {"epoch": 0, "phase": "float", "history": [], "float_state": None,
             "calibration": None, "seconds": 0.0}
    optimizer = None
    if resume and checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["model_config"] != model_config.to_dict():
            raise ValueError(f"{checkpoint}: checkpoint is for another model configuration")
        state = saved["state"]
        if state["calibration"] is not None:
            net.exponents = torch.tensor(state["calibration"]["exponent_list"])
            net.residual_fraction_bits = state["calibration"]["residual_fraction_bits"]
        net.load_state_dict(saved["net"])
        log(f"resuming from {checkpoint}: {state['phase']} phase, epoch {state['epoch']}")

    total_epochs = config.float_epochs + config.qat_epochs

    def make_optimizer(phase):
        lr = config.lr if phase == "float" else config.qat_lr
        epochs = config.float_epochs if phase == "float" else config.qat_epochs
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=config.weight_decay)
        steps = epochs * -(-len(train_split.samples) // config.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps),
                                                    pct_start=0.15 if phase == "float" else 0.05)
        return opt, sched

    optimizer, scheduler = make_optimizer(state["phase"])
    if resume and checkpoint.exists():
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])

    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    bar = tqdm(total=total_epochs, initial=state["epoch"], desc="training", unit="epoch",
               disable=not progress)
    while state["epoch"] < total_epochs:
        epoch = state["epoch"]
        if state["phase"] == "float" and epoch >= config.float_epochs:
            _end_float_phase(net, train_split, frontend, state)
            state["phase"] = "integer"
            optimizer, scheduler = make_optimizer("integer")
            calib = state["calibration"]
            log(f"calibrated integer grid: residual fraction bits "
                f"{calib['residual_fraction_bits']}, exponents {calib['exponents']}")
        started = time.monotonic()
        rng = np.random.default_rng([config.seed, epoch])
        feats, failed = featurize(train_split, frontend, rng=rng, config=config,
                                  noise_clips=noise_clips)
        keep = np.setdiff1d(np.arange(len(feats)), failed)
        order = rng.permutation(keep)
        net.train()
        losses, activities, correct = [], [], 0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            x = torch.from_numpy(feats[batch].astype(np.float32))
            y = torch.from_numpy(train_split.labels[batch])
            out = net(x, state["phase"])
            logits = out["logits"]
            loss = loss_fn(logits, y)
            if teacher is not None:
                soft = distillation_loss(logits, teacher_logits(teacher, x),
                                         config.distill_temperature)
                loss = (1 - config.distill_weight) * loss + config.distill_weight * soft
            if config.rate_penalty:
                loss = loss + config.rate_penalty * out["activity"].mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            activities.append(float(out["activity"].detach().mean()))
            correct += int((logits.argmax(1) == y).sum())
        seconds = time.monotonic() - started
        state["seconds"] += seconds
        record = {"epoch": epoch + 1, "phase": state["phase"], "loss": float(np.mean(losses)),
                  "train_accuracy": correct / len(order),
                  "activity": round(float(np.mean(activities)), 5), "seconds": round(seconds, 2)}
        state["history"].append(record)
        state["epoch"] += 1
        bar.set_postfix(refresh=False, phase=state["phase"], loss=f"{record['loss']:.3f}",
                        acc=f"{record['train_accuracy']:.3f}")
        bar.update(1)
        if not progress:  # a log file or CI: one line per epoch instead of a bar
            log(f"epoch {record['epoch']}/{total_epochs} ({record['phase']}): "
                f"loss {record['loss']:.3f}, train accuracy {record['train_accuracy']:.3f}, "
                f"activity {record['activity']:.4f}, {record['seconds']:.0f} s")
        _save_checkpoint(checkpoint, {
            "model_config": model_config.to_dict(), "train_config": asdict(config),
            "state": state, "net": net.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()})
        if on_epoch_end is not None:
            on_epoch_end(record)
    bar.close()
    if state["phase"] == "float":  # no QAT epochs asked for: calibrate at the end
        _end_float_phase(net, train_split, frontend, state)
    return {"net": net, "float_state": state["float_state"], "calibration": state["calibration"],
            "history": state["history"], "train_seconds": state["seconds"],
            "skipped": train_split.bad}


def train_and_save(dataset: Dataset, model_config: ModelConfig, frontend: FrontendConfig,
                   config: TrainConfig, out: Path, *, checkpoint: Optional[Path] = None,
                   metadata: Optional[dict] = None, progress: bool = True,
                   log: Callable[[str], None] = print, teacher: Optional[Teacher] = None):
    """:func:`train` (resuming ``checkpoint``, default ``<out>.ckpt``), export the integer
    model with its training settings and time in the metadata, save it to ``out``; return
    the :class:`IntegerModel`."""
    from . import modelfile
    from .export import export

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint or out.with_name(out.name + ".ckpt")
    trained = train(dataset, model_config, frontend, config, checkpoint, resume=True,
                    progress=progress, log=log, teacher=teacher)
    model = export(trained["net"], frontend, float_state=trained["float_state"],
                   metadata={**(metadata or {}), "train_config": asdict(config),
                             "train_seconds": round(trained["train_seconds"], 1)})
    modelfile.save(model, out)
    return modelfile.load(out)
