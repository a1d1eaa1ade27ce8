"""Golden twin of :mod:`hw.sparse_engine`: the chunked sparse accumulate and its walk.

Per chunk of ``P`` outputs the engine visits the non-zero inputs in ascending order; the
accumulators (exact, :func:`pymodel.golden.contract.sparse_accumulate`) start from the
bias. Lanes past ``C_out`` in the last chunk hold 0 (zero weights, zero bias). An engine
wider than its output sends each chunk in slices of ``out_lanes``: the results are then the
chunks of ``out_lanes`` (:func:`chunk_results` at that width), in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import contract

__all__ = ["chunk_results", "walk_cycles", "walk_order", "chunk_slices", "LayerTiming",
           "layer_timing", "step_layer_cycles", "ENGINE_LATENCY",
           "POST_LATENCY", "HANDOVER_GAP"]

#: Cycles from an event's walk cycle to its chunk entering the output register (read, MAC,
#: register): :attr:`hw.sparse_engine.SparseEngine.latency` is this.
ENGINE_LATENCY = 3
#: Cycles from a slice's transfer to the post-processor to its final stage:
#: :attr:`hw.postprocess.PostProcessor.latency` is this.
POST_LATENCY = 3
#: After a hand-over, cycles from the drained layer's last transfer until the next layer's
#: first chunk may be transferred: the last slice reaches the post-processor's final stage
#: (``POST_LATENCY``), the post-processor's copy of the descriptor loads (1) and its
#: registered decodes settle (1) (``hw.core.Core._post_side``).
HANDOVER_GAP = POST_LATENCY + 2


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
    # The chunk recurrence is layer_timing's: its last slice leaves ENGINE_LATENCY cycles
    # after the walk and output would end without the pipeline.
    timing = layer_timing(int(np.count_nonzero(factors)), c_out, lanes, out_lanes)
    return timing.last_transfer - ENGINE_LATENCY


def chunk_slices(c_out: int, lanes: int, out_lanes: int | None = None) -> list[int]:
    """Slices of ``out_lanes`` each chunk of ``lanes`` outputs leaves in (those past
    ``C_out`` skipped)."""
    out_lanes = lanes if out_lanes is None else out_lanes
    return [contract.lane_chunks(min(lanes, c_out - start), out_lanes)
            for start in range(0, c_out, lanes)]


@dataclass(frozen=True)
class LayerTiming:
    """One step layer in the core, in cycles from its ``start`` (cycle 0)."""

    #: cycles the core counts for the layer: its ``start`` up to the cycle it finishes
    cycles: int
    #: the cycle its last slice is transferred to the post-processor
    last_transfer: int
    #: the cycles, as inclusive ``(first, last)`` runs, in which the engine stalls because
    #: one of this layer's chunks waits in the MAC stage for the output register; after a
    #: hand-over the next layer's walk stands still in those still to come
    stalls: tuple[tuple[int, int], ...] = ()


def layer_timing(nnz: int, c_out: int, lanes: int, out_lanes: int | None = None, *,
                 hand_over: bool = False,
                 after: Optional[LayerTiming] = None) -> LayerTiming:
    """When a step layer with ``nnz`` non-zero inputs finishes (``hw.core.Core``).

    The engine's pipeline: the walk issues one event a cycle from cycle 1 (``w = max(1,
    nnz)`` per chunk of ``lanes`` outputs), an event is in the read stage the cycle after
    its issue and in the MAC stage the cycle after that; a chunk's last event moves from
    the MAC stage into the output register at the end of the first cycle the register is
    free or its last slice leaves, and until then the whole pipeline, walk included,
    stands still (a stall). The register's chunk leaves in slices, one a cycle. So chunk
    ``g`` enters the register at ``a[0] = w + 3``, ``a[g+1] = max(a[g] + w, free[g])``
    without stalls, ``free[g]`` being ``a[g]`` plus the chunk's slices. The layer normally
    finishes when its last slice is in the post-processor's final stage: the sparse bound
    plus 7 (:func:`walk_cycles`). With ``hand_over`` (the step's last layer, the next
    step's frames in) it finishes the cycle after its walk issues its last event. ``after``:
    this layer started the cycle after that one handed over, so its walk also stands still
    in that layer's stalls still to come, its first chunk waits for that layer's last chunk
    to leave the register, and its first slice for the post-processor to take a new layer
    (:data:`HANDOVER_GAP` after that layer's last transfer).
    """
    walk = max(1, int(nnz))
    slices = chunk_slices(c_out, lanes, out_lanes)
    stalls: list[tuple[int, int]] = []
    leaves = None                # the cycle the register's chunk sends its last slice
    if after is not None:
        shift = after.cycles     # that layer's cycle c is this one's c - shift
        stalls = [(first - shift, last - shift) for first, last in after.stalls
                  if last - shift >= 1]
        leaves = handed_last = after.last_transfer - shift

    def moving(cycle: int) -> int:
        """The first cycle from ``cycle`` on in which the pipeline is not stalled."""
        for first, last in stalls:
            if first <= cycle <= last:
                cycle = last + 1
        return cycle

    issued = 0
    for index, count in enumerate(slices):
        for _ in range(walk):
            issued = moving(issued + 1)
        # ENGINE_LATENCY = 3 stages from the issue to the output register: the chunk's
        # last event is in the read stage, then (at the end of a cycle without a stall) in
        # the MAC stage, then (when the register is free) in the register.
        in_mac = moving(issued + 1) + 1
        loads = in_mac if leaves is None else max(in_mac, leaves)
        if loads > in_mac:
            stalls.append((in_mac, loads - 1))
        arrive = loads + 1                       # in the output register
        release = arrive
        if index == 0 and after is not None:
            release = max(arrive, handed_last + HANDOVER_GAP)
        leaves = release + count - 1
    finish = issued + 1 if hand_over else leaves + POST_LATENCY
    return LayerTiming(cycles=finish + 1, last_transfer=leaves,
                       stalls=tuple(stalls) if hand_over else ())


def step_layer_cycles(events, c_outs, lanes: int, out_lanes: int | None = None) -> np.ndarray:
    """Every step layer's cycles in every time step, shape (steps, layers), for an
    utterance whose frames stay ahead of the compute (each step's frames are in by the
    time the step before it ends, as at full speed): every step but the last hands the
    engine over to the next. ``events[layer][step]``: non-zero inputs; ``c_outs[layer]``.
    """
    events = [np.asarray(layer_events) for layer_events in events]
    steps = len(events[0])
    cycles = np.zeros((steps, len(events)), dtype=np.int64)
    handed = None
    for step in range(steps):
        for index, (nnz, c_out) in enumerate(zip((e[step] for e in events), c_outs)):
            last_of_step = index == len(events) - 1
            timing = layer_timing(nnz, c_out, lanes, out_lanes,
                                  hand_over=last_of_step and step < steps - 1,
                                  after=handed if index == 0 else None)
            cycles[step, index] = timing.cycles
            if last_of_step:
                handed = timing if step < steps - 1 else None
    return cycles
