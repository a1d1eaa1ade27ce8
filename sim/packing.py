"""Lane packing: how an ``ArrayLayout`` payload of P lanes sits in one flat Verilog port.

Amaranth puts lane ``l`` of an ``ArrayLayout(shape, P)`` at bits ``[l*w, (l+1)*w)`` of the
port, two's complement for signed lanes. cocotb sees only the flat integer.
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["pack_lanes", "unpack_lanes", "struct_field"]


def pack_lanes(values: Iterable[int], bits: int) -> int:
    """Pack lane values (signed or unsigned) into one non-negative integer, lane 0 lowest."""
    word = 0
    mask = (1 << bits) - 1
    for lane, value in enumerate(values):
        value = int(value)
        if not -(1 << (bits - 1)) <= value <= mask:
            raise ValueError(f"lane {lane} value {value} does not fit {bits} bits")
        word |= (value & mask) << (lane * bits)
    return word


def unpack_lanes(word: int, bits: int, lanes: int, *, signed: bool) -> list[int]:
    """Split a flat port value into ``lanes`` values of ``bits`` bits each."""
    mask = (1 << bits) - 1
    values = []
    for lane in range(lanes):
        value = (int(word) >> (lane * bits)) & mask
        if signed and value >> (bits - 1):
            value -= 1 << bits
        values.append(value)
    return values


def struct_field(word: int, fields: dict, name: str, *, signed: bool = False) -> int:
    """Field ``name`` of a flat ``StructLayout`` word; ``fields`` maps names to
    ``(offset, width)`` (as the host reads them off the layout)."""
    offset, width = fields[name]
    value = (int(word) >> offset) & ((1 << width) - 1)
    if signed and value >> (width - 1):
        value -= 1 << width
    return value
