"""Golden twin of :mod:`hw.neuron`: a population of contract neurons with their state.

Pure numpy, integers only; the numerics are :func:`pymodel.golden.contract.neuron_step`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from . import contract
from .contract import ResetMode

__all__ = ["NeuronParams", "NeuronPopulation"]


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of one neuron population, checked on construction.

    Parameters
    ----------
    thresholds : sequence of int
        Per-channel threshold ``theta_c >= 1``; its length is the channel count.
    levels : int
        ``D`` in ``1..MAX_LEVELS`` (1 = binary LIF).
    leak_shift : int, sequence of int, or None
        ``k`` in ``0..MAX_LEAK_SHIFT`` for every channel, one ``k`` per channel (the per-head
        time constants of :attr:`pymodel.model_config.NeuronConfig.head_leak_shifts`), or
        ``None`` for no leak.
    reset : ResetMode or str
        ``"soft"`` or ``"hard"``.
    state_bits : int
        Signed width of the membrane state (2..32).
    """

    thresholds: tuple[int, ...]
    levels: int
    leak_shift: Optional[int] | tuple[int, ...]
    reset: ResetMode
    state_bits: int

    def __init__(self, thresholds: Sequence[int], *, levels: int,
                 leak_shift: Optional[int] | Sequence[int],
                 reset: ResetMode | str, state_bits: int):
        thresholds = tuple(int(t) for t in np.asarray(thresholds).reshape(-1))
        if not thresholds:
            raise ValueError("a neuron population needs at least one threshold")
        if min(thresholds) < 1:
            raise ValueError(f"thresholds must be >= 1, got {min(thresholds)}")
        if not isinstance(levels, (int, np.integer)) or not 1 <= levels <= contract.MAX_LEVELS:
            raise ValueError(f"levels must be an integer in 1..{contract.MAX_LEVELS}, "
                             f"not {levels!r}")
        leak_shift = _checked_leak_shift(leak_shift, len(thresholds))
        try:
            reset = ResetMode(reset)
        except ValueError:
            modes = " or ".join(repr(mode.value) for mode in ResetMode)
            raise ValueError(f"reset must be {modes}, not {reset!r}") from None
        if not isinstance(state_bits, (int, np.integer)) or not 2 <= state_bits <= 32:
            raise ValueError(f"state_bits must be an integer in 2..32, not {state_bits!r}")
        if max(thresholds) > (1 << (state_bits - 1)) - 1:
            raise ValueError(f"threshold {max(thresholds)} does not fit a {state_bits}-bit "
                             f"state")
        object.__setattr__(self, "thresholds", thresholds)
        object.__setattr__(self, "levels", int(levels))
        object.__setattr__(self, "leak_shift", leak_shift)
        object.__setattr__(self, "reset", reset)
        object.__setattr__(self, "state_bits", int(state_bits))

    @property
    def channels(self) -> int:
        return len(self.thresholds)

    def leak_rows(self, lanes: int) -> np.ndarray:
        """Every channel's ``k`` in rows of ``lanes``, as the RTL keeps them beside the
        thresholds (:func:`contract.split_into_lanes`); 0 without leak, where the hardware's
        ``leak_enable`` is 0 and the shifts are never used."""
        shifts = 0 if self.leak_shift is None else self.leak_shift
        per_channel = np.broadcast_to(np.asarray(shifts, dtype=np.int64), (self.channels,))
        return contract.split_into_lanes(per_channel, lanes)

    @property
    def spike_bits(self) -> int:
        return contract.spike_bits(self.levels)

    @property
    def threshold_bits(self) -> int:
        return contract.unsigned_bits(max(self.thresholds))


def _checked_leak_shift(leak_shift, channels: int):
    """``None``, an ``int``, or a tuple of ``channels`` ints (one per channel), each in
    ``0..MAX_LEAK_SHIFT``; ``ValueError`` otherwise."""
    if leak_shift is None:
        return None
    per_channel = not isinstance(leak_shift, (int, np.integer))
    shifts = np.asarray(leak_shift).reshape(-1) if per_channel else np.array([leak_shift])
    if per_channel and shifts.size != channels:
        raise ValueError(f"leak_shift has {shifts.size} per-channel shifts for {channels} "
                         f"channels")
    if not np.issubdtype(shifts.dtype, np.integer) or shifts.size == 0 \
            or shifts.min() < 0 or shifts.max() > contract.MAX_LEAK_SHIFT:
        raise ValueError(f"leak_shift must be None or in 0..{contract.MAX_LEAK_SHIFT}, "
                         f"not {leak_shift!r}")
    return tuple(int(k) for k in shifts) if per_channel else int(leak_shift)


@dataclass
class NeuronPopulation:
    """``params.channels`` neurons that keep their membrane state between steps."""

    params: NeuronParams
    state: np.ndarray = field(init=False)

    def __post_init__(self):
        self.clear()

    def clear(self) -> None:
        """Start of an utterance: every membrane back to 0."""
        self.state = np.zeros(self.params.channels, dtype=np.int64)

    def step(self, inputs) -> np.ndarray:
        """Advance one time step with input currents ``inputs``; return the spikes."""
        inputs = np.asarray(inputs, dtype=np.int64)
        if inputs.shape != self.state.shape:
            raise ValueError(f"expected {self.state.shape[0]} inputs, got shape {inputs.shape}")
        p = self.params
        spikes, self.state = contract.neuron_step(
            self.state, inputs, np.asarray(p.thresholds), levels=p.levels,
            leak_shift=p.leak_shift, reset=p.reset, state_bits=p.state_bits)
        return spikes

    def run(self, inputs) -> np.ndarray:
        """Step through ``inputs`` of shape (T, channels); return spikes of the same shape."""
        return np.stack([self.step(x) for x in np.asarray(inputs, dtype=np.int64)])
