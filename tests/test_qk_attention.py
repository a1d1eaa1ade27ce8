"""Q-K token attention against its golden twin, in the Amaranth simulator and Verilator."""

import numpy as np
import pytest

from qkspike.hw.qk_attention import QKAttention
from qkspike.pymodel.golden.qk_attention import token_attention
from qkspike.sim import pysim
from qkspike.sim.packing import pack_lanes, unpack_lanes
from qkspike.sim.vector_job import run_vectors

CHANNELS, HEADS, SPIKE_BITS = 16, 4, 2


def cases(seed=0):
    """(q, k, theta): edge cases first (silent Q, a single spike, full Q, thresholds at the
    head's exact sum and one above), then random spikes."""
    rng = np.random.default_rng(seed)
    top = (1 << SPIKE_BITS) - 1
    k = rng.integers(0, top + 1, CHANNELS)
    single = np.zeros(CHANNELS, int)
    single[5] = 1
    out = [(np.zeros(CHANNELS, int), k, 1), (single, k, 1), (single, k, 2),
           (np.full(CHANNELS, top), k, 1), (np.full(CHANNELS, top), k, top * 4),
           (np.full(CHANNELS, top), k, top * 4 + 1)]
    for _ in range(40):
        q = rng.integers(0, top + 1, CHANNELS) * (rng.random(CHANNELS) < 0.3)
        out.append((q, rng.integers(0, top + 1, CHANNELS), int(rng.integers(1, 5))))
    return out


def check_against_golden(ctx, dut, q, k, theta, problems):
    """Compare the block's mask and masked K now with the golden ones of ``q, k, theta``."""
    mask, k_masked = token_attention(q, k, HEADS, theta)
    got = ([int(ctx.get(dut.mask) >> h & 1) for h in range(HEADS)],
           pysim.to_python(ctx.get(dut.k_masked)))
    if got != (mask.tolist(), k_masked.tolist()):
        problems.append((q.tolist(), theta, got))


def test_attention_pysim_matches_golden():
    dut = QKAttention(channels=CHANNELS, heads=HEADS, spike_bits=SPIKE_BITS)
    problems = []

    async def testbench(ctx):
        for q, k, theta in cases():
            ctx.set(dut.q, q.tolist())
            ctx.set(dut.k, k.tolist())
            ctx.set(dut.theta, theta)
            await ctx.delay(1e-9)
            check_against_golden(ctx, dut, q, k, theta, problems)

    pysim.simulate(dut, testbench)
    assert not problems, problems[0]


@pytest.mark.parametrize("latency", [1, 2])
def test_the_registered_mask_follows_q_latency_cycles_later(latency):
    """With ``latency`` L, the mask (and so ``k_masked``) is the golden one of the Q held
    L cycles earlier, and not yet of the Q that follows it: what the core relies on when it
    snapshots K L + 1 cycles after Q."""
    dut = QKAttention(channels=CHANNELS, heads=HEADS, spike_bits=SPIKE_BITS, latency=latency)
    problems = []
    vectors = cases(2)

    async def testbench(ctx):
        for (q, _, theta), (_, k, _) in zip(vectors, vectors[1:]):
            ctx.set(dut.q, q.tolist())
            ctx.set(dut.theta, theta)
            await ctx.tick().repeat(latency)
            ctx.set(dut.q, [0] * CHANNELS)        # Q moves on: the mask must not follow yet
            ctx.set(dut.k, k.tolist())
            await ctx.delay(1e-9)
            check_against_golden(ctx, dut, q, k, theta, problems)
            await ctx.tick().repeat(latency)      # let the zeros settle, as between layers

    pysim.simulate(dut, testbench)
    assert not problems, problems[0]


def test_masked_heads_cost_no_events():
    q = np.zeros(CHANNELS, int)
    q[0] = 1                        # only head 0 attends
    k = np.ones(CHANNELS, int)
    _, k_masked = token_attention(q, k, HEADS, 1)
    assert np.count_nonzero(k_masked) == CHANNELS // HEADS


def test_attention_rejects_uneven_heads():
    with pytest.raises(ValueError, match="10 channels do not split into 4 heads"):
        QKAttention(channels=10, heads=4, spike_bits=1)


@pytest.mark.verilator
def test_attention_verilator_matches_golden():
    dut = QKAttention(channels=CHANNELS, heads=HEADS, spike_bits=SPIKE_BITS)
    vectors = [{"q": pack_lanes(q, SPIKE_BITS), "k": pack_lanes(k, SPIKE_BITS), "theta": theta}
               for q, k, theta in cases(1)]
    outputs = run_vectors(dut, "qk_attention", f"C{CHANNELS}-H{HEADS}", vectors,
                          ["mask", "k_masked"])
    for (q, k, theta), got in zip(cases(1), outputs):
        mask, k_masked = token_attention(q, k, HEADS, theta)
        assert [got["mask"] >> h & 1 for h in range(HEADS)] == mask.tolist(), (q, theta)
        assert unpack_lanes(got["k_masked"], SPIKE_BITS, CHANNELS, signed=False) == \
            k_masked.tolist()
