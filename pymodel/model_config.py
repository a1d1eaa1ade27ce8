"""Architecture and integer widths of the spiking transformer (torch-free; in the model file)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

__all__ = ["GROUPS", "NeuronConfig", "ModelConfig", "TrainConfig"]

#: Neuron populations of one block, and of the head.
GROUPS = ("attn_in", "qk", "mlp_in", "hidden")


@dataclass(frozen=True)
class NeuronConfig:
    levels: int = 3
    leak_shift: Optional[int] = 1
    reset: str = "soft"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and integer widths; stored in the model file."""

    classes: tuple[str, ...] = tuple(str(d) for d in range(10))
    n_mels: int = 40
    frames: int = 100
    channels: int = 64
    blocks: int = 2
    heads: int = 4
    mlp_ratio: int = 2
    kernel: int = 3
    stride: int = 2
    theta_attn: int = 1
    residual_bits: int = 16
    state_bits: int = 20
    neurons: dict = field(default_factory=lambda: {
        "attn_in": NeuronConfig(3, 1, "soft"),
        "qk": NeuronConfig(1, 1, "soft"),
        "mlp_in": NeuronConfig(3, 1, "soft"),
        "hidden": NeuronConfig(3, 1, "soft"),
        "head": NeuronConfig(3, 1, "soft"),
    })

    @property
    def steps(self) -> int:
        """Time steps per utterance: frames after the encoder's stride."""
        return self.frames // self.stride

    @property
    def hidden(self) -> int:
        return self.channels * self.mlp_ratio

    def to_dict(self) -> dict:
        values = asdict(self)
        values["classes"] = list(self.classes)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        values = dict(values)
        values["classes"] = tuple(values["classes"])
        values["neurons"] = {name: NeuronConfig(**n) for name, n in values["neurons"].items()}
        return cls(**values)


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (torch-free here so the command line reads its defaults
    without importing PyTorch); stored in the model file's metadata."""

    seed: int = 0
    float_epochs: int = 60
    qat_epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    qat_lr: float = 5e-4
    weight_decay: float = 1e-2
    label_smoothing: float = 0.1
    max_shift_s: float = 0.1
    noise_probability: float = 0.6
    snr_db: tuple[float, float] = (5.0, 40.0)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    threads: int = 2
