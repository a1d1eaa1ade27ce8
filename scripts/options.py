"""Command-line options and checks that several subcommands share.

Light on purpose: the command line imports this for ``--help``, so nothing here imports
numpy, Amaranth, scipy or torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from qkspike.pymodel.targets import (DEFAULT_ENGINE_LANES, DEFAULT_LANES, default_engine_lanes,
                                     lanes_text)

from .cli import UsageError

__all__ = ["add_model", "add_lanes", "check_lanes", "add_progress", "add_augment", "add_training",
           "add_parallel", "add_training_run", "add_distillation", "distillation_settings",
           "check_training", "check_training_run", "check_shape", "check_blocks",
           "head_leak_shifts",
           "training_frontend",
           "train_config", "training_configs", "check_at_least_one",
           "check_json_path", "write_json", "make_out_folder", "require_torch", "DEFAULT_LANES",
           "lanes_label"]



def add_model(parser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="model file (.npz; default: the shipped FSDD model)")


def add_lanes(parser) -> None:
    parser.add_argument("--lanes", type=int, default=DEFAULT_LANES, metavar="P",
                        help="lanes P: neurons the core updates in parallel each cycle, "
                             "and accumulators unless --engine-lanes; more lanes, fewer "
                             "cycles, more LUTs (default: %(default)s)")
    parser.add_argument("--engine-lanes", type=int, default=None, metavar="E",
                        help=f"accumulator lanes E of the sparse engine, a multiple of P: "
                             f"a wider engine (one DSP per lane) behind the P neuron lanes "
                             f"walks fewer chunks per layer (default: the largest multiple "
                             f"of P up to {DEFAULT_ENGINE_LANES}, or P past it; "
                             f"{default_engine_lanes(DEFAULT_LANES)} at P = {DEFAULT_LANES})")


def check_lanes(args) -> None:
    """``UsageError`` for a bad ``--lanes`` or ``--engine-lanes``; sets the engine lanes'
    default (:func:`pymodel.targets.default_engine_lanes`) when none was given."""
    check_at_least_one(("--lanes", args.lanes), ("--engine-lanes", args.engine_lanes))
    if args.engine_lanes is None:
        args.engine_lanes = default_engine_lanes(args.lanes)
    engine = args.engine_lanes
    if engine is not None and (engine < args.lanes or engine % args.lanes):
        raise UsageError(f"--engine-lanes must be a multiple of --lanes ({args.lanes}), "
                         f"not {engine}")
    if engine is not None and engine > 256:
        raise UsageError(f"--engine-lanes must be at most 256, not {engine}")


def lanes_label(args) -> str:
    """:func:`pymodel.targets.lanes_text` of ``--lanes`` and ``--engine-lanes``."""
    return lanes_text(args.lanes, args.engine_lanes)


def add_augment(parser) -> None:
    from qkspike.pymodel.model_config import AUGMENTATIONS, TrainConfig

    parser.add_argument("--augment", choices=AUGMENTATIONS, default=TrainConfig.augment,
                        help="training augmentation: 'level' (the shipped model's: shift, gain, "
                             "noise on the clip); 'voice' adds speed and vocal-tract-length "
                             "perturbation and noise over the whole window (default: %(default)s)")


def add_training_run(parser) -> None:
    """How to train (``train``, ``crossval``, ``sweep``): epochs, seed, threads, the
    augmentation recipe."""
    from qkspike.pymodel.model_config import TrainConfig

    defaults = TrainConfig()
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of weights, shuffling and augmentation (default: %(default)s)")
    parser.add_argument("--float-epochs", type=int, default=defaults.float_epochs,
                        help="epochs of float training (default: %(default)s)")
    parser.add_argument("--qat-epochs", type=int, default=defaults.qat_epochs,
                        help="epochs of quantization-aware training (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=defaults.threads,
                        help="CPU threads for PyTorch (default: %(default)s)")
    add_augment(parser)


def add_training(parser) -> None:
    """:func:`add_training_run`, plus what to train (``train``, ``crossval``): the time
    steps (encoder stride and kernel), the firing-rate penalty, per-head leak shifts and
    distillation."""
    from qkspike.pymodel.frontend import FrontendConfig
    from qkspike.pymodel.model_config import ModelConfig, TrainConfig

    add_training_run(parser)
    parser.add_argument("--hop", type=int, default=FrontendConfig.hop, metavar="H",
                        help=f"samples between feature frames at "
                             f"{FrontendConfig.sample_rate} Hz: {FrontendConfig.hop} gives "
                             f"{FrontendConfig().frames} frames a second, 160 gives 50 (half "
                             f"the input, and at one stride half the time steps); it must "
                             f"tile the second (default: %(default)s)")
    parser.add_argument("--stride", type=int, default=ModelConfig.stride, metavar="S",
                        help=f"frames per time step (the encoder's stride): "
                             f"{ModelConfig.frames} frames (at the default hop) make "
                             f"{ModelConfig.frames} / S time steps; fewer steps, fewer cycles "
                             f"(default: %(default)s)")
    parser.add_argument("--kernel", type=int, default=None, metavar="K",
                        help="frames the encoder sees per step, at least S (default: S, "
                             "frame stacking, as the shipped model; the earlier 50-step "
                             "model: --stride 2 --kernel 3 --rate-penalty 0)")
    parser.add_argument("--blocks", type=int, default=ModelConfig.blocks, metavar="N",
                        help="transformer blocks: each costs four layer passes a time step "
                             "(Q/K, output projection, two MLP layers), about 10 fixed cycles "
                             "each besides its spikes (default: %(default)s)")
    parser.add_argument("--rate-penalty", type=float, default=TrainConfig.rate_penalty,
                        metavar="W",
                        help="weight of the firing-rate penalty (spike traffic as a fraction "
                             "of dense) in the loss; fewer spikes, fewer cycles "
                             "(default: %(default)s)")
    parser.add_argument("--head-leaks", default=None, metavar="K,K,...",
                        help=f"one leak shift per attention head ({ModelConfig.heads}) for "
                             f"the Q/K neurons: head h's membranes lose v >> K_h per step, "
                             f"so each head gets its own time constant (default: every "
                             f"head {ModelConfig().neurons['qk'].leak_shift})")
    add_distillation(parser)


def head_leak_shifts(text: str | None, heads: int) -> tuple[int, ...]:
    """``--head-leaks``' shifts (``()`` when not given); ``UsageError`` for a bad list."""
    from qkspike.pymodel.golden.contract import MAX_LEAK_SHIFT

    if text is None:
        return ()
    try:
        shifts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--head-leaks must be {heads} integers separated by commas, "
                         f"not {text!r}") from None
    if len(shifts) != heads or not all(0 <= k <= MAX_LEAK_SHIFT for k in shifts):
        raise UsageError(f"--head-leaks must be {heads} shifts in 0..{MAX_LEAK_SHIFT} (one "
                         f"per attention head), not {text!r}")
    return shifts


