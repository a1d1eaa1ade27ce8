"""Whole-utterance RTL regressions at full speed: the core in a free-running C++ harness.

cocotb stays for the block and protocol tests, where a Python testbench is the point. For
whole utterances its Python clock (two wake-ups per cycle) and one ``await`` per feature
byte cost ten times the simulation itself, so whole-split regressions run the same Verilog
in :file:`core_harness.cpp`: the utterances go in as one file of input beats, the design
runs with its clock in C++, and everything it produced comes back as one file: logits,
predicted class, every counter, and every trace chunk. The golden model and the bit-for-bit
comparison (:func:`sim.core_job.compare`) stay on the host, exactly as for cocotb.

Builds are cached like the cocotb ones (:func:`sim.runner.cached_build`), keyed by the
Verilog and the harness source; :func:`run_clips` builds on first use, so a worker process
or a Dask worker on another machine needs nothing but the task.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from amaranth.back import verilog as amaranth_verilog

from qkspike.hw.core import Core, frame_beats

from .core_job import ClipOutcome, Trace, feature_words
from .packing import struct_field
from .runner import VerilatorBuild, cached_build

__all__ = ["HARNESS_SOURCE", "CoreImage", "core_image", "build_harness", "run_clips",
           "HarnessError"]

#: The C++ side.
HARNESS_SOURCE = Path(__file__).with_name("core_harness.cpp")
TOPLEVEL = "qkspike_core"
_RECIPE = "verilator-harness-v1"
_PROGRAM = "qkspike_core_harness"
#: A clip that has not finished after this many cycles is a hung design, not a slow one:
#: the longest utterance of any model is far below it (every layer dense, every step).
_CYCLES_PER_DENSE_BOUND = 4


class HarnessError(RuntimeError):
    """The harness could not run (or the design hung); the message says why."""


@dataclass(frozen=True)
class CoreImage:
    """Everything a worker needs to build and run one core, without elaborating it again.

    Picklable and small enough to ship to a process pool or a Dask worker: the Verilog text
    (weights included) plus the port widths the results are unpacked with.
    """

    verilog: str
    label: str
    lanes: int
    stats: tuple[str, ...]
    #: An utterance's shape, and the feature bytes per input beat.
    frames: int
    n_mels: int
    port_bytes: int
    spike_bits: int
    residual_bits: int
    logit_bits: int
    logit_fields: dict
    max_cycles: int

    @property
    def frame_beats(self) -> int:
        return frame_beats(self.n_mels, self.port_bytes)

    @property
    def beat_bits(self) -> int:
        """The input payload's bits: the feature bytes and ``last``."""
        return 8 * self.port_bytes + 1


def core_image(core: Core) -> CoreImage:
    """The core's Verilog and the facts the results are read with."""
    program, layout = core.program, core.logit_shape
    s = program.sizes
    dense = sum(program.dense(core.model.config.steps).values())
    overhead = (core.layer_overhead + 2) * len(program.descriptors) * core.model.config.steps
    return CoreImage(
        verilog=amaranth_verilog.convert(core, name=TOPLEVEL), label=f"P{core.lanes}" + (f"E{core.engine_lanes}" if core.engine_lanes != core.lanes else ""),
        lanes=core.lanes, stats=tuple(core.stats), frames=s["frames"], n_mels=s["n_mels"],
        port_bytes=core.feature_port_bytes, spike_bits=program.widths["spike"],
        residual_bits=program.widths["residual"], logit_bits=layout.size,
        logit_fields={name: (field.offset, field.width) for name, field in layout},
        max_cycles=_CYCLES_PER_DENSE_BOUND * (dense + overhead + s["frames"] * s["n_mels"])
        + 10_000)


def build_harness(image: CoreImage) -> VerilatorBuild:
    """The harness program for ``image`` (built once per design, then cached)."""

    def build(staging: Path, source: Path) -> None:
        harness = staging / HARNESS_SOURCE.name
        harness.write_text(HARNESS_SOURCE.read_text())
        command = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-O3",
                   "--x-assign", "fast", "--x-initial", "fast", "--top-module", TOPLEVEL,
                   "-Mdir", str(staging / "obj"), "-o", str(staging / _PROGRAM),
                   "-CFLAGS", "-O2", str(source), str(harness)]
        with open(staging / "build.log", "w") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT,
                           cwd=staging)

    return cached_build(image.verilog, TOPLEVEL, label=image.label,
                        recipe=[_RECIPE, HARNESS_SOURCE.read_text()], prefix="harness-",
                        build=build)


