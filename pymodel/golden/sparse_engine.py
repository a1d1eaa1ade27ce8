"""Golden twin of :mod:`hw.sparse_engine`: the chunked sparse accumulate and its walk.

Per chunk of ``P`` outputs the engine visits the non-zero inputs in ascending order; the
accumulators (exact, :func:`pymodel.golden.contract.sparse_accumulate`) start from the
bias. Lanes past ``C_out`` in the last chunk hold 0 (zero weights, zero bias).
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


def walk_cycles(factors, c_out: int, lanes: int) -> int:
    """Walk cycles of one layer: ``max(1, nnz)`` per chunk (an empty chunk still loads its
    bias), which is the sparse bound ``nnz * ceil(C_out / P)`` whenever ``nnz > 0``."""
    nnz = int(np.count_nonzero(factors))
    return max(1, nnz) * contract.lane_chunks(c_out, lanes)
