"""Design-space sweep: time steps x firing-rate penalty x blocks x lanes, from training to
the RTL.

For every *point* (a model shape and training setting, or a model file given as it is) the
sweep trains a model on the data set's training split (``points/NAME/model.npz``) and,
when asked, one per held-out speaker (``points/NAME/crossval/``, the speaker-held-out
figure of :mod:`pymodel.crossval`). Then for every lane count it runs the RTL under
Verilator on the test split against the golden model (:func:`sim.simulate.simulate_clips`:
bit-exactness, cycles per inference mean/max, decision latency) and, when asked, Yosys
``synth_xilinx`` for the Artix-7 (LUT/FF/BRAM36/DSP) and ECP5 place-and-route (Fmax).

Training and synthesis jobs run on :func:`sim.parallel.run_tasks` (local processes or a
Dask cluster). Every result is a file under the output folder, written as soon as it
exists; a rerun reuses what is there (a model trained with other settings is refused, not
reused), so an interrupted sweep loses at most the jobs that were running.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from qkspike.pymodel.frontend import FrontendConfig
from qkspike.pymodel.model_config import ModelConfig, TrainConfig

from .parallel import run_tasks

__all__ = ["Point", "grid", "train_point", "sweep", "pareto_front", "format_sweep",
           "plot_sweep", "lane_key", "parse_lane_key"]


@dataclass(frozen=True)
class Point:
    """One configuration: trained here (``model`` is None) or a given model file."""

    name: str
    stride: int = ModelConfig.stride
    kernel: int = ModelConfig.kernel
    rate_penalty: float = 0.0
    model: Optional[str] = None
    #: The front end's hop (samples between frames); a frame count follows from it.
    hop: int = FrontendConfig.hop
    #: Transformer blocks: four layer passes a time step each.
    blocks: int = ModelConfig.blocks

    @property
    def steps(self) -> int:
        return FrontendConfig(hop=self.hop).frames // self.stride


def grid(strides: Sequence[int], penalties: Sequence[float], *,
         kernel: Optional[Callable[[int], int]] = None,
         hop: int = FrontendConfig.hop,
         blocks: Sequence[int] = (ModelConfig.blocks,)) -> list[Point]:
    """Every (blocks, stride, penalty) triple as a point named ``s<stride>_k<kernel>_r<penalty>``
    (``h<hop>_`` before it for a front end other than the default's, ``b<blocks>_`` for a
    block count other than :class:`ModelConfig`'s); ``kernel(stride)`` gives the encoder
    kernel (default: ``stride + 1``)."""
    kernel = kernel or (lambda stride: stride + 1)
    prefix = f"h{hop}_" if hop != FrontendConfig.hop else ""

    def name(b, s, p):
        depth = f"b{b}_" if b != ModelConfig.blocks else ""
        return f"{depth}{prefix}s{s}_k{kernel(s)}_r{p:g}"

    return [Point(name(b, s, p), s, kernel(s), float(p), hop=hop, blocks=b)
            for b in blocks for s in strides for p in penalties]


def _model_path(out: Path, point: Point) -> Path:
    return Path(point.model) if point.model else out / "points" / point.name / "model.npz"


def _prefixed(name: str) -> Callable[[str], None]:
    """A log for a training job: every line (one per epoch) printed with its job's name."""
    return lambda line: print(f"{name}: {line}", flush=True)


def train_point(dataset, frontend, config: TrainConfig, out: Path, task: tuple) -> dict:
    """Task: train ``point`` on the training split (``task = (point, None)``) or without one
    held-out speaker (``(point, speaker)``); return its evaluation. Resumes a checkpoint."""
    from qkspike.pymodel import crossval, modelfile
    from qkspike.pymodel.evaluate import evaluate, extract_features
    from qkspike.pymodel.train import train_and_save

    point, speaker = task
    if point.model:     # a given model's held-out folds: trained as the model was
        given = modelfile.load(point.model)
        frontend = given.frontend
        stored = given.metadata.get("train_config")
        if stored is None:
            raise ValueError(f"{point.model}: the model file does not store its training "
                             f"settings, so its speaker-held-out folds cannot be trained")
        config = TrainConfig.from_saved(stored, threads=config.threads)
        model_config = given.config
        if speaker is not None and config.teacher:
            raise ValueError(f"{point.model}: distilled from a teacher, so each held-out "
                             f"fold needs the teacher's fold: run qkspike crossval --teacher")
    else:
        config = replace(config, rate_penalty=point.rate_penalty)
        frontend = replace(frontend, hop=point.hop)
        model_config = ModelConfig(classes=dataset.classes, stride=point.stride,
                                   kernel=point.kernel, frames=frontend.frames,
                                   n_mels=frontend.n_mels, blocks=point.blocks)
    folder = out / "points" / point.name
    if speaker is not None:
        fold = crossval.run_fold(dataset, speaker, model_config, frontend, config,
                                 folder / "crossval", progress=False,
                                 log=_prefixed(f"{point.name} without {speaker}"))
        return {"speaker": speaker, "accuracy": fold["accuracy"],
                "float_accuracy": fold["float_accuracy"], "clips": fold["clips"]}
    path = folder / "model.npz"
    if path.exists():
        crossval.check_saved_settings(path, config, model_config)
        model = modelfile.load(path)
    else:
        model = train_and_save(dataset, model_config, frontend, config, path,
                               metadata={"sweep_point": asdict(point)}, progress=False,
                               log=_prefixed(point.name))
    evaluation = evaluate(model, extract_features(dataset.split("test"), frontend,
                                                  progress=False), progress=False)
    return {"accuracy": evaluation["accuracy"], "float_accuracy": evaluation["float_accuracy"],
            "clips": evaluation["clips"],
            "train_seconds": model.metadata.get("train_seconds")}


def lane_key(lanes: int, engine_lanes: int) -> str:
    """A lane configuration's name in the sweep's records: ``16``, or ``16:64`` for 16
    neuron lanes behind 64 engine lanes."""
    return str(lanes) if engine_lanes == lanes else f"{lanes}:{engine_lanes}"


def parse_lane_key(key: str) -> tuple[int, int]:
    """``(P, E)`` of a :func:`lane_key`."""
    lanes, _, engine = str(key).partition(":")
    return int(lanes), int(engine or lanes)


def _synth_task(out: Path, task: tuple) -> dict:
    """Task: Yosys ``synth_xilinx`` of the core of ``model_path`` at ``lanes`` (and
    ``engine_lanes``) for the xc7a35t: LUT, FF, BRAM36, DSP48E1."""
    from amaranth.back import verilog

    from qkspike.hw.core import Core
    from qkspike.hw.synthesis import synthesize
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.targets import PARTS

    model_path, lanes, engine_lanes, result_path = task
    core = Core(modelfile.load(model_path), lanes=lanes, engine_lanes=engine_lanes)
    report = synthesize(verilog.convert(core, name="qkspike_core"), "qkspike_core",
                        PARTS["xc7a35t"], workdir=Path(result_path).with_suffix(".synth"))
    keep = {key: report[key] for key in RESOURCES}
    _store(Path(result_path), keep, model_path)
    return keep


def _timing(model_path: str, lanes: int, engine_lanes: int, result_path: Path) -> dict:
    """ECP5 place-and-route of the core with its UART link (``qkspike timing``'s flow)."""
    from amaranth.back import rtlil

    from qkspike.hw.board import LinkTop
    from qkspike.hw.timing import place_and_route_ecp5
    from qkspike.hw.uart import divisor_for
    from qkspike.pymodel import modelfile

    top = LinkTop(modelfile.load(model_path), lanes=lanes, divisor=divisor_for(100e6, 115200),
                  engine_lanes=engine_lanes)
    report = place_and_route_ecp5(rtlil.convert(top, name="qkspike_link_top"),
                                  "qkspike_link_top", part="LFE5UM5G-85F", package="CABGA381",
                                  speed=8, target_mhz=100.0,
                                  workdir=result_path.with_suffix(".pnr"))
    keep = {"fmax_mhz": report["fmax_mhz"], "part": "LFE5UM5G-85F-8"}
    _store(result_path, keep, model_path)
    return keep


#: The resources of the Artix-7 report the sweep keeps (``hw.synthesis.parse_cells``).
RESOURCES = ("LUT", "FF", "BRAM36", "DSP")


def _store(path: Path, result: dict, model_path: str) -> None:
    """Write a result beside the model it belongs to, with that model file's hash."""
    from qkspike.fetch import file_sha256
    path.write_text(json.dumps({**result, "model_sha256": file_sha256(model_path)}, indent=2)
                    + "\n")


def _cached(path: Path, model_path: str) -> Optional[dict]:
    """A stored result, if it was made from this very model file (a retrained point's old
    results are not reused)."""
    from qkspike.fetch import file_sha256
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if result.pop("model_sha256", None) != file_sha256(model_path):
        return None
    return result


def sweep(dataset, frontend, config: TrainConfig, points: Sequence[Point],
          lanes: Sequence[int | tuple[int, int]], out: Path, *, holdout: Sequence[str] = (),
          synth: bool = False, timing: bool = False, limit: Optional[int] = None,
          jobs: int = 1, client=None, scheduler: Optional[str] = None,
          log: Callable[[str], None] = print) -> dict:
    """Run the sweep (resuming what ``out`` holds); return every row, also written as
    ``out/sweep.json``. ``lanes``: lane counts ``P`` (engine as wide) or ``(P, E)`` pairs.
    ``limit``: simulate that many test clips, spread over classes and
    speakers (default: all). Training and synthesis run on ``client`` (a Dask client for
    ``scheduler``) or ``jobs`` local processes, RTL batches on ``scheduler`` or locally."""
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.datasets import spread
    from qkspike.pymodel.evaluate import evaluate, extract_features

    from .simulate import simulate_clips

    out.mkdir(parents=True, exist_ok=True)
    lanes = [(entry, entry) if isinstance(entry, int) else tuple(entry) for entry in lanes]
    rows = {point.name: {"point": asdict(point), "lanes": {}} for point in points}

    # 1. Models: train what is not given, evaluate what is.
    trained = [p for p in points if p.model is None]
    tasks = [(p, None) for p in trained] + [(p, s) for p in points for s in holdout]
    test_clips = dataset.split("test")
    for point in points:
        if point.model is not None:
            model = modelfile.load(point.model)
            evaluation = evaluate(model, extract_features(test_clips, model.frontend,
                                                          progress=False), progress=False)
            rows[point.name]["test"] = {key: evaluation[key] for key in
                                        ("accuracy", "float_accuracy", "clips")}
    if tasks:
        log(f"training {len(tasks)} model(s) ({len(trained)} on the training split, "
            f"{len(tasks) - len(trained)} speaker-held-out), {jobs} at a time")
    for index, result in run_tasks(train_point, (dataset, frontend, config, out), tasks,
                                   jobs=jobs, client=client):
        point, speaker = tasks[index]
        if speaker is None:
            rows[point.name]["test"] = result
        else:
            rows[point.name].setdefault("holdout", {})[speaker] = result
        log(f"{point.name}" + (f" without {speaker}" if speaker else "") +
            f": integer {100 * result['accuracy']:.2f} %")
    for row in rows.values():
        folds = row.get("holdout")
        if folds:
            row["holdout_accuracy"] = float(np.mean([f["accuracy"] for f in folds.values()]))

    # 2. Hardware: RTL cycles (always), resources and Fmax (when asked) per lane count.
    clips = spread(test_clips, limit) if limit else test_clips
    synth_tasks = []
    for point in points:
        model_path = str(_model_path(out, point))
        model = modelfile.load(model_path)
        data = extract_features(clips, model.frontend, progress=False)
        for p, e in lanes:
            key = lane_key(p, e)
            name = f"P{p}" if e == p else f"P{p}E{e}"
            stem = out / "points" / point.name / name
            stem.parent.mkdir(parents=True, exist_ok=True)
            rtl = _cached(stem.with_name(f"{name}_rtl.json"), model_path)
            if rtl is None or rtl["clips"] != len(data.labels):
                log(f"{point.name}, P={key}: RTL simulation of {len(data.labels)} clips")
                result = simulate_clips(model, data.features, data.labels, data.paths,
                                        lanes=p, engine_lanes=e, jobs=jobs,
                                        scheduler=scheduler, progress=False)
                rtl = {key: result[key] for key in (
                    "clips", "bit_exact", "accuracy", "cycles_mean", "cycles_max",
                    "decision_cycles_mean", "decision_cycles_max")}
                _store(stem.with_name(f"{name}_rtl.json"), rtl, model_path)
            rows[point.name]["lanes"][key] = {"rtl": rtl}
            if synth:
                cached = _cached(stem.with_name(f"{name}_synth.json"), model_path)
                if cached is None:
                    synth_tasks.append((point.name, key, (
                        model_path, p, e, str(stem.with_name(f"{name}_synth.json")))))
                else:
                    rows[point.name]["lanes"][key]["resources"] = cached
            if timing:
                path = stem.with_name(f"{name}_timing.json")
                cached = _cached(path, model_path)
                if cached is None:
                    log(f"{point.name}, P={key}: ECP5 place-and-route (about 7 minutes)")
                    cached = _timing(model_path, p, e, path)
                rows[point.name]["lanes"][key]["timing"] = cached
    if synth_tasks:
        log(f"synthesising {len(synth_tasks)} core(s) for the xc7a35t, {jobs} at a time")
    for index, report in run_tasks(_synth_task, (out,), [t[2] for t in synth_tasks],
                                   jobs=jobs, client=client):
        name, p, _ = synth_tasks[index]
        rows[name]["lanes"][p]["resources"] = report
    result = {"train_config": asdict(config), "lanes": [lane_key(p, e) for p, e in lanes],
              "holdout": list(holdout),
              "simulated_clips": len(clips), "rows": list(rows.values())}
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def flat_rows(result: dict) -> list[dict]:
    """One row per (point, lanes): the figures the table and the plot show."""
    flat = []
    for row in result["rows"]:
        point = Point(**row["point"])     # a record without blocks: the default, 2
        for key, hw in row["lanes"].items():
            p, e = parse_lane_key(key)
            flat.append({"name": point.name, "lanes": p, "engine_lanes": e,
                         "lane_key": lane_key(p, e),
                         "steps": point.steps, "blocks": point.blocks,
                         "rate_penalty": row["point"]["rate_penalty"],
                         "accuracy": row["test"]["accuracy"],
                         "float_accuracy": row["test"]["float_accuracy"],
                         "holdout_accuracy": row.get("holdout_accuracy"),
                         **{key: hw["rtl"][key] for key in (
                             "bit_exact", "clips", "cycles_mean", "cycles_max",
                             "decision_cycles_mean")},
                         **hw.get("resources", {}), **hw.get("timing", {})})
    return flat


def pareto_front(rows: Sequence[dict], cost: str = "cycles_mean",
                 value: str = "accuracy") -> list[int]:
    """Indices of the rows no other row beats on both ``cost`` (lower) and ``value``
    (higher), cheapest first."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i][cost], -rows[i][value]))
    front, best = [], -np.inf
    for i in order:
        if rows[i][value] > best:
            front.append(i)
            best = rows[i][value]
    return front


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_sweep(result: dict) -> str:
    rows = flat_rows(result)
    front = set(pareto_front(rows))
    held = ", ".join(result["holdout"]) or "none"
    lines = [f"| point | steps | blocks | rate penalty | P[:E] | FSDD test int. % | float % | "
             f"held-out ({held}) int. % | bit-exact | cycles mean / max | decision mean | "
             f"LUT | FF | BRAM36 | DSP | Fmax MHz (ECP5-85F-8) | Pareto |",
             "| --- " * 17 + "|"]
    for i, r in enumerate(rows):
        resources = " | ".join(str(r.get(key, "-")) for key in RESOURCES)
        fmax = f"{r['fmax_mhz']:.1f}" if "fmax_mhz" in r else "-"
        lines.append(
            f"| {r['name']} | {r['steps']} | {r['blocks']} | {r['rate_penalty']:g} | "
            f"{r['lane_key']} | "
            f"{_percent(r['accuracy'])} | {_percent(r['float_accuracy'])} | "
            f"{_percent(r['holdout_accuracy'])} | {r['bit_exact']} / {r['clips']} | "
            f"{r['cycles_mean']:,.0f} / {r['cycles_max']:,} | {r['decision_cycles_mean']:.0f} | "
            f"{resources} | {fmax} | {'yes' if i in front else ''} |")
    return "\n".join(lines)


def plot_sweep(result: dict, path: Path) -> None:
    """Accuracy against cycles per inference, one marker per (point, lanes), the Pareto
    front joined."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = flat_rows(result)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key in sorted({r["lane_key"] for r in rows}, key=parse_lane_key):
        mine = [r for r in rows if r["lane_key"] == key]
        ax.scatter([r["cycles_mean"] for r in mine], [100 * r["accuracy"] for r in mine],
                   label=f"P = {key}", zorder=3)
        for r in mine:
            ax.annotate(r["name"], (r["cycles_mean"], 100 * r["accuracy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    front = [rows[i] for i in pareto_front(rows)]
    ax.plot([r["cycles_mean"] for r in front], [100 * r["accuracy"] for r in front],
            color="grey", linestyle="--", drawstyle="steps-post", label="Pareto front",
            zorder=2)
    ax.set_xscale("log")
    ax.set_xlabel("cycles per inference (mean, RTL, FSDD test split)")
    ax.set_ylabel("integer accuracy, FSDD test split (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def point_name_ok(name: str) -> bool:
    """Point names become folder names: letters, digits, ``._-`` only."""
    return bool(re.fullmatch(r"[A-Za-z0-9._-]+", name))
