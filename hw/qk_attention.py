"""Q-K token attention (QKFormer): a per-head mask from Q, applied to K.

Golden twin: :mod:`pymodel.golden.qk_attention`. Tests: ``tests/test_qk_attention.py``.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden import contract

from .checks import check_int, reject

__all__ = ["QKAttention"]


class QKAttention(wiring.Component):
    """``m[h] = sum(q over head h) >= theta_attn``; ``k'[c] = m[head(c)] * k[c]``.

    Linear in tokens: no N x N map, one adder tree per head. ``theta_attn = 1`` is an OR of
    the head's Q spikes. Masked K entries become 0, so the next layer's sparse walk never
    visits them: a masked head costs no cycles.

    Parameters
    ----------
    channels : int
        ``C``, the length of Q and of K.
    heads : int
        ``H``; head ``h`` owns channels ``h*C/H .. (h+1)*C/H - 1``.
    spike_bits : int
        Width of a spike.
    latency : int
        0 (default): the mask is combinational. 1: the head mask is a register, so the
        head sums and comparisons sit between registers of their own, off the path from
        the spike buffer into the sparse engine's snapshot. 2: the head sums are registered
        too, before the comparison (one adder tree, then one compare, per cycle). The
        caller must sample ``k_masked`` no earlier than ``latency + 1`` cycles after the
        last change of ``q`` (the core does: Q is written ``latency`` or more chunks before
        the last of K, see :class:`hw.core.Core`).

    Members
    -------
    q, k : In(ArrayLayout(unsigned(spike_bits), C))
    theta : In(unsigned)
        ``theta_attn``, at least 1.
    mask : Out(H)
    k_masked : Out(ArrayLayout(unsigned(spike_bits), C))

    Latency
    -------
    ``latency`` cycles from ``q`` to ``mask``; ``k_masked`` follows ``k`` at once.
    """

    def __init__(self, *, channels: int, heads: int, spike_bits: int, latency: int = 0):
        check_int(self, "channels", channels, 1)
        check_int(self, "heads", heads, 1)
        check_int(self, "spike_bits", spike_bits, 1, contract.spike_bits(contract.MAX_LEVELS))
        if channels % heads:
            reject(self, ValueError(f"{channels} channels do not split into {heads} heads"))
        self.channels = channels
        self.heads = heads
        self.head_dim = channels // heads
        self.spike_bits = spike_bits
        check_int(self, "latency", latency, 0, 2)
        #: cycles from ``q`` to ``mask``
        self.latency = latency
        #: the largest possible head sum, and so the widest useful threshold
        self.sum_max = self.head_dim * ((1 << spike_bits) - 1)
        spikes = data.ArrayLayout(unsigned(spike_bits), channels)
        super().__init__({
            "q": In(spikes), "k": In(spikes),
            "theta": In(unsigned(contract.unsigned_bits(self.sum_max + 1))),
            "mask": Out(heads),
            "k_masked": Out(spikes),
        })

    def elaborate(self, platform):
        m = Module()
        for head in range(self.heads):
            channels = range(head * self.head_dim, (head + 1) * self.head_dim)
            total = Signal(range(self.sum_max + 1), name=f"head_sum_{head}")
            sum_domain = m.d.sync if self.latency == 2 else m.d.comb
            sum_domain += total.eq(sum(self.q[c] for c in channels))
            mask_domain = m.d.sync if self.latency >= 1 else m.d.comb
            mask_domain += self.mask[head].eq(total >= self.theta)
            for c in channels:
                m.d.comb += self.k_masked[c].eq(Mux(self.mask[head], self.k[c], 0))
        return m
