"""The QKSpike integer contract: every width, rounding and saturation, in one place.

The golden model (``pymodel.golden``), the PyTorch fake-quant path (``pymodel.model``) and
the RTL generator (``hw``) all read their numerics from this module. Nothing here imports a
simulator or PyTorch; every function takes Python integers or numpy integer arrays and
returns exact integers (numpy ``int64``; no value in the contract comes near 2**62).

Operations, in the order a frame meets them
-------------------------------------------
``sparse_accumulate``
    ``acc[o] = b[o] + sum(a[i] * W[i, o] for i where a[i] != 0)``. Exact: the accumulator is
    as wide as :func:`accumulator_bits` says, which can never overflow for the weights, the
    bias and the factor range of that layer.
``rescale``
    ``(x + 2**(s-1)) >> s`` for ``s > 0``: divide by ``2**s`` rounding half up (towards
    +infinity); ``s = 0`` is the identity. Used where a layer's accumulator joins the
    residual stream.
``residual_add``
    ``r = saturate(r + rescale(acc, s), residual_bits)``: the only saturating add on the
    residual stream (the membrane shortcut).
``neuron_step``
    ``h = v - (v >> k) + u`` (arithmetic shift: floor; ``k = None``: no leak; ``k`` may be
    one shift per channel, 0..MAX_LEAK_SHIFT each: the per-head time constants),
    ``s = clamp(floor(h / theta), 0, D)`` computed as ``D`` comparisons ``h >= j*theta``,
    soft reset ``v = h - s*theta`` or hard reset ``v = 0 if s > 0 else h``, and then the
    state saturates to ``state_bits``. A spike fires on ``h >= theta`` (SpikingJelly's
    convention, not snnTorch's ``>``).
``qk_token_mask``
    QKFormer's token attention: per head, ``m = sum(q over the head's channels) >= theta_attn``;
    ``k' = m * k``.
``count_add``
    Head spike counts over time saturate at :data:`COUNT_MAX` (they are the 8-bit factors
    of the classifier product).
``argmax_lowest``
    The predicted class: the largest logit, ties to the lowest index.

Lane layout
-----------
``lane_chunks`` / ``split_into_lanes``
    ``C`` channels on ``P`` lanes take ``ceil(C / P)`` chunks; lane ``j`` of chunk ``c``
    holds channel ``c*P + j``, and the last chunk is padded. The RTL's memories, the sparse
    walk's cycle count and the golden model's cycle bound all use this layout.
"""

from __future__ import annotations

import enum
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "WEIGHT_BITS", "WEIGHT_MAX", "FEATURE_BITS", "FEATURE_MAX", "MAX_LEVELS", "COUNT_BITS",
    "COUNT_MAX", "LEAK_SHIFT_BITS", "MAX_LEAK_SHIFT", "MAX_RESCALE_SHIFT", "ResetMode",
    "reset_code", "RESET_CODE_BITS", "reset_membrane",
    "signed_bits", "unsigned_bits", "saturate", "rescale", "leak", "largest_leak_shift",
    "neuron_step", "spike_bits", "sparse_accumulate", "accumulator_bounds", "accumulator_bits",
    "accumulator_bits_for", "state_bounds", "state_bits_for", "neuron_input_bits",
    "residual_add", "qk_token_mask", "token_mask_threshold", "apply_token_mask", "count_add",
    "argmax_lowest", "lane_chunks", "split_into_lanes",
]

#: Weights are int8 and symmetric: export never produces -128, and a model file holding it
#: is rejected, so that ``|W| <= WEIGHT_MAX`` bounds every accumulator.
WEIGHT_BITS = 8
WEIGHT_MAX = (1 << (WEIGHT_BITS - 1)) - 1

#: Front-end features are uint8: the factors of the encoder's sparse walk.
FEATURE_BITS = 8
FEATURE_MAX = (1 << FEATURE_BITS) - 1

#: The most spike levels a neuron may have. ``floor(h/theta)`` for ``D <= 7`` is ``D``
#: comparisons (no divider), and a spike fits in 3 bits.
MAX_LEVELS = 7

#: Head spike counts saturate here; the head product walks them as 8-bit factors.
COUNT_BITS = 8
COUNT_MAX = (1 << COUNT_BITS) - 1

#: Leak shifts are 4-bit fields, one per neuron beside its threshold.
LEAK_SHIFT_BITS = 4
MAX_LEAK_SHIFT = (1 << LEAK_SHIFT_BITS) - 1

