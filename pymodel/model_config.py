"""Architecture and integer widths of the spiking transformer (torch-free; in the model file)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Optional

__all__ = ["GROUPS", "AUGMENTATIONS", "NeuronConfig", "ModelConfig", "TrainConfig"]

#: Neuron populations of one block, and of the head.
GROUPS = ("attn_in", "qk", "mlp_in", "hidden")

#: Training augmentation recipes (``pymodel/augment.py``).
AUGMENTATIONS = ("level", "voice")


@dataclass(frozen=True)
class NeuronConfig:
    """One neuron kind of every block: levels ``D``, leak shift ``k`` (``None``: no leak),
    reset mode, and optionally one leak shift per attention head.

    ``head_leak_shifts`` (empty: off) gives the channels of head ``h`` the leak shift
    ``head_leak_shifts[h]`` in place of ``leak_shift``: different heads, different time
    constants (our reading of IML-Spikeformer's hierarchical decay mask; DESIGN.md section
    2). Channel ``c`` belongs to head ``c // (channels / heads)``; the ``qk`` kind's Q and K
    halves each split that way (:func:`pymodel.topology.channel_heads`).
    """

    levels: int = 3
    leak_shift: Optional[int] = 1
    reset: str = "soft"
    head_leak_shifts: tuple[int, ...] = ()


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
    #: the encoder sees ``kernel`` frames every ``stride`` frames: the shipped model stacks
    #: 4 frames per step (25 steps per utterance; the earlier model: kernel 3, stride 2, 50)
    kernel: int = 4
    stride: int = 4
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
        values["neurons"] = {name: NeuronConfig(**{**n, "head_leak_shifts": tuple(
                                 n.get("head_leak_shifts", ()))})
                             for name, n in values["neurons"].items()}
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
    #: the "level" recipe's SNR range (noise on the clip only), and its gain range
    snr_db: tuple[float, float] = (5.0, 40.0)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    threads: int = 2
    #: the augmentation recipe (``pymodel/augment.py``): "level" (default; the recipe of the
    #: shipped model) or "voice" (opt-in: it scored lower on the speaker-held-out fold it
    #: was measured on; DESIGN.md section 3)
    augment: str = "level"
    speed_probability: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)
    warp_probability: float = 0.5
    warp_range: tuple[float, float] = (0.92, 1.08)
    #: reverberation and SpecAugment are off in "voice" by default (each cost accuracy on
    #: the held-out fold); set a probability above 0 to use them
    reverb_probability: float = 0.0
    rt60_s: tuple[float, float] = (0.1, 0.3)
    #: the "voice" recipe's noise: probability and SNR range (noise over the whole window)
    voice_noise_probability: float = 0.5
    voice_snr_db: tuple[float, float] = (10.0, 40.0)
    spec_augment_probability: float = 0.0
    time_masks: int = 2
    time_mask_frames: int = 10
    freq_masks: int = 2
    freq_mask_bands: int = 4
    #: weight of the firing-rate penalty in the loss: the spike-driven layers' synaptic
    #: operations as a fraction of their dense count (``model.dense_activity``); the engine
    #: walks only non-zero inputs, so fewer spikes are fewer cycles. 0.5: the shipped model's
    #: (0: no penalty, the earlier 50-step model's)
    rate_penalty: float = 0.5
    #: knowledge distillation (``pymodel/distill.py``): the teacher model file's SHA-256
    #: ("" for none), the weight of its soft targets in the loss (the labels' cross-entropy
    #: keeps ``1 - distill_weight``) and their temperature
    teacher: str = ""
    distill_weight: float = 0.0
    distill_temperature: float = 2.0

    @classmethod
    def from_saved(cls, saved: dict, **overrides) -> "TrainConfig":
        """The settings a model file stores (:func:`dataclasses.asdict`, through JSON), with
        what older files left out at its value then; unknown names are refused."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(saved) - known)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(unknown)}")
        values = {**_BEFORE_STORED, **saved, **overrides}
        return cls(**{name: tuple(value) if isinstance(value, list) else value
                      for name, value in values.items()})

    def differences(self, saved: dict) -> list[str]:
        """Names of the settings that differ between this config and ``saved`` (another
        config's :func:`dataclasses.asdict`, as model files store it), leaving out
        ``threads`` and the settings only the recipe not in use reads: what would make a
        model trained under ``saved`` a different model."""
        saved = {**_BEFORE_STORED, **saved}
        if saved["augment"] != self.augment:
            return ["augment"]
        unused = _RECIPE_FIELDS["voice" if self.augment == "level" else "level"]
        return [name for name, value in asdict(self).items()
                if name != "threads" and name not in unused
                and _as_lists(saved.get(name)) != _as_lists(value)]


#: What models trained before a setting was stored were trained with.
_BEFORE_STORED = {"augment": "level", "rate_penalty": 0.0, "teacher": "",
                  "distill_weight": 0.0, "distill_temperature": 2.0}


#: The settings that only one augmentation recipe reads (``pymodel/augment.py``).
_RECIPE_FIELDS = {
    "level": ("noise_probability", "snr_db", "gain_db"),
    "voice": ("speed_probability", "speed_range", "warp_probability", "warp_range",
              "reverb_probability", "rt60_s", "voice_noise_probability", "voice_snr_db",
              "spec_augment_probability", "time_masks", "time_mask_frames", "freq_masks",
              "freq_mask_bands"),
}


def _as_lists(value):
    """Tuples as lists, as a JSON round trip leaves them."""
    return list(value) if isinstance(value, tuple) else value
