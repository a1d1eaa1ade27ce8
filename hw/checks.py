"""Argument checks for component constructors.

A component whose constructor rejects its arguments is half-built and never elaborated;
Amaranth would warn "created but never used" when it is collected, long after the clear
error the user already got. :func:`reject` marks such an instance silent and raises.
"""

from __future__ import annotations

__all__ = ["reject", "check_int"]


def reject(component, error: Exception):
    """Raise ``error`` from ``component``'s constructor without an unused-elaboratable warning."""
    component._MustUse__silence = True
    raise error


def check_int(component, name: str, value, lo: int, hi: int | None = None) -> int:
    """``value`` as an int in ``lo..hi`` (``hi=None``: no upper bound), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or \
            (hi is not None and value > hi):
        bounds = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
        reject(component, ValueError(f"{name} must be {bounds}, not {value!r}"))
    return value