#: Rescale shifts are 5-bit fields in the layer program.
MAX_RESCALE_SHIFT = 31


class ResetMode(str, enum.Enum):
    """What a neuron's membrane does after it fires.

    The model file stores the value; the layer program the index (:func:`reset_code`). A new
    mode is a member here, its branch in :func:`reset_membrane`, and the same in the PyTorch
    neuron (``pymodel/model.py``) and the RTL neuron (``hw/neuron.py``).
    """

    #: ``v = h - s * theta``: the charge above threshold is kept.
    SOFT = "soft"
    #: ``v = 0`` whenever ``s > 0``.
    HARD = "hard"


def reset_code(reset: "ResetMode | str") -> int:
    """The hardware's code of a reset mode: its index in :class:`ResetMode`."""
    return list(ResetMode).index(ResetMode(reset))


#: Bits of a reset code in the layer program.
RESET_CODE_BITS = max(1, (len(ResetMode) - 1).bit_length())


def reset_membrane(h, spikes, theta, reset: "ResetMode | str"):
    """The membrane after the spikes, before saturation: the reset mode's rule."""
    reset = ResetMode(reset)
    if reset is ResetMode.SOFT:
        return h - spikes * theta
    return np.where(spikes > 0, 0, h)


def signed_bits(lo: int, hi: int) -> int:
    """The fewest two's complement bits that hold every integer in ``[lo, hi]`` (at least 1)."""
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def unsigned_bits(hi: int) -> int:
    """The fewest unsigned bits that hold every integer in ``[0, hi]`` (at least 1)."""
    hi = int(hi)
    if hi < 0:
        raise ValueError(f"unsigned_bits needs a non-negative bound, not {hi}")
    return max(1, hi.bit_length())


