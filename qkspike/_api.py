"""The functions :mod:`qkspike` exports; each imports its machinery when called."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence


def load_model(path: Optional[str | Path] = None):
    """The integer model in ``path`` (``.npz``), or the shipped FSDD model; validated against
    the schema (:class:`qkspike.pymodel.modelfile.IntegerModel`)."""
    from qkspike.pymodel import modelfile
    return modelfile.load(path)


def read_audio(path: str | Path):
    """A recording as mono float64 samples with its rate and any warnings
    (:class:`qkspike.pymodel.audio.Recording`); raises ``AudioError`` for unusable files."""
    from qkspike.pymodel.audio import read_audio as read
    return read(path)


def features(recording, model=None, *, rate: Optional[int] = None):
    """uint8 features, shape (frames, mels), exactly what the core reads.

    ``recording`` is a file path (the utterance is found by energy, as ``classify`` does) or
    an array of samples with ``rate`` (placed in the window as in training)."""
    model = model or load_model()
    if rate is None:
        from qkspike.pymodel.classify import recording_features
        return recording_features(recording, model.frontend)[0]
    from qkspike.pymodel.frontend import features as frontend_features
    return frontend_features(recording, rate, model.frontend)


def classify(path: str | Path, model=None):
    """The golden model's class for one recording, with margin, logits and warnings
    (:class:`qkspike.pymodel.classify.Classification`)."""
    from qkspike.pymodel.classify import classify_file
    return classify_file(model or load_model(), path)


def run_golden(model, x, *, trace: bool = False):
    """The golden (integer) model on one clip's features: logits, class, and with ``trace``
    every layer's spikes (:class:`qkspike.pymodel.golden.network.GoldenResult`)."""
    from qkspike.pymodel.golden import network
    return network.run(model, x, trace=trace)


def _engine_lanes(lanes: int, engine_lanes: Optional[int]) -> int:
    """The engine lanes asked for, or the shipped configuration's for ``lanes``."""
    from qkspike.pymodel.targets import default_engine_lanes
    return default_engine_lanes(lanes) if engine_lanes is None else engine_lanes


def simulate(model, clips: Sequence, *, lanes: int = 16, labels: Optional[Sequence[int]] = None,
             jobs: Optional[int] = None, progress: bool = False,
             engine_lanes: Optional[int] = None, feature_port_bytes: Optional[int] = None
             ) -> dict:
    """The RTL under Verilator on each clip's features, checked bit for bit against the
    golden model: ``bit_exact``, ``cycles_mean``/``cycles_max``, ``per_clip``, ... (the
    first call builds the Verilator model, about a minute, cached per user).
    ``engine_lanes``: the sparse engine's lanes, a multiple of ``lanes`` (default: the
    shipped configuration's, :func:`qkspike.pymodel.targets.default_engine_lanes`);
    ``feature_port_bytes``: feature bytes the core takes a cycle (default:
    :data:`qkspike.pymodel.targets.DEFAULT_FEATURE_PORT_BYTES`)."""
    import numpy as np

    from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES
    from qkspike.sim.simulate import simulate_clips
    stacked = np.stack([np.asarray(x, dtype=np.uint8) for x in clips])
    if labels is None:
        labels = [run_golden(model, x).predicted for x in stacked]
    return simulate_clips(model, stacked, list(labels), [f"clip {i}" for i in range(len(stacked))],
                          lanes=lanes, jobs=jobs, progress=progress,
                          engine_lanes=_engine_lanes(lanes, engine_lanes),
                          feature_port_bytes=(DEFAULT_FEATURE_PORT_BYTES if feature_port_bytes is None
                                              else feature_port_bytes))


def write_verilog(out: str | Path, model=None, *, lanes: int = 16,
                  engine_lanes: Optional[int] = None) -> dict:
    """Write ``qkspike_core.v`` and ``qkspike_core.json`` (widths, memories, program) into the
    folder ``out``; returns the JSON's content."""
    from qkspike.scripts.verilog import write_core
    model_path = None if model is None else model.path
    return write_core(model_path, lanes, Path(out),
                      engine_lanes=_engine_lanes(lanes, engine_lanes))


def synthesize(model=None, *, part: str = "xc7a35t", lanes: int = 16,
               workdir: Optional[str | Path] = None, engine_lanes: Optional[int] = None) -> dict:
    """Yosys ``synth_xilinx`` of the core for an Artix-7 ``part``: LUT, FF, BRAM36, DSP,
    longest path and percentages (minutes)."""
    from amaranth.back import verilog

    from qkspike.hw.core import Core
    from qkspike.hw.synthesis import synthesize as yosys
    from qkspike.pymodel.targets import PARTS
    core = Core(model or load_model(), lanes=lanes,
                engine_lanes=_engine_lanes(lanes, engine_lanes))
    return yosys(verilog.convert(core, name="qkspike_core"), "qkspike_core", PARTS[part],
                 workdir=None if workdir is None else Path(workdir))


def open_dataset(path: Optional[str | Path] = None):
    """A data folder (FSDD, Speech Commands or ``{label}/`` folders), or the FSDD found by
    the data rule of :mod:`qkspike.locations` when ``path`` is None."""
    from qkspike.locations import fsdd_location
    from qkspike.pymodel.datasets import open_dataset as open_folder
    return open_folder(fsdd_location(path).path)
