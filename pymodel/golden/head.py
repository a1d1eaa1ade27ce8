"""Golden twin of :mod:`hw.head`: saturating spike counts and the argmax."""

from __future__ import annotations

from . import contract

__all__ = ["count_spikes", "predicted_class"]


def count_spikes(counts, spikes):
    """``min(counts + spikes, 255)``: the head's per-channel count after one more step."""
    return contract.count_add(counts, spikes)


def predicted_class(logits) -> int:
    """The largest logit, ties to the lowest index."""
    return contract.argmax_lowest(logits)
