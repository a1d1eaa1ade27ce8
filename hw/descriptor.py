"""The layer descriptor: every field defined once, with its width, for every block that reads it.

:class:`hw.program.Descriptor` holds a layer's values (pure Python); this module gives each
field its hardware shape, derived from the compiled program's sizes and the contract's
limits, and the subsets the blocks read:

* the sequencer's descriptor ROM holds every field (:func:`descriptor_layout`);
* the sparse engine reads :data:`ENGINE_FIELDS` at ``start``;
* the post-processor reads :data:`POST_FIELDS` while the layer runs.

A block's layout is a sub-layout of the full one, field for field, so the core connects them
with :func:`project` (one assignment), and a new field is one entry in :data:`FIELDS`.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from amaranth import Cat, Value, unsigned
from amaranth.hdl import ShapeCastable
from amaranth.lib import data

from qkspike.pymodel.golden import contract

from .program import Descriptor, Program, row_stride

__all__ = ["FIELDS", "ENGINE_FIELDS", "POST_FIELDS", "descriptor_layout", "layout_for",
           "descriptor_value", "project"]


def _count(limit: int) -> ShapeCastable:
    """An unsigned field holding ``0..limit``."""
    return unsigned(max(1, limit).bit_length())


def _index(size: int) -> ShapeCastable:
    """An unsigned field indexing ``0..size-1`` (at least 1 bit)."""
    return unsigned(max(1, size - 1).bit_length())


#: field -> (shape from the program's sizes and widths, value of a Descriptor), in ROM order.
FIELDS: dict[str, tuple[Callable[[dict, dict], ShapeCastable], Callable[[Descriptor], int]]] = {
    "source": (lambda s, w: unsigned(2), lambda d: int(d.source)),
    "c_in": (lambda s, w: _count(s["walk_entries"]), lambda d: d.c_in),
    # The engine's chunks (of E lanes): the post-processor counts its own from the slices.
    "chunks": (lambda s, w: _count(s["engine_chunks"]), lambda d: d.engine_chunks),
    "weight_base": (lambda s, w: _index(s["weight_rows"]), lambda d: d.weight_base),
    "row_stride": (lambda s, w: _count(row_stride(s["walk_entries"])), lambda d: d.row_stride),
    "bias_base": (lambda s, w: _index(s["bias_rows"]), lambda d: d.bias_base),
    "post": (lambda s, w: unsigned(2), lambda d: int(d.post)),
    "shift": (lambda s, w: _count(contract.MAX_RESCALE_SHIFT), lambda d: d.shift),
    "neuron_base": (lambda s, w: _index(s["neuron_rows"]), lambda d: d.neuron_base),
    "levels": (lambda s, w: unsigned(w["spike"]), lambda d: d.levels),
    "leak_enable": (lambda s, w: unsigned(1), lambda d: int(d.leak_shift is not None)),
    "reset": (lambda s, w: unsigned(contract.RESET_CODE_BITS),
              lambda d: contract.reset_code(d.reset)),
    "count_spikes": (lambda s, w: unsigned(1), lambda d: int(d.count_spikes)),
    "c_out": (lambda s, w: _count(max(s["spike_entries"], s["classes"])), lambda d: d.c_out),
    "theta_attn": (lambda s, w: _count(s["theta_attn_max"]), lambda d: d.theta_attn),
}

#: What the sparse engine samples at ``start``.
ENGINE_FIELDS = ("c_out", "chunks", "weight_base", "row_stride", "bias_base")
#: What the post-processor reads while a layer's chunks arrive.
POST_FIELDS = ("post", "shift", "neuron_base", "levels", "leak_enable", "reset", "c_out")


def layout_for(sizes: dict, widths: Optional[dict] = None,
               names: Optional[Iterable[str]] = None) -> data.StructLayout:
    """The descriptor's fields ``names`` (default: all, in ROM order) for these sizes."""
    names = list(FIELDS) if names is None else list(names)
    return data.StructLayout({name: FIELDS[name][0](sizes, widths or {}) for name in names})


def descriptor_layout(program: Program, names: Optional[Iterable[str]] = None
                      ) -> data.StructLayout:
    """The descriptor layout of ``program`` (or of its fields ``names``)."""
    sizes = {**program.sizes,
             "theta_attn_max": max(d.theta_attn for d in program.descriptors)}
    return layout_for(sizes, program.widths, names)


def descriptor_value(d: Descriptor, names: Optional[Iterable[str]] = None) -> dict:
    """A descriptor's field values, for ``layout.const(...)``."""
    names = list(FIELDS) if names is None else list(names)
    return {name: FIELDS[name][1](d) for name in names}


def project(view: data.View, layout: data.StructLayout):
    """The fields of ``layout`` taken from the descriptor ``view``, packed as ``layout`` packs
    them: assign it to a block's port of that layout. The widths must agree field for field
    (both layouts come from :data:`FIELDS`); a mismatch is a bug and raises here."""
    parts = []
    for name, field in layout:
        value = Value.cast(view[name])
        if len(value) != field.width:
            raise ValueError(f"descriptor field {name!r} is {len(value)} bits in the ROM and "
                             f"{field.width} bits in the block")
        parts.append(value)
    return Cat(*parts)
