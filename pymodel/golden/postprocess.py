"""Golden twin of :mod:`hw.postprocess`: residual rows and neuron state rows, chunk by chunk.

The post-processor turns each finished chunk of ``P`` accumulators into spikes: a neuron
layer's membrane takes the accumulators; a residual layer first updates its residual row
(``residual_add``, or a fresh rescale for the encoder) and its neurons take the result. State
lives in rows of ``P`` lanes, population at ``neuron_base``, exactly as the RTL lays it out,
with each lane's threshold and leak shift in rows beside it, and ``clear`` resets every
membrane. Lanes past the layer's ``c_out`` answer spike 0.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import contract

__all__ = ["PostProcessorModel"]


class PostProcessorModel:
    """Residual and state memories of ``lanes`` lanes, with the threshold and leak-shift rows
    given.

    Parameters
    ----------
    threshold_rows, leak_rows : int array (neuron_rows, lanes)
    residual_rows : int
    residual_bits, state_bits : int
    """

    def __init__(self, threshold_rows, leak_rows, *, residual_rows: int, residual_bits: int,
                 state_bits: int):
        self.thresholds = np.asarray(threshold_rows, dtype=np.int64)
        self.leak_shifts = np.asarray(leak_rows, dtype=np.int64)
        self.lanes = self.thresholds.shape[1]
        self.residual_bits, self.state_bits = residual_bits, state_bits
        self.residual = np.zeros((residual_rows, self.lanes), dtype=np.int64)
        self.state = np.zeros_like(self.thresholds)

    def clear(self) -> None:
        """Start of an utterance: every membrane to 0 (the residual rows are rewritten by
        the encoder every step, so they need no clear)."""
        self.state[:] = 0

    def chunk(self, acc, chunk: int, *, residual: Optional[str], shift: int,
              neuron_base: int, levels: int, leak: bool,
              reset: "contract.ResetMode | str",
              c_out: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """One chunk: ``residual`` is ``None`` (neuron layer), ``"replace"`` or ``"add"``;
        ``leak``: whether the population leaks (each lane by its shift in the leak rows).

        Returns the chunk's spikes and, for residual layers, its new residual row.
        """
        u = np.asarray(acc, dtype=np.int64)
        new_residual = None
        if residual is not None:
            new_residual = contract.residual_add(
                self.residual[chunk] if residual == "add" else 0, u, shift, self.residual_bits)
            self.residual[chunk] = new_residual
            u = new_residual
        row = neuron_base + chunk
        spikes, self.state[row] = contract.neuron_step(
            self.state[row], u, self.thresholds[row], levels=levels,
            leak_shift=self.leak_shifts[row] if leak else None,
            reset=reset, state_bits=self.state_bits)
        spikes = np.where(np.arange(self.lanes) < c_out - chunk * self.lanes, spikes, 0)
        return spikes, new_residual
