"""Golden twin of :mod:`hw.qk_attention`: QKFormer's token mask on integer spikes."""

from __future__ import annotations

from . import contract

__all__ = ["token_attention"]


def token_attention(q, k, heads: int, theta_attn: int):
    """``(mask, k_masked)``: per head ``sum(q) >= theta_attn``, and K gated by it."""
    mask = contract.qk_token_mask(q, heads, theta_attn)
    return mask, contract.apply_token_mask(k, mask)
