"""An estimate, not the core: cycles per utterance if the one engine could interleave the
layers of several time steps (issue 12 item 2, the "wavefront"), from the golden model's
event counts on the FSDD test split.

    python docs/sweep/interleave_estimate.py [MODEL] [--steps-in-flight 1,2,3]

A layer pass ``(t, l)`` (time step ``t``, layer ``l``) needs the pass before it in its
step, ``(t, l - 1)``, and its own layer's pass a step earlier, ``(t - 1, l)`` (the
membranes); the encoder also needs step ``t``'s frames, in at full speed after
``(t + 1) * stride * ceil(n_mels / 4)`` cycles (the 4-byte port). Nothing else orders them:
the residual stream, the attention and the spikes are per step. Each pass takes the cycles
:func:`pymodel.golden.sparse_engine.layer_timing` gives it alone, and holds the engine's
walk for its start cycle and its issue cycles (``max(1, nnz)`` a chunk). A pass starts as
soon as its inputs are done and the walk is free, with at most ``N`` time steps in flight,
the earliest start first. Two figures each: with the walk the one shared resource, and with
the post-processor shared too, each pass holding it whole from its first slice's transfer
to its last (it takes one slice a cycle; a real design would interleave slices more
finely, so it would land between the two).

Left out, so a built core would need more: stalls, and everything the hardware would need
per step in flight (spike and residual buffers, the attention's inputs, descriptors). With
one step in flight this is about today's order, the next step's encoder starting as the
last layer's walk ends: on the shipped model 4,846 cycles mean (walk shared) here against
the 5,004 the core measures (the head and the last step's drain are left out too).
"""

from __future__ import annotations

import argparse

import numpy as np

from qkspike.pymodel import modelfile, topology
from qkspike.pymodel.datasets import default_fsdd
from qkspike.pymodel.evaluate import extract_features, golden_results
from qkspike.pymodel.golden.sparse_engine import ENGINE_LATENCY, chunk_slices, layer_timing
from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES


def _pass_costs(nnz: int, c_out: int, lanes: int, engine_lanes: int) -> tuple:
    """One pass alone, in cycles from its start: ``(walk, window, cycles)``. ``walk``: how
    long it holds the walk (its start cycle and its issues, ``max(1, nnz)`` a chunk);
    ``window``: from its first slice's transfer to its last, the post-processor's share of
    it, taken whole (a conservative simplification); ``cycles``: until it finishes."""
    timing = layer_timing(nnz, c_out, engine_lanes, lanes)
    chunks = len(chunk_slices(c_out, engine_lanes, lanes))
    walk = 1 + chunks * max(1, nnz)
    return walk, (max(1, nnz) + ENGINE_LATENCY, timing.last_transfer), timing.cycles


def _earliest(start: int, window: tuple[int, int], taken: list[tuple[int, int]]) -> int:
    """The first cycle from ``start`` on at which ``window`` (offsets from the start) does
    not overlap any of the ``taken`` post-processor windows (absolute cycles)."""
    moved = True
    while moved:
        moved = False
        for first, last in taken:
            if start + window[0] <= last and first <= start + window[1]:
                start = last + 1 - window[0]
                moved = True
    return start


def interleaved_cycles(events, c_outs, *, lanes: int, engine_lanes: int, frame_cycles: int,
                       in_flight: int, post_queue: bool = False) -> int:
    """The estimated cycles of one utterance; ``events[l][t]``: pass ``(t, l)``'s inputs.
    With ``post_queue``, a pass also waits until its whole span of slices finds the
    post-processor free of every other pass's span."""
    layers, steps = len(events), len(events[0])
    costs = {(t, l): _pass_costs(int(events[l][t]), c_outs[l], lanes, engine_lanes)
             for t in range(steps) for l in range(layers)}
    finished: dict[tuple[int, int], int] = {}
    taken: list[tuple[int, int]] = []
    walk_free = 0
    todo = [(t, l) for t in range(steps) for l in range(layers)]
    while todo:
        oldest = todo[0][0]
        best = None
        for t, l in todo:
            if t >= oldest + in_flight:
                break
            if (l and (t, l - 1) not in finished) or (t and (t - 1, l) not in finished):
                continue
            ready = max(finished.get((t, l - 1), 0) if l else frame_cycles * (t + 1),
                        finished.get((t - 1, l), 0))
            start = max(ready, walk_free)
            if post_queue:
                start = _earliest(start, costs[(t, l)][1], taken)
            if best is None or start < best[0]:
                best = (start, t, l)
        start, t, l = best
        walk, window, cycles = costs[(t, l)]
        if post_queue:
            taken.append((start + window[0], start + window[1]))
        walk_free = start + walk
        finished[(t, l)] = start + cycles
        todo.remove((t, l))
    return max(finished.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None, help="model file (default: shipped)")
    parser.add_argument("--lanes", type=int, default=16)
    parser.add_argument("--engine-lanes", type=int, default=64)
    parser.add_argument("--steps-in-flight", default="1,2,3")
    args = parser.parse_args()
    model = modelfile.load(args.model)
    config = model.config
    names = [layer.name for layer in topology.step_layers(config)]
    c_outs = [model.layers[name].weight.shape[1] for name in names]
    frame_cycles = config.stride * -(-config.n_mels // DEFAULT_FEATURE_PORT_BYTES)
    clips = extract_features(default_fsdd().split("test"), model.frontend, progress=False)
    results = golden_results(model, clips.features, progress=False)
    print(f"{model.path}: {len(results)} clips, {config.steps} steps, {config.blocks} blocks, "
          f"P = {args.lanes}, E = {args.engine_lanes} (an estimate; see the docstring)")
    for depth in (int(part) for part in args.steps_in_flight.split(",")):
        figures = []
        for post_queue in (False, True):
            cycles = [interleaved_cycles([r.events[name] for name in names], c_outs,
                                         lanes=args.lanes, engine_lanes=args.engine_lanes,
                                         frame_cycles=frame_cycles, in_flight=depth,
                                         post_queue=post_queue)
                      for r in results]
            figures.append(f"{np.mean(cycles):,.0f} / {max(cycles):,}")
        print(f"  {depth} step(s) in flight: {figures[0]} cycles mean / max (walk shared); "
              f"{figures[1]} (walk and post-processor shared)")


if __name__ == "__main__":
    main()