def add_distillation(parser) -> None:
    """``--teacher`` and the distillation loss's weight and temperature."""
    from qkspike.pymodel.model_config import TrainConfig

    parser.add_argument("--teacher", type=Path, default=None, metavar="PATH",
                        help="distil from a trained model: its model file (train), or the "
                             "teacher recipe's crossval folder, whose fold-<speaker>.npz "
                             "teaches each fold (crossval)")
    parser.add_argument("--distill-weight", type=float, default=None, metavar="W",
                        help="weight of the teacher's soft targets in the loss, the labels' "
                             "keeping 1 - W; in (0, 1] (default: 0.5 with --teacher)")
    parser.add_argument("--distill-temperature", type=float,
                        default=TrainConfig.distill_temperature, metavar="T",
                        help="temperature of the soft targets (default: %(default)s)")


def distillation_settings(args) -> dict:
    """The ``TrainConfig`` fields of :func:`add_distillation`'s options (none without a
    teacher); ``UsageError`` for a bad one. The teacher's hash is set where it is read."""
    if args.teacher is None:
        if args.distill_weight is not None:
            raise UsageError("--distill-weight needs --teacher")
        return {}
    weight = 0.5 if args.distill_weight is None else args.distill_weight
    if not 0 < weight <= 1:
        raise UsageError(f"--distill-weight must be above 0 and at most 1, not {weight}")
    if not args.distill_temperature > 0:
        raise UsageError(f"--distill-temperature must be above 0, not "
                         f"{args.distill_temperature}")
    return {"distill_weight": weight, "distill_temperature": args.distill_temperature}


def check_training_run(args) -> None:
    """``UsageError`` for the first bad option of :func:`add_training_run`."""
    check_at_least_one(("--threads", args.threads))
    if args.float_epochs < 0 or args.qat_epochs < 0 or args.float_epochs + args.qat_epochs < 1:
        raise UsageError("train for at least one epoch")


def training_frontend(hop: int):
    """The front end of a model trained with ``--hop``: the shipped one's, frames ``hop``
    samples apart; ``UsageError`` unless the frames tile the window evenly."""
    from qkspike.pymodel.frontend import FrontendConfig

    base = FrontendConfig()
    check_at_least_one(("--hop", hop))
    if hop > base.n_fft or (base.n_fft - hop) % 2 or (base.window_samples - hop) % hop:
        raise UsageError(f"--hop must be an even divisor of the {base.window_samples}-sample "
                         f"window, at most the {base.n_fft}-sample FFT, not {hop}")
    return FrontendConfig(hop=hop)


