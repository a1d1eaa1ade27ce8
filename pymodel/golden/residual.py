"""Golden twin of :mod:`hw.residual`: the contract's saturating residual add."""

from __future__ import annotations

from . import contract

__all__ = ["residual_update"]


def residual_update(residual, acc, shift: int, *, keep: bool, residual_bits: int):
    """``saturate(keep * r + rescale(acc, shift), residual_bits)``."""
    return contract.residual_add(residual if keep else 0, acc, shift, residual_bits)
