"""The residual update (rescale, rounding half up, saturation) against its golden twin."""

import itertools

import numpy as np
import pytest

from qkspike.hw.residual import ResidualUpdate
from qkspike.pymodel.golden import contract
from qkspike.pymodel.golden.residual import residual_update
from qkspike.sim import pysim
from qkspike.sim.packing import pack_lanes, unpack_lanes
from qkspike.sim.vector_job import run_vectors

LANES, R_BITS, A_BITS = 4, 10, 14


def cases():
    """Rounding ties (+-half), saturation at both ends, shift 0, and shifts up to the widest
    the layer program holds: past the accumulator's width (A_BITS + 2 and more) every value
    rounds to 0 or -1 ... 0, which a rounding constant as wide as the accumulator got wrong."""
    lo, hi = -(1 << (A_BITS - 1)), (1 << (A_BITS - 1)) - 1
    r_lo, r_hi = -(1 << (R_BITS - 1)), (1 << (R_BITS - 1)) - 1
    out = []
    for shift, keep in itertools.product((0, 1, 2, 5, 13, A_BITS, A_BITS + 1, A_BITS + 2,
                                         A_BITS + 5, contract.MAX_RESCALE_SHIFT), (0, 1)):
        half = min((1 << shift) >> 1, hi)
        out.append(([r_hi, r_lo, 0, 7], [hi, lo, half, -half], shift, keep))
        ties = np.clip([3 * half, -3 * half, half - 1, -half - 1], lo, hi).tolist()
        out.append(([r_hi - 1, r_lo + 1, -1, 1], ties, shift, keep))
    rng = np.random.default_rng(0)
    for _ in range(60):
        out.append((rng.integers(r_lo, r_hi + 1, LANES).tolist(),
                    rng.integers(lo, hi + 1, LANES).tolist(),
                    int(rng.integers(0, contract.MAX_RESCALE_SHIFT + 1)),
                    int(rng.integers(0, 2))))
    return out


def expected(r, acc, shift, keep):
    return residual_update(np.array(r), np.array(acc), shift, keep=bool(keep),
                           residual_bits=R_BITS).tolist()


def test_residual_pysim_matches_golden():
    dut = ResidualUpdate(lanes=LANES, residual_bits=R_BITS, accumulator_bits=A_BITS)
    problems = []

    async def testbench(ctx):
        for r, acc, shift, keep in cases():
            ctx.set(dut.residual, r)
            ctx.set(dut.acc, acc)
            ctx.set(dut.shift, shift)
            ctx.set(dut.keep, keep)
            await ctx.delay(1e-9)
            got = pysim.to_python(ctx.get(dut.result))
            if got != expected(r, acc, shift, keep):
                problems.append((r, acc, shift, keep, got))

    pysim.simulate(dut, testbench)
    assert not problems, problems[0]


def test_a_shift_past_the_accumulator_width_rounds_negative_values_to_zero():
    """Regression: shift >= accumulator_bits + 2 used to give -1 for a small negative value
    (the rounding constant 2**(s-1) was truncated to 0 in the accumulator's width)."""
    dut = ResidualUpdate(lanes=1, residual_bits=R_BITS, accumulator_bits=A_BITS)
    got = []

    async def testbench(ctx):
        for shift in (A_BITS + 2, contract.MAX_RESCALE_SHIFT):
            ctx.set(dut.residual, [0])
            ctx.set(dut.acc, [-3])
            ctx.set(dut.shift, shift)
            ctx.set(dut.keep, 1)
            await ctx.delay(1e-9)
            got.append(pysim.to_python(ctx.get(dut.result))[0])

    pysim.simulate(dut, testbench)
    assert got == [0, 0]


def test_rounding_is_half_up_and_saturates():
    assert residual_update(np.array([0, 0]), np.array([2, -2]), 2, keep=True,
                           residual_bits=8).tolist() == [1, 0]     # 0.5 -> 1, -0.5 -> 0
    assert residual_update(np.array([120]), np.array([800]), 2, keep=True,
                           residual_bits=8).tolist() == [127]


@pytest.mark.verilator
def test_residual_verilator_matches_golden():
    dut = ResidualUpdate(lanes=LANES, residual_bits=R_BITS, accumulator_bits=A_BITS)
    vectors = [{"residual": pack_lanes(r, R_BITS), "acc": pack_lanes(acc, A_BITS),
                "shift": shift, "keep": keep} for r, acc, shift, keep in cases()]
    outputs = run_vectors(dut, "residual_update", f"P{LANES}-R{R_BITS}-A{A_BITS}", vectors,
                          ["result"])
    for (r, acc, shift, keep), got in zip(cases(), outputs):
        assert unpack_lanes(got["result"], R_BITS, LANES, signed=True) == \
            expected(r, acc, shift, keep), (r, acc, shift, keep)
