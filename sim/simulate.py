"""RTL simulation of whole data splits: Verilator against the golden model, with cycle figures.

Used by ``qkspike simulate`` and ``qkspike demo``. Every clip runs through the Verilog
core (cocotb + Verilator) and the golden model; a clip is *bit-exact* when its logits, its
per-layer trace and its event counters all equal the golden model's.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
from tqdm import tqdm

from hw.core import Core
from pymodel.golden import network
from pymodel.modelfile import IntegerModel

from . import core_job

__all__ = ["simulate_clips", "CLOCK_MHZ", "plot_layer_cycles", "format_simulation"]

#: The clock the latency figures assume.
CLOCK_MHZ = 100.0


def simulate_clips(model: IntegerModel, features: np.ndarray, labels: Sequence[int],
                   paths: Sequence[str], *, lanes: int, batch: int = 25,
                   progress: bool = True) -> dict:
    """Run every clip through the RTL and the golden model; return the figures as a dict."""
    core = Core(model, lanes=lanes)
    build = core_job.build_core(core)
    program = core.program
    steps = model.config.steps
    records, mismatches = [], []
    sim_seconds = 0.0
    started = time.monotonic()
    bar = tqdm(total=len(features), desc=f"RTL simulation (P={lanes})", unit="clip",
               disable=not progress)
    for start in range(0, len(features), batch):
        chunk = features[start:start + batch]
        outcomes, seconds = core_job.run_verilator(core, chunk, build=build)
        sim_seconds += seconds
        for offset, (x, outcome) in enumerate(zip(chunk, outcomes)):
            index = start + offset
            golden = network.run(model, x)
            problem = core_job.compare(program, golden, outcome, model.config.stride)
            if problem:
                mismatches.append({"path": paths[index], "problem": problem})
            events = {name: int(v.sum()) for name, v in golden.events.items()}
            records.append({
                "path": paths[index], "label": int(labels[index]),
                "predicted": int(outcome.predicted), "golden_predicted": int(golden.predicted),
                "bit_exact": problem is None,
                "cycles": outcome.stats["cycles"],
                "compute_cycles": outcome.stats["compute_cycles"],
                "bound": sum(program.bound(events).values()),
                "layer_cycles": {d.name: outcome.stats[f"{d.name}.cycles"]
                                 for d in program.descriptors},
                "layer_bound": program.bound(events),
            })
        bar.update(len(chunk))
    bar.close()

    def mean(key):
        return float(np.mean([r[key] for r in records]))

    dense = program.dense(steps)
    cycles = np.array([r["cycles"] for r in records])
    layers = {}
    for d in program.descriptors:
        layer_cycles = np.array([r["layer_cycles"][d.name] for r in records])
        layer_bound = np.array([r["layer_bound"][d.name] for r in records])
        layers[d.name] = {"cycles_mean": float(layer_cycles.mean()),
                          "bound_mean": float(layer_bound.mean()),
                          "dense": dense[d.name],
                          "overhead_mean": float((layer_cycles - layer_bound).mean())}
    total_cycles = int(cycles.sum())
    return {
        "model": str(model.path) if model.path else None,
        "lanes": lanes,
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
        "layer_overhead_cycles": core.layer_overhead,
        "head_overhead_cycles": core.head_overhead,
        "layers": layers,
        "simulated_cycles": total_cycles,
        "simulation_seconds": round(sim_seconds, 2),
        "verilator_cycles_per_second": round(total_cycles / sim_seconds) if sim_seconds else None,
        "wall_seconds": round(time.monotonic() - started, 2),
        "verilator_build_seconds": build.build_seconds,
        "verilator_build_cached": not build.built_now,
        "mismatches": mismatches,
        "per_clip": [{k: r[k] for k in ("path", "label", "predicted", "bit_exact", "cycles",
                                        "bound")} for r in records],
    }


def format_simulation(result: dict) -> str:
    lines = [
        "| metric | value |", "| --- | --- |",
        f"| clips | {result['clips']} |",
        f"| bit-exact (RTL == golden: logits, trace, counters) | {result['bit_exact']} / "
        f"{result['clips']} |",
        f"| RTL accuracy | {100 * result['accuracy']:.2f} % |",
        f"| cycles per inference (mean / max) | {result['cycles_mean']:.0f} / "
        f"{result['cycles_max']} |",
        f"| latency at {CLOCK_MHZ:.0f} MHz | {result['latency_us_at_100mhz']:.1f} us |",
        f"| sparse bound (mean) | {result['bound_mean']:.0f} "
        f"(cycles / bound = {result['cycles_over_bound']:.3f}) |",
        f"| dense walk (no zero-skipping) | {result['dense_mean']:.0f} "
        f"({result['dense_over_cycles']:.1f} x the measured cycles) |",
        f"| Verilator speed | {result['verilator_cycles_per_second']} cycles/s |",
        "", "| layer | cycles (mean) | sparse bound (mean) | overhead | dense |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, layer in result["layers"].items():
        lines.append(f"| {name} | {layer['cycles_mean']:.0f} | {layer['bound_mean']:.0f} | "
                     f"{layer['overhead_mean']:.0f} | {layer['dense']} |")
    for mismatch in result["mismatches"][:10]:
        lines.append(f"\nMISMATCH {mismatch['path']}: {mismatch['problem']}")
    return "\n".join(lines)


def plot_layer_cycles(result: dict, path) -> None:
    """Per-layer measured cycles against the sparse bound (and the dense walk)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["layers"])
    cycles = [result["layers"][n]["cycles_mean"] for n in names]
    bound = [result["layers"][n]["bound_mean"] for n in names]
    dense = [result["layers"][n]["dense"] for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(x - 0.27, dense, 0.27, label="dense (no zero-skipping)", color="0.8")
    ax.bar(x, cycles, 0.27, label="measured (RTL)", color="tab:blue")
    ax.bar(x + 0.27, bound, 0.27, label="sparse bound nnz*ceil(C_out/P)", color="tab:orange")
    ax.set_xticks(x, names, rotation=45, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("cycles per inference")
    ax.set_title(f"P = {result['lanes']}: {result['cycles_mean']:.0f} cycles per inference "
                 f"({result['latency_us_at_100mhz']:.0f} us at 100 MHz)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