def saturate(x, bits: int):
    """Clamp ``x`` to the signed ``bits``-bit range ``[-2**(bits-1), 2**(bits-1) - 1]``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def rescale(x, shift: int):
    """Divide by ``2**shift``, rounding half up: ``(x + 2**(shift-1)) >> shift``.

    ``shift = 0`` is the identity. This is the single rounding step of the contract: where a
    layer's accumulator joins the residual stream.
    """
    x = np.asarray(x, dtype=np.int64)
    if not 0 <= shift <= MAX_RESCALE_SHIFT:
        raise ValueError(f"rescale shift must be in 0..{MAX_RESCALE_SHIFT}, not {shift}")
    if shift == 0:
        return x
    return (x + (1 << (shift - 1))) >> shift


def leak(v, shift):
    """The charge a membrane loses in one step: ``v >> shift`` (floor), or 0 without leak.

    ``shift`` is ``None`` (no leak), one ``k`` for every channel, or one ``k`` per channel.
    """
    v = np.asarray(v, dtype=np.int64)
    if shift is None:
        return np.zeros_like(v)
    return v >> np.asarray(shift, dtype=np.int64)


def largest_leak_shift(shift) -> Optional[int]:
    """The slowest leak of a population (``None``, one ``k`` or one per channel): the one
    its state range (:func:`state_bounds`) depends on."""
    return None if shift is None else int(np.max(shift))


def spike_bits(levels: int) -> int:
    """Bits of a spike of a neuron with ``levels`` levels (values ``0..levels``)."""
    return unsigned_bits(levels)


def neuron_step(v, u, theta, *, levels: int, leak_shift: Optional[int] | Sequence[int],
                reset: ResetMode | str, state_bits: int):
    """One time step of the contract neuron, for any number of channels at once.

    Parameters
    ----------
    v : int array
        Membrane state, signed ``state_bits`` bits.
    u : int array
        Input current (an accumulator or a residual value), any width.
    theta : int array
        Per-channel threshold, each ``>= 1``.
    levels : int
        ``D``, the highest spike value (1 = binary LIF, at most :data:`MAX_LEVELS`).
    leak_shift : int, int array or None
        ``k`` in ``v - (v >> k)`` (one for all channels, or one per channel); ``None`` for
        no leak.
    reset : ResetMode
        Soft (subtract ``s * theta``) or hard (to zero).
    state_bits : int
        Width the new state saturates to.

    Returns
    -------
    (spikes, v_next) : (int array, int array)
        Spikes in ``0..levels``, the new state in the signed ``state_bits`` range.
    """
    v = np.asarray(v, dtype=np.int64)
    u = np.asarray(u, dtype=np.int64)
    theta = np.asarray(theta, dtype=np.int64)
    h = v - leak(v, leak_shift) + u
    # D comparisons against theta, 2*theta, ..., D*theta: exactly what the hardware does,
    # and equal to clamp(floor(h / theta), 0, D) for theta >= 1.
    spikes = np.zeros_like(h)
    for j in range(1, levels + 1):
        spikes += (h >= j * theta).astype(np.int64)
    return spikes, saturate(reset_membrane(h, spikes, theta, reset), state_bits)


def sparse_accumulate(factors, weights, bias):
    """``acc = bias + sum over non-zero factors i of factors[i] * weights[i, :]``.

    Parameters
    ----------
    factors : int array, shape (C_in,)
        Non-negative input factors (spikes ``0..D``, features or counts ``0..255``).
    weights : int array, shape (C_in, C_out)
    bias : int array, shape (C_out,)

    Returns
    -------
    (acc, events) : (int64 array of shape (C_out,), int)
        The exact accumulator and the number of non-zero factors walked.
    """
    factors = np.asarray(factors, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    nonzero = np.flatnonzero(factors)
    acc = np.asarray(bias, dtype=np.int64) + factors[nonzero] @ weights[nonzero]
    return acc, int(nonzero.size)


def accumulator_bounds(weights, bias, factor_max: int) -> tuple[int, int]:
    """The exact lowest and highest accumulator any factor vector in ``[0, factor_max]`` gives.

    For each output the extreme is reached by setting every factor with a negative weight
    (for the minimum) or a positive weight (for the maximum) to ``factor_max``.
    """
    weights = np.asarray(weights, dtype=np.int64)
    bias = np.asarray(bias, dtype=np.int64)
    lo = bias + factor_max * np.minimum(weights, 0).sum(axis=0)
    hi = bias + factor_max * np.maximum(weights, 0).sum(axis=0)
    return int(lo.min(initial=0)), int(hi.max(initial=0))


def accumulator_bits(weights, bias, factor_max: int) -> int:
    """Accumulator width that can never overflow for this layer (see :func:`accumulator_bounds`)."""
    return signed_bits(*accumulator_bounds(weights, bias, factor_max))


def accumulator_bits_for(weight_absmax: int, factor_max: int, fan_in: int,
                         bias_absmax: int) -> int:
    """Accumulator width from a layer's ranges alone: ``|W|max * factor_max * C_in + |b|max``.

    ``factor_max`` is ``D`` for a spiking input, :data:`FEATURE_MAX` or :data:`COUNT_MAX` for
    the 8-bit walks. Never smaller than :func:`accumulator_bits` of any layer with those ranges.
    """
    bound = int(weight_absmax) * int(factor_max) * int(fan_in) + int(bias_absmax)
    return signed_bits(-bound, bound)


def state_bounds(input_lo: int, input_hi: int, theta_min: int, theta_max: int, levels: int,
                 leak_shift: Optional[int] | Sequence[int], reset: ResetMode | str):
    """The range a membrane can reach from 0 under inputs in ``[input_lo, input_hi]``.

    Returns ``(lo, hi)``, or ``None`` where the membrane is unbounded (no leak, and inputs that
    can outrun the reset or pull it down forever): there only the saturation of the contract
    holds it, and the state width is a choice, not a derivation.

    With leak shift ``k``, ``v - (v >> k)`` lies in ``[v(1 - 2**-k), v(1 - 2**-k) + 1)``, so
    below zero the membrane settles above ``2**k * input_lo``; above, a soft reset leaves at
    most ``max(theta - 1, h - D*theta)``, settling below ``2**k * (1 + input_hi - D*theta_min)``.
    """
    reset = ResetMode(reset)
    leak_shift = largest_leak_shift(leak_shift)     # per-channel shifts: the slowest bounds all
    input_lo, input_hi = min(0, int(input_lo)), max(0, int(input_hi))
    # After a step the membrane is below theta unless the input outran D*theta (soft reset).
    if leak_shift is None:
        if input_lo < 0 or (reset is ResetMode.SOFT and input_hi > levels * theta_min):
            return None
        return 0, theta_max - 1
    gain = 1 << leak_shift
    hi = theta_max - 1
    if reset is ResetMode.SOFT:
        hi = max(hi, gain * (1 + input_hi - levels * theta_min))
    return gain * input_lo, hi


def state_bits_for(input_lo: int, input_hi: int, theta_min: int, theta_max: int, levels: int,
                   leak_shift: Optional[int] | Sequence[int],
                   reset: ResetMode | str) -> Optional[int]:
    """The smallest state width that never saturates, or ``None`` where none exists."""
    bounds = state_bounds(input_lo, input_hi, theta_min, theta_max, levels, leak_shift, reset)
    return None if bounds is None else signed_bits(*bounds)


def neuron_input_bits(state_bits: int, input_bits: int, theta_max: int, levels: int) -> int:
    """Width of ``h = v - (v >> k) + u`` and of ``h - s*theta``: never overflows.

    ``|v - (v >> k)| <= |v|`` for every ``k``, so ``h`` needs one bit more than the wider of
    state and input; the reset subtracts at most ``levels * theta_max``.
    """
    h_bits = max(state_bits, input_bits) + 1
    return max(h_bits, signed_bits(0, levels * theta_max)) + 1


def residual_add(r, acc, shift: int, residual_bits: int):
    """``saturate(r + rescale(acc, shift), residual_bits)``: the membrane shortcut."""
    return saturate(np.asarray(r, dtype=np.int64) + rescale(acc, shift), residual_bits)


def qk_token_mask(q, heads: int, theta_attn: int):
    """QKFormer token attention: one bit per head, ``sum(q over the head) >= theta_attn``.

    ``q`` has ``heads * head_dim`` channels, head ``h`` owning channels
    ``h*head_dim .. (h+1)*head_dim - 1``. ``theta_attn = 1`` is an OR of the head's Q spikes.
    """
    q = np.asarray(q, dtype=np.int64)
    if theta_attn < 1:
        raise ValueError(f"theta_attn must be a positive integer, not {theta_attn}")
    if q.shape[-1] % heads:
        raise ValueError(f"{q.shape[-1]} channels do not split into {heads} heads")
    sums = q.reshape(*q.shape[:-1], heads, -1).sum(axis=-1)
    return (sums >= theta_attn).astype(np.int64)


def token_mask_threshold(theta_attn: int, head_dim: int, q_levels: int) -> int:
    """The threshold the hardware holds for ``theta_attn``: at most ``head_dim * q_levels + 1``.

    A head's Q sum never exceeds ``head_dim * q_levels``, so every larger ``theta_attn`` masks
    every head, exactly as ``head_dim * q_levels + 1`` does. The model file admits any
    ``theta_attn >= 1``; the RTL's comparator is only as wide as the largest head sum.
    """
    if theta_attn < 1:
        raise ValueError(f"theta_attn must be a positive integer, not {theta_attn}")
    return min(int(theta_attn), head_dim * q_levels + 1)


def apply_token_mask(k, mask):
    """``k'[c] = mask[head(c)] * k[c]``: masked heads cost no cycles in the next layer."""
    k = np.asarray(k, dtype=np.int64)
    mask = np.asarray(mask, dtype=np.int64)
    head_dim = k.shape[-1] // mask.shape[-1]
    return k * np.repeat(mask, head_dim, axis=-1)


def count_add(counts, spikes):
    """Head spike counts: ``min(counts + spikes, COUNT_MAX)``."""
    return np.minimum(np.asarray(counts, dtype=np.int64) + spikes, COUNT_MAX)


def argmax_lowest(logits) -> int:
    """Index of the largest logit; ties go to the lowest index (``np.argmax`` semantics)."""
    return int(np.argmax(np.asarray(logits, dtype=np.int64)))


def lane_chunks(channels: int, lanes: int) -> int:
    """Chunks of ``lanes`` that ``channels`` channels take: ``ceil(channels / lanes)``."""
    return -(-channels // lanes)


def split_into_lanes(vector, lanes: int, fill: int = 0) -> np.ndarray:
    """``vector`` (..., C) as ``(..., lane_chunks(C, lanes), lanes)``, the last chunk padded
    with ``fill``."""
    vector = np.asarray(vector, dtype=np.int64)
    channels = vector.shape[-1]
    padded = np.full((*vector.shape[:-1], lane_chunks(channels, lanes) * lanes), fill,
                     dtype=np.int64)
    padded[..., :channels] = vector
    return padded.reshape(*vector.shape[:-1], -1, lanes)
