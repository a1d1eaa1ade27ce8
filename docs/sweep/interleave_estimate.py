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
walk for its start cycle and its issue cycles (``max(1, nnz)`` a chunk). The walk is the
one shared resource; a pass starts as soon as its inputs are done and the walk is free,
with at most ``N`` time steps in flight, the earliest start first.

Left out, so the figures are lower than a built core would give: the post-processor takes
one slice a cycle (interleaved passes would queue there), stalls, and everything the
hardware would need per step in flight (spike and residual buffers, the attention's
inputs, descriptors). With one step in flight this is about today's order, the next step's
encoder starting as the last layer's walk ends: on the shipped model 4,846 cycles mean here
against the 5,004 the core measures (3 % lower; the head and the last step's drain are
left out too).
"""

from __future__ import annotations

import argparse

import numpy as np

from qkspike.pymodel import modelfile, topology
from qkspike.pymodel.datasets import default_fsdd
from qkspike.pymodel.evaluate import extract_features, golden_results
from qkspike.pymodel.golden.sparse_engine import chunk_slices, layer_timing
from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES


def interleaved_cycles(events, c_outs, *, lanes: int, engine_lanes: int, frame_cycles: int,
                       in_flight: int) -> int:
    """The estimated cycles of one utterance; ``events[l][t]``: pass ``(t, l)``'s inputs."""
    layers, steps = len(events), len(events[0])
    finished: dict[tuple[int, int], int] = {}
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
            if best is None or start < best[0]:
                best = (start, t, l)
        start, t, l = best
        nnz = int(events[l][t])
        chunks = len(chunk_slices(c_outs[l], engine_lanes, lanes))
        walk_free = start + 1 + chunks * max(1, nnz)
        finished[(t, l)] = start + layer_timing(nnz, c_outs[l], engine_lanes, lanes).cycles
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
        cycles = [interleaved_cycles([r.events[name] for name in names], c_outs,
                                     lanes=args.lanes, engine_lanes=args.engine_lanes,
                                     frame_cycles=frame_cycles, in_flight=depth)
                  for r in results]
        print(f"  {depth} step(s) in flight: {np.mean(cycles):,.0f} mean / "
              f"{max(cycles):,} max cycles")


if __name__ == "__main__":
    main()
