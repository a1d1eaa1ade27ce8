"""Golden twin of :mod:`hw.sparse_engine`: the chunked sparse accumulate and its walk.

Per chunk of ``P`` outputs the engine visits the non-zero inputs in ascending order; the
accumulators (exact, :func:`pymodel.golden.contract.sparse_accumulate`) start from the
bias. Lanes past ``C_out`` in the last chunk hold 0 (zero weights, zero bias). An engine
wider than its output sends each chunk in slices of ``out_lanes``: the results are then the
chunks of ``out_lanes`` (:func:`chunk_results` at that width), in the same order.
"""

from __future__ import annotations

import numpy as np

from . import contract

__all__ = ["chunk_results", "walk_cycles", "walk_order"]


def walk_order(factors) -> list[int]:
    """The input indices the priority encoder visits, lowest first."""
    return np.flatnonzero(np.asarray(factors)).tolist()


def chunk_results(factors, weights, bias, lanes: int) -> list[list[int]]:
    """The engine's outputs: one list of ``lanes`` accumulators per chunk."""
    acc, _ = contract.sparse_accumulate(factors, weights, bias)
    return contract.split_into_lanes(acc, lanes).tolist()


def walk_cycles(factors, c_out: int, lanes: int, out_lanes: int | None = None) -> int:
    """Cycles of one layer's walk and output, ``start`` and the pipeline latency aside.

    Each chunk of ``lanes`` outputs walks ``w = max(1, nnz)`` cycles (an empty chunk still
    loads its bias) and leaves in slices of ``out_lanes`` (default ``lanes``), one a cycle,
    skipping slices past ``C_out``: chunk ``g + 1`` reaches the output register
    ``max(w, slices(g))`` cycles after chunk ``g``, and the last chunk's slices follow it.
    With one slice per chunk this is ``w * ceil(C_out / P)``, the sparse bound whenever
    ``nnz > 0``."""
    out_lanes = lanes if out_lanes is None else out_lanes
    walk = max(1, int(np.count_nonzero(factors)))
    slices = [min(lanes, c_out - start) for start in range(0, c_out, lanes)]
    slices = [contract.lane_chunks(n, out_lanes) for n in slices]
    return walk + sum(max(walk, n) for n in slices[:-1]) + slices[-1] - 1
