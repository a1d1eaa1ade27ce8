"""RTL simulation of whole data splits: Verilator against the golden model, with cycle figures.

Used by ``qkspike simulate`` and ``qkspike demo``. Every clip runs through the Verilog core
(the free-running Verilator harness of :mod:`sim.harness`) and the golden model; a clip is
*bit-exact* when its logits, its per-layer trace and its event counters all equal the golden
model's. Batches of clips run in parallel on local cores (``jobs``) or on a Dask cluster
(``scheduler``), each batch simulated and checked where it runs.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from qkspike.hw.core import Core
from qkspike.hw.program import Program
from qkspike.pymodel.golden import network
from qkspike.pymodel.modelfile import IntegerModel
from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES, lanes_text

from . import core_job
from .harness import CoreImage, build_harness, core_image, run_clips
from .parallel import dask_client, default_jobs, run_tasks

__all__ = ["simulate_clips", "simulate_batch", "CLOCK_MHZ", "SHIPPED_CLOCK", "clock_note"]

#: The clock of the latency figures: the boards' 100 MHz oscillators. Open place-and-route
#: of the shipped core (P = 16, E = 64) on the ECP5 (LFE5UM5G-85F, speed 8) reached
#: 100.5 MHz (docs/DESIGN.md, section 7); on the Artix-7 it is an estimate until Vivado's
#: report confirms it, and every latency printed says so.
CLOCK_MHZ = 100.0
#: Where the shipped core's clock was last shown (docs/timing/), as every latency quotes it.
SHIPPED_CLOCK = "100.5 MHz post-route on the ECP5-85F speed 8"


def clock_note(cycles: float) -> str:
    """``cycles`` as time at :data:`CLOCK_MHZ`, saying where that clock is shown."""
    return (f"{cycles / CLOCK_MHZ:.0f} us at {CLOCK_MHZ:.0f} MHz; the shipped core reached "
            f"{SHIPPED_CLOCK}; an estimate on the Artix-7 until Vivado confirms it")


def simulate_batch(model: IntegerModel, image: CoreImage, program: Program,
                   task: tuple[list[int], np.ndarray]) -> tuple[list[dict], float]:
    """One batch: simulate its clips in the harness, run the golden model, compare.

    ``task`` is ``(clip indices, features)``. Returns one record per clip and the seconds the
    simulation took. Runs anywhere the package is installed: it builds the harness if this
    machine has no cached build of the design.
    """
    indices, features = task
    outcomes, seconds = run_clips(image, features, decision=True)
    records = []
    for index, x, outcome in zip(indices, features, outcomes):
        golden = network.run(model, x)
        problem = core_job.compare(program, golden, outcome, model.config.stride)
        events = {name: int(v.sum()) for name, v in golden.events.items()}
        records.append({
            "index": int(index), "predicted": int(outcome.predicted),
            "golden_predicted": int(golden.predicted), "problem": problem,
            "cycles": outcome.stats["cycles"], "compute_cycles": outcome.stats["compute_cycles"],
            "decision_cycles": outcome.decision_cycles,
            "simulated_cycles": outcome.stats["cycles"] + outcome.decision_run_cycles,
            "bound": sum(program.bound(events).values()),
            "layer_cycles": {d.name: outcome.stats[f"{d.name}.cycles"]
                             for d in program.descriptors},
            "layer_bound": program.bound(events),
        })
    return records, seconds


def simulate_clips(model: IntegerModel, features: np.ndarray, labels: Sequence[int],
                   paths: Sequence[str], *, lanes: int, batch: int = 25,
                   jobs: Optional[int] = None, scheduler: Optional[str] = None,
                   progress: bool = True, engine_lanes: Optional[int] = None,
                   feature_port_bytes: int = DEFAULT_FEATURE_PORT_BYTES) -> dict:
    """Run every clip through the RTL and the golden model; return the figures as a dict.

    ``lanes``: the core's neuron lanes ``P``; ``engine_lanes``: its sparse engine's (a
    multiple of ``P``; default ``P``); ``feature_port_bytes``: feature bytes per input beat.

    ``jobs``: local worker processes (default: every core); ``scheduler``: the address of a
    Dask distributed scheduler to run the batches on instead.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    started = time.monotonic()
    with dask_client(scheduler) as client:
        core = Core(model, lanes=lanes, engine_lanes=engine_lanes,
                    feature_port_bytes=feature_port_bytes)
        image = core_image(core)
        build = build_harness(image)      # here, once, before the workers look for it
        program = core.program
        tasks = [(list(range(start, min(start + batch, len(features)))),
                  np.asarray(features[start:start + batch]))
                 for start in range(0, len(features), batch)]
        records, sim_seconds = [None] * len(features), 0.0
        bar = tqdm(total=len(features), desc=f"RTL simulation ({lanes_text(lanes, core.engine_lanes)}, "
                                             f"{'Dask' if scheduler else f'{jobs} jobs'})",
                   unit="clip", disable=not progress)
        sim_started = time.monotonic()
        for _, (batch_records, seconds) in run_tasks(simulate_batch, (model, image, program),
                                                     tasks, jobs=jobs, client=client):
            sim_seconds += seconds
            for record in batch_records:
                index = record.pop("index")
                problem = record.pop("problem")
                records[index] = {"path": paths[index], "label": int(labels[index]),
                                  "bit_exact": problem is None, "problem": problem, **record}
            bar.update(len(batch_records))
        regression_seconds = time.monotonic() - sim_started
        bar.close()
    steps = model.config.steps
    mismatches = [{"path": r["path"], "problem": r["problem"]} for r in records
                  if not r["bit_exact"]]

    def mean(key):
        return float(np.mean([r[key] for r in records]))

    dense = program.dense(steps)
    cycles = np.array([r["cycles"] for r in records])
    decision = np.array([r["decision_cycles"] for r in records])
    layers = {}
    for d in program.descriptors:
        layer_cycles = np.array([r["layer_cycles"][d.name] for r in records])
        layer_bound = np.array([r["layer_bound"][d.name] for r in records])
        layers[d.name] = {"cycles_mean": float(layer_cycles.mean()),
                          "bound_mean": float(layer_bound.mean()),
                          "dense": dense[d.name],
                          "overhead_mean": float((layer_cycles - layer_bound).mean())}
    # Both harness runs of every clip: the full-speed one and the decision one.
    total_cycles = sum(r["simulated_cycles"] for r in records)
    return {
        "model": str(model.path) if model.path else None,
        "lanes": lanes,
        "engine_lanes": core.engine_lanes,
        "feature_port_bytes": core.feature_port_bytes,
        "clips": len(records),
        "bit_exact": sum(r["bit_exact"] for r in records),
        "accuracy": float(np.mean([r["predicted"] == r["label"] for r in records])),
        "golden_accuracy": float(np.mean([r["golden_predicted"] == r["label"]
                                          for r in records])),
        "cycles_mean": float(cycles.mean()),
        "cycles_max": int(cycles.max()),
        "compute_cycles_mean": mean("compute_cycles"),
        "bound_mean": mean("bound"),
        "dense_mean": float(sum(dense.values())),
        "cycles_over_bound": float(cycles.mean() / mean("bound")),
        "dense_over_cycles": float(sum(dense.values()) / cycles.mean()),
        "latency_us_at_100mhz": float(cycles.mean() / CLOCK_MHZ),
        # Streaming: from the last frame's arrival to the logits, every earlier frame done.
        "decision_cycles_mean": float(decision.mean()),
        "decision_cycles_max": int(decision.max()),
        "decision_us_at_100mhz": float(decision.mean() / CLOCK_MHZ),
        "layer_overhead_cycles": core.layer_overhead,
        "head_overhead_cycles": core.head_overhead,
        "layers": layers,
        "simulated_cycles": total_cycles,
        "jobs": None if scheduler else jobs,
        "scheduler": scheduler,
        # Summed over the harness processes: the speed of one simulator on one core.
        "simulation_seconds": round(sim_seconds, 2),
        "verilator_cycles_per_second": round(total_cycles / sim_seconds) if sim_seconds else None,
        # Wall time of the regression (simulation, golden model and comparison, all jobs),
        # build and elaboration excluded, and the cycles per second that gives.
        "regression_seconds": round(regression_seconds, 2),
        "regression_cycles_per_second": round(total_cycles / regression_seconds)
        if regression_seconds else None,
        "wall_seconds": round(time.monotonic() - started, 2),
        "verilator_build_seconds": build.build_seconds,
        "verilator_build_cached": not build.built_now,
        "mismatches": mismatches,
        "per_clip": [{k: r[k] for k in ("path", "label", "predicted", "bit_exact", "cycles",
                                        "decision_cycles", "bound")} for r in records],
    }