def check_shape(stride: int, kernel: int | None, rate_penalty: float, frames: int) -> int:
    """``UsageError`` unless the stride divides an utterance's ``frames``, the kernel
    (default ``stride``) covers the stride and the penalty is not negative; return the
    kernel."""
    check_at_least_one(("--stride", stride), ("--kernel", kernel))
    if frames % stride:
        raise UsageError(f"--stride {stride} does not divide the {frames} frames of an "
                         f"utterance")
    kernel = stride if kernel is None else kernel
    if kernel < stride:
        raise UsageError(f"--kernel {kernel} is below --stride {stride}: the encoder would "
                         f"skip {stride - kernel} of every {stride} frames")
    if kernel > 64:
        raise UsageError(f"--kernel must be at most 64, not {kernel}")
    if not rate_penalty >= 0:
        raise UsageError(f"--rate-penalty must be 0 or more, not {rate_penalty}")
    return kernel


def check_blocks(blocks: int) -> None:
    """``UsageError`` unless ``blocks`` is in the model file schema's range."""
    from qkspike.pymodel.modelfile import CONFIG_RANGES

    lowest, highest = CONFIG_RANGES["blocks"]
    if not lowest <= blocks <= highest:
        raise UsageError(f"--blocks must be {lowest} to {highest}, not {blocks}")


def check_training(args) -> int:
    """Check :func:`add_training`'s options before any long work (``UsageError`` names the
    first bad one); return the encoder kernel they ask for."""
    check_training_run(args)
    distillation_settings(args)
    from qkspike.pymodel.model_config import ModelConfig
    head_leak_shifts(args.head_leaks, ModelConfig.heads)
    check_blocks(args.blocks)
    frames = training_frontend(args.hop).frames
    return check_shape(args.stride, args.kernel, args.rate_penalty, frames)


def train_config(args, rate_penalty: float = 0.0):
    """The ``TrainConfig`` of :func:`add_training_run`'s options."""
    from dataclasses import replace

    from qkspike.pymodel.model_config import TrainConfig

    return replace(TrainConfig(), seed=args.seed, float_epochs=args.float_epochs,
                   qat_epochs=args.qat_epochs, threads=args.threads, augment=args.augment,
                   rate_penalty=rate_penalty)


def training_configs(args, classes) -> tuple:
    """``(TrainConfig, ModelConfig, FrontendConfig)`` from :func:`add_training`'s options,
    checked."""
    from dataclasses import replace

    from qkspike.pymodel.model_config import ModelConfig

    kernel = check_training(args)
    frontend = training_frontend(args.hop)
    shape = ModelConfig(classes=tuple(classes), stride=args.stride, kernel=kernel,
                        frames=frontend.frames, n_mels=frontend.n_mels, blocks=args.blocks)
    head_leaks = head_leak_shifts(args.head_leaks, shape.heads)
    if head_leaks:
        qk = replace(shape.neurons["qk"], head_leak_shifts=head_leaks)
        shape = replace(shape, neurons={**shape.neurons, "qk": qk})
    return (replace(train_config(args, args.rate_penalty), **distillation_settings(args)),
            shape, frontend)


def add_parallel(parser, what: str, default: str = "every core") -> None:
    """``--jobs`` and ``--scheduler``: where ``what`` runs (:mod:`sim.parallel`)."""
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"{what}: local worker processes at a time (default: {default})")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help=f"{what}: on this Dask distributed scheduler instead (e.g. "
                             f"tcp://host:8786; needs qkspike[distributed])")


def add_progress(parser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def check_at_least_one(*options: tuple[str, int | None]) -> None:
    """``UsageError`` for the first ``(name, value)`` whose value is given and below 1."""
    for name, value in options:
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, not {value}")


def make_out_folder(path: Path) -> Path:
    """Create the output folder ``path`` before any long work, so a bad one fails fast."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_json_path(path: Path | None) -> None:
    """Refuse a ``--json`` that names a folder before any long work starts."""
    if path is not None and path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name for --json")


def write_json(path: Path, data: dict) -> None:
    check_json_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def require_torch(what: str) -> None:
    """``UsageError`` naming the install command when PyTorch is missing."""
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        raise UsageError(f"{what} needs PyTorch, which is not installed: pip install torch "
                         f"--index-url https://download.pytorch.org/whl/cpu, then pip "
                         f"install -e '.[train]'")
