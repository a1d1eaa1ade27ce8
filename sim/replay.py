"""Replay a saved verification failure: ``python -m qkspike.sim.replay FOLDER [--verilator]``.

The property-based tests (``tests/test_random_models.py``) save every failing case as a
folder holding ``model.npz`` (a model file), ``features.npy`` (the utterance),
``lanes.txt``, ``engine_lanes.txt`` and ``feature_port_bytes.txt``; this runs that case again through the golden model
and the Amaranth simulator (and, with ``--verilator``, the Verilator harness) and prints the first divergence.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Optional

import numpy as np

from qkspike.hw.core import Core
from qkspike.pymodel import modelfile
from qkspike.pymodel.golden import network
from qkspike.pymodel.modelfile import IntegerModel
from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES

from . import core_job

__all__ = ["save_case", "replay", "main"]


def save_case(model: IntegerModel, features: np.ndarray, lanes: int,
              folder: Optional[Path] = None, *, engine_lanes: Optional[int] = None,
              feature_port_bytes: int = DEFAULT_FEATURE_PORT_BYTES) -> Path:
    """Write a case where :func:`replay` finds it; returns the folder."""
    folder = folder or Path(tempfile.gettempdir()) / "qkspike-failures" / uuid.uuid4().hex[:10]
    folder.mkdir(parents=True, exist_ok=True)
    modelfile.save(model, folder / "model.npz")
    np.save(folder / "features.npy", np.asarray(features, dtype=np.uint8))
    (folder / "lanes.txt").write_text(f"{lanes}\n")
    (folder / "engine_lanes.txt").write_text(f"{engine_lanes or lanes}\n")
    (folder / "feature_port_bytes.txt").write_text(f"{feature_port_bytes}\n")
    (folder / "config.json").write_text(json.dumps(model.config.to_dict(), indent=1) + "\n")
    return folder


def replay(folder: Path, *, verilator: bool = False) -> dict[str, Optional[str]]:
    """First divergence per simulator (``None``: bit-exact)."""
    model = modelfile.load(folder / "model.npz")
    features = np.load(folder / "features.npy")
    lanes = int((folder / "lanes.txt").read_text())
    # Cases saved before engines could be wider than the lanes have no engine_lanes.txt.
    engine_file = folder / "engine_lanes.txt"
    engine_lanes = int(engine_file.read_text()) if engine_file.exists() else lanes
    # Cases saved before the feature port was wider than a byte have no port file.
    port_file = folder / "feature_port_bytes.txt"
    port_bytes = int(port_file.read_text()) if port_file.exists() else 1
    core = Core(model, lanes=lanes, engine_lanes=engine_lanes, feature_port_bytes=port_bytes)
    golden = network.run(model, features)
    problems = {"amaranth": core_job.compare(core.program, golden,
                                             core_job.run_pysim(core, [features])[0],
                                             model.config.stride)}
    if verilator:
        from .harness import core_image, run_clips
        outcome = run_clips(core_image(core), features[None])[0][0]
        problems["verilator"] = core_job.compare(core.program, golden, outcome,
                                                 model.config.stride)
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qkspike.sim.replay", description=__doc__.split(
        "\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--verilator", action="store_true")
    args = parser.parse_args(argv)
    problems = replay(args.folder, verilator=args.verilator)
    for simulator, problem in problems.items():
        print(f"{simulator}: {problem or 'bit-exact with the golden model'}")
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