def _port_bytes(bits: int) -> int:
    """Bytes the harness writes for a port: a u64 up to 64 bits, else its 32-bit words."""
    return 8 if bits <= 64 else 4 * math.ceil(bits / 32)


def _unpack(raw: np.ndarray, width: int, lanes: int, signed: bool) -> np.ndarray:
    """(n, bytes) little-endian words -> (n, lanes) fields of ``width`` bits."""
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, :width * lanes]
    values = (bits.reshape(len(raw), lanes, width).astype(np.int64)
              << np.arange(width, dtype=np.int64)).sum(axis=-1)
    if signed:
        values -= (values >> (width - 1)) << width
    return values


def _parse(image: CoreImage, blob: bytes, clips: int) -> list[ClipOutcome]:
    spike_bytes = _port_bytes(image.spike_bits * image.lanes)
    residual_bytes = _port_bytes(image.residual_bits * image.lanes)
    logit_bytes = _port_bytes(image.logit_bits)
    record = np.dtype([("keys", "<u4", 4), ("spikes", "u1", spike_bytes),
                       ("residual", "u1", residual_bytes)])
    outcomes, at = [], 0
    data = memoryview(blob)
    for _ in range(clips):
        events, words = np.frombuffer(data, "<u4", 2, at)
        at += 8
        trace = np.frombuffer(data, record, int(events), at)
        at += record.itemsize * int(events)
        logits = [struct_field(int.from_bytes(
                      data[at + i * logit_bytes:at + (i + 1) * logit_bytes], "little"),
                      image.logit_fields, "logit", signed=True)
                  for i in range(int(words))]
        at += logit_bytes * int(words)
        predicted = int(np.frombuffer(data, "<u4", 1, at)[0])
        at += 4
        stats = np.frombuffer(data, "<u4", len(image.stats), at).astype(np.int64)
        at += 4 * len(image.stats) + 8     # the counters, then the harness's own cycle count
        decision, decision_run = (int(v) for v in np.frombuffer(data, "<u8", 2, at))
        at += 16
        keys = trace["keys"].astype(np.int64)
        outcomes.append(ClipOutcome(
            logits, predicted, dict(zip(image.stats, (int(v) for v in stats))),
            Trace(keys[:, 0], keys[:, 1], keys[:, 2],
                  _unpack(trace["spikes"], image.spike_bits, image.lanes, signed=False),
                  _unpack(trace["residual"], image.residual_bits, image.lanes, signed=True)),
            decision_cycles=decision or None, decision_run_cycles=decision_run))
    if at != len(blob):
        raise HarnessError(f"the harness wrote {len(blob)} bytes of results, expected {at}")
    return outcomes


def run_clips(image: CoreImage, features: np.ndarray, *, build: Optional[VerilatorBuild] = None,
              decision: bool = False) -> tuple[list[ClipOutcome], float]:
    """Run utterances back to back in the harness (building it on first use).

    Returns each clip's :class:`~sim.core_job.ClipOutcome` and the wall seconds the
    simulation itself took (the harness process, reading and writing included).
    ``decision``: also measure each clip's decision latency (``decision_cycles``): the
    harness runs the clip again, holding its last frame until the core is ``waiting`` (as
    with frames arriving in real time), and checks that run's logits against the first.
    That doubles the simulated cycles.
    """
    build = build or build_harness(image)
    frames = image.frames
    flat = np.asarray(features, dtype=np.uint8).reshape(len(features), -1)
    if flat.shape[1] != frames * image.n_mels:
        raise HarnessError(f"clips have {flat.shape[1]} feature bytes, the core takes "
                           f"{frames * image.n_mels}")
    # Each beat as the harness sets the payload port: a u64, or 32-bit words past 64 bits.
    beat_size = _port_bytes(image.beat_bits)
    stimulus = b"".join(word.to_bytes(beat_size, "little")
                        for clip in flat
                        for word in feature_words(clip.reshape(frames, image.n_mels),
                                                  image.port_bytes))
    with tempfile.TemporaryDirectory(prefix="qkspike-harness-") as folder:
        inputs, results = Path(folder) / "features.bin", Path(folder) / "results.bin"
        inputs.write_bytes(stimulus)
        started = time.monotonic()
        done = subprocess.run(
            [str(build.directory / _PROGRAM), str(inputs), str(results), str(len(flat)),
             str(frames * image.frame_beats), str(beat_size), str(len(image.stats)),
             str(image.max_cycles), str(image.frame_beats), str(int(decision))],
            capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise HarnessError(done.stderr.strip() or f"the harness exited {done.returncode}")
        blob = results.read_bytes()
    return _parse(image, blob, len(flat)), seconds
