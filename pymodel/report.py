"""Reports: accuracy, confusion matrix, spike raster, per-layer spike density, synaptic
operations and theoretical energy, as JSON, a readable table and PNG plots.

Energy follows the spiking-transformer papers (45 nm figures, Horowitz 2014): an
accumulate costs 0.9 pJ, a multiply-accumulate 4.6 pJ. The ANN of the same shape does a
MAC for every weight of every layer at every time step. The spiking network does:

* encoder: a MAC per non-zero feature per output (its inputs are 8-bit, not spikes);
* spike layers: an accumulate per *binary-equivalent* spike per output, so a level-3
  spike counts as 3 accumulates (the D time steps it stands for), although the hardware
  spends one shift-and-add on it;
* head: a MAC per non-zero spike count per class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .golden.network import GoldenResult, step_layers
from .modelfile import IntegerModel, layer_shape
from . import targets

__all__ = ["ENERGY_AC_PJ", "ENERGY_MAC_PJ", "layer_statistics", "energy", "memory_bits",
           "build_report",
           "format_table", "plot_confusion", "plot_raster", "plot_density", "check_raster_clip",
           "write_report"]

ENERGY_AC_PJ = 0.9
ENERGY_MAC_PJ = 4.6
#: Printed with every energy figure: these are operation counts priced at 45 nm ASIC
#: energies, not a measurement of the FPGA.
ENERGY_BASIS = "estimate from 45 nm operation energies (Horowitz 2014), not an FPGA measurement"


def layer_statistics(model: IntegerModel, results: Sequence[GoldenResult]) -> dict:
    """Per layer: mean non-zero inputs per step, their density, synaptic operations."""
    cfg = model.config
    stats = {}
    for name in step_layers(cfg) + ["head"]:
        c_in, c_out = layer_shape(cfg, name)
        events = np.array([r.events[name].sum() for r in results], dtype=np.float64)
        factors = np.array([r.factor_sums[name].sum() for r in results], dtype=np.float64)
        steps = 1 if name == "head" else cfg.steps
        stats[name] = {
            "c_in": c_in, "c_out": c_out,
            "events_per_step": float(events.mean() / steps) if len(events) else 0.0,
            "density": float(events.mean() / steps / c_in) if len(events) else 0.0,
            "events_per_inference": float(events.mean()) if len(events) else 0.0,
            # Spike layers: binary-equivalent accumulates. Encoder and head take 8-bit factors:
            # one MAC per non-zero input per output.
            "synaptic_ops_per_inference": float(
                (events if name in ("enc", "head") else factors).mean() * c_out)
            if len(events) else 0.0,
            "dense_macs_per_inference": c_in * c_out * steps,
        }
    return stats


def energy(model: IntegerModel, stats: dict) -> dict:
    """Theoretical energy per inference, spiking network against the same-shape ANN."""
    ann_macs = sum(s["dense_macs_per_inference"] for s in stats.values())
    snn_macs = stats["enc"]["synaptic_ops_per_inference"] + \
        stats["head"]["synaptic_ops_per_inference"]
    snn_acs = sum(s["synaptic_ops_per_inference"] for name, s in stats.items()
                  if name not in ("enc", "head"))
    snn_uj = (snn_macs * ENERGY_MAC_PJ + snn_acs * ENERGY_AC_PJ) * 1e-6
    ann_uj = ann_macs * ENERGY_MAC_PJ * 1e-6
    return {"basis": ENERGY_BASIS, "ac_pj": ENERGY_AC_PJ, "mac_pj": ENERGY_MAC_PJ,
            "snn_macs": snn_macs, "snn_accumulates": snn_acs, "ann_macs": ann_macs,
            "snn_uj": snn_uj, "ann_uj": ann_uj, "ann_over_snn": ann_uj / snn_uj if snn_uj else None}




def memory_bits(model: IntegerModel) -> dict:
    """What the model keeps in memory on the FPGA, in bits, against the default part's block
    RAM, at the widths the model needs and without the lane padding (``qkspike verilog``'s
    JSON gives the padded figures of a core with ``P`` lanes; both are
    :func:`pymodel.targets.memory_bits`)."""
    from .golden import contract

    biases = np.concatenate([layer.bias for layer in model.layers.values()])
    thresholds = np.concatenate(list(model.thresholds.values()))
    return targets.memory_bits(
        weights=int(sum(layer.weight.size for layer in model.layers.values())),
        biases=int(biases.size), bias_bits=contract.signed_bits(biases.min(), biases.max()),
        thresholds=int(thresholds.size),
        threshold_bits=contract.unsigned_bits(thresholds.max()),
        state_bits=model.config.state_bits, residuals=model.config.channels,
        residual_bits=model.config.residual_bits)


def build_report(model: IntegerModel, evaluation: dict) -> dict:
    results = evaluation["_results"]
    stats = layer_statistics(model, results)
    return {
        "model": str(model.path) if model.path else None,
        "clips": evaluation["clips"],
        "accuracy": evaluation["accuracy"],
        "float_accuracy": evaluation["float_accuracy"],
        "fake_quant_accuracy": evaluation["fake_quant_accuracy"],
        "torch_equal_clips": evaluation["torch_equal_clips"],
        "classes": evaluation["classes"],
        "confusion": evaluation["confusion"],
        "layers": stats,
        "energy": energy(model, stats),
        "memory_bits": memory_bits(model),
        "bad_files": evaluation["bad_files"],
        "summary": model.summary(),
    }


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.2f} %"


def format_table(report: dict) -> str:
    """The report as Markdown tables."""
    part = targets.PARTS[targets.DEFAULT_PART]
    lines = ["| metric | value |", "| --- | --- |",
             f"| clips | {report['clips']} |",
             f"| integer (golden) accuracy | {_percent(report['accuracy'])} |",
             f"| fake-quant (PyTorch integer) accuracy | "
             f"{_percent(report['fake_quant_accuracy'])} |",
             f"| float accuracy | {_percent(report['float_accuracy'])} |",
             f"| golden == PyTorch integer logits | {report['torch_equal_clips']} clips |"]
    e = report["energy"]
    lines += [f"| SNN energy / inference ({e['basis']}) | {e['snn_uj']:.3f} uJ "
              f"({e['snn_macs']:.0f} MAC + {e['snn_accumulates']:.0f} AC) |",
              f"| same-shape ANN energy / inference (same estimate) | {e['ann_uj']:.3f} uJ "
              f"({e['ann_macs']:.0f} MAC) |",
              f"| ANN / SNN energy (same estimate) | {e['ann_over_snn']:.2f} x |",
              f"| weights + state in memory | {report['memory_bits']['total']} bits = "
              f"{report['memory_bits']['bram36_equivalent']} BRAM36 "
              f"({100 * report['memory_bits'][f'share_of_{part.name}_bram']:.0f} % of the "
              f"{part.name}'s {part.bram36}) |", "",
              "| layer | C_in -> C_out | non-zero inputs / step | density | "
              "synaptic ops / inference |",
              "| --- | --- | --- | --- | --- |"]
    for name, s in report["layers"].items():
        lines.append(f"| {name} | {s['c_in']} -> {s['c_out']} | {s['events_per_step']:.2f} | "
                     f"{100 * s['density']:.1f} % | {s['synaptic_ops_per_inference']:.0f} |")
    if report["bad_files"]:
        lines += ["", f"{len(report['bad_files'])} clip(s) skipped:"]
        lines += [f"- {bad}" for bad in report["bad_files"]]
    return "\n".join(lines)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_confusion(matrix, classes, path: Path) -> Path:
    plt = _pyplot()
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("spoken")
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7,
                    color="white" if value > matrix.max() / 2 else "black")
    total = matrix.sum()
    ax.set_title(f"integer model: {np.trace(matrix)}/{total} correct")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_raster(model: IntegerModel, result: GoldenResult, features: np.ndarray,
                title: str, path: Path) -> Path:
    """Input features and every layer's output spikes over time for one clip; the grey level
    is the spike level (0..D), with a colour bar for it and one for the feature value."""
    plt = _pyplot()
    names = list(result.spikes)
    fig, axes = plt.subplots(len(names) + 1, 1, figsize=(8, 1.3 * (len(names) + 1) + 0.6),
                             sharex=True)
    steps = model.config.steps
    # Frames drawn on the time-step axis: `stride` frames per step.
    image = axes[0].imshow(features.T, aspect="auto", origin="lower", cmap="magma",
                           extent=(-0.5, steps - 0.5, -0.5, features.shape[1] - 0.5))
    axes[0].set_ylabel("features", fontsize=7)
    fig.colorbar(image, ax=axes[0], pad=0.01).ax.tick_params(labelsize=6)
    for ax, name in zip(axes[1:], names):
        spikes = result.spikes[name]
        top = max(1, int(spikes.max()))
        image = ax.imshow(spikes.T, aspect="auto", origin="lower", cmap="Greys",
                          vmin=0, vmax=top, interpolation="nearest")
        bar = fig.colorbar(image, ax=ax, pad=0.01, ticks=range(top + 1))
        bar.set_label("level", fontsize=6)
        bar.ax.tick_params(labelsize=6)
        ax.set_ylabel(name, fontsize=7)
        ax.tick_params(labelsize=6)
    axes[-1].set_xlabel("time step (stride frames)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_noise(noise: dict) -> str:
    """Accuracy against SNR as a Markdown table (rows: noise; columns: SNR)."""
    heads = ["clean" if s == "clean" else f"{s:g} dB" for s in noise["snr_db"]]
    lines = [f"Integer accuracy against SNR ({noise['clips']} clips, seed {noise['seed']}):", "",
             "| noise | " + " | ".join(heads) + " |", "| --- |" + " --- |" * len(heads)]
    for kind, values in noise["accuracy"].items():
        lines.append(f"| {kind} | " + " | ".join(_percent(v) for v in values) + " |")
    return "\n".join(lines)


def plot_noise(noise: dict, path: Path) -> Path:
    plt = _pyplot()
    labels = ["clean" if s == "clean" else f"{s:g}" for s in noise["snr_db"]]
    fig, ax = plt.subplots(figsize=(5, 3))
    for kind, values in noise["accuracy"].items():
        ax.plot(range(len(labels)), [100 * v for v in values], marker="o", label=kind)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("integer accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="added noise", title_fontsize=8)
    ax.set_title(f"accuracy against noise ({noise['clips']} clips)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_density(report: dict, path: Path) -> Path:
    plt = _pyplot()
    names = list(report["layers"])
    density = [100 * report["layers"][n]["density"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(names, density, color="tab:blue")
    ax.set_ylabel("non-zero inputs (%)")
    ax.set_title("per-layer input density (what the sparse engine walks)")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def check_raster_clip(raster_clip: int, clips: int) -> None:
    """``ValueError`` unless ``raster_clip`` numbers one of the ``clips`` evaluated clips."""
    if not 0 <= raster_clip < clips:
        raise ValueError(f"--raster-clip must be in 0..{clips - 1} (the clips evaluated), "
                         f"not {raster_clip}")


def write_report(model: IntegerModel, evaluation: dict, features: np.ndarray,
                 out_dir: Path, *, raster_clip: int = 0, noise: Optional[dict] = None) -> dict:
    """Write report.json, report.md, confusion.png, raster.png and density.png to ``out_dir``;
    the raster shows clip number ``raster_clip`` of the evaluated ones. With ``noise`` (from
    :func:`qkspike.pymodel.noise.noise_robustness`) also its table and noise.png."""
    from .golden import network

    out_dir.mkdir(parents=True, exist_ok=True)
    report = build_report(model, evaluation)
    markdown = format_table(report)
    if noise is not None:
        report["noise"] = noise
        markdown += "\n\n" + format_noise(noise)
        plot_noise(noise, out_dir / "noise.png")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.md").write_text(markdown + "\n")
    plot_confusion(report["confusion"], report["classes"], out_dir / "confusion.png")
    plot_density(report, out_dir / "density.png")
    if len(features):
        check_raster_clip(raster_clip, len(features))
        first = evaluation["predictions"][raster_clip]
        traced = network.run(model, features[raster_clip], trace=True)
        plot_raster(model, traced, features[raster_clip],
                    f"{Path(first['path']).name}: spoken {report['classes'][first['label']]}, "
                    f"predicted {report['classes'][traced.predicted]}", out_dir / "raster.png")
    return report
