"""Comparison helpers that name the first mismatching value (index, expected, got)."""

from __future__ import annotations

from typing import Optional, Sequence

__all__ = ["first_mismatch"]


def first_mismatch(what: str, expected: Sequence[Sequence[int]],
                   got: Sequence[Sequence[int]]) -> Optional[str]:
    """Describe the first differing value of two sequences of vectors, or ``None`` if equal."""
    if len(expected) != len(got):
        return f"{what}: expected {len(expected)} vectors, got {len(got)}"
    for index, (want, have) in enumerate(zip(expected, got)):
        if len(want) != len(have):
            return f"{what}: vector {index} has {len(have)} values, expected {len(want)}"
        for lane, (w, h) in enumerate(zip(want, have)):
            if int(w) != int(h):
                return (f"{what}: first mismatch at vector {index}, lane {lane}: "
                        f"expected {int(w)}, got {int(h)} "
                        f"(expected {[int(x) for x in want]}, got {[int(x) for x in have]})")
    return None
