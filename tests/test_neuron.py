"""The neuron: contract semantics, the combinational update, and the streaming array.

Two simulators, one oracle: the Amaranth simulator and cocotb + Verilator both check the
array against ``pymodel.golden.neuron`` over edge cases and random inputs, with idle
cycles on the input and backpressure on the output.
"""

import itertools

import numpy as np
import pytest

from qkspike.hw.neuron import NeuronArray, NeuronUpdate
from qkspike.pymodel.golden import contract
from qkspike.pymodel.golden.neuron import NeuronParams, NeuronPopulation
from qkspike.sim import neuron_job, pysim
from qkspike.sim.runner import SimulationFailure

THRESHOLDS = [1, 7, 3, 50, 12, 9, 2, 31, 5, 6, 4]  # 11 channels: a partial last chunk


# --- the contract itself -------------------------------------------------------------------

def step(v, u, theta, levels=1, leak_shift=None, reset="soft", state_bits=16):
    s, v = contract.neuron_step([v], [u], [theta], levels=levels, leak_shift=leak_shift,
                                reset=reset, state_bits=state_bits)
    return int(s[0]), int(v[0])


def test_fires_on_reaching_threshold_not_only_above():
    assert step(0, 5, 5) == (1, 0)
    assert step(0, 4, 5) == (0, 4)


def test_multi_level_spike_is_floor_of_h_over_theta_clamped_to_levels():
    assert step(0, 17, 5, levels=3) == (3, 2)
    assert step(0, 14, 5, levels=3) == (2, 4)
    assert step(0, 100, 5, levels=3) == (3, 85)   # clamped at D, soft reset keeps the rest
    assert step(0, -7, 5, levels=3) == (0, -7)    # never negative


def test_hard_reset_clears_only_after_a_spike():
    assert step(0, 17, 5, levels=3, reset="hard") == (3, 0)
    assert step(0, 4, 5, levels=3, reset="hard") == (0, 4)


def test_leak_is_an_arithmetic_shift_that_floors():
    assert step(7, 0, 100, leak_shift=1) == (0, 4)      # 7 - floor(7/2) = 4
    assert step(-7, 0, 100, leak_shift=1) == (0, -3)    # -7 - floor(-7/2) = -7 + 4
    assert step(-1, 0, 100, leak_shift=3) == (0, 0)     # -1 - (-1) = 0
    assert step(9, 0, 100, leak_shift=None) == (0, 9)


def test_state_saturates_to_its_width():
    assert step(0, 10_000, 1000, state_bits=8, levels=1) == (1, 127)
    assert step(0, -10_000, 1000, state_bits=8) == (0, -128)


def test_population_keeps_state_between_steps_and_clears():
    population = NeuronPopulation(NeuronParams([4], levels=1, leak_shift=None, reset="soft",
                                               state_bits=8))
    # v: 3, 6 -> fire, 2 + 3 = 5 -> fire, 1 + 1 = 2
    assert population.run([[3], [3], [3], [1]]).ravel().tolist() == [0, 1, 1, 0]
    population.clear()
    assert population.step([3]).tolist() == [0]


# --- bad parameters give exact messages ----------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"thresholds": []}, "at least one threshold"),
    ({"thresholds": [3, 0]}, r"thresholds must be >= 1, got 0"),
    ({"levels": 0}, r"levels must be an integer in 1\.\.7, not 0"),
    ({"levels": 8}, r"levels must be an integer in 1\.\.7, not 8"),
    ({"leak_shift": 16}, r"leak_shift must be None or in 0\.\.15, not 16"),
    ({"leak_shift": (1, 16)}, r"leak_shift must be None or in 0\.\.15, not \(1, 16\)"),
    ({"leak_shift": (1, 2, 3)}, r"leak_shift has 3 per-channel shifts for 2 channels"),
    ({"reset": "sideways"}, r"reset must be 'soft' or 'hard', not 'sideways'"),
    ({"state_bits": 1}, r"state_bits must be an integer in 2\.\.32, not 1"),
    ({"thresholds": [200], "state_bits": 8}, r"threshold 200 does not fit a 8-bit state"),
])
def test_bad_neuron_params_raise_clear_errors(kwargs, message):
    args = {"thresholds": [3, 4], "levels": 1, "leak_shift": None, "reset": "soft",
            "state_bits": 8} | kwargs
    thresholds = args.pop("thresholds")
    with pytest.raises(ValueError, match=message):
        NeuronParams(thresholds, **args)


def test_bad_array_params_raise_clear_errors():
    params = NeuronParams([3], levels=1, leak_shift=None, reset="soft", state_bits=8)
    with pytest.raises(TypeError, match="params must be a NeuronParams, not dict"):
        NeuronArray({}, lanes=2, input_bits=8)
    with pytest.raises(ValueError, match="lanes must be an integer >= 1, not 0"):
        NeuronArray(params, lanes=0, input_bits=8)
    with pytest.raises(ValueError, match=r"input_bits must be an integer in 2\.\.32, not 40"):
        NeuronArray(params, lanes=2, input_bits=40)
    with pytest.raises(ValueError, match=r"max_levels must be an integer in 1\.\.7, not 9"):
        NeuronUpdate(lanes=1, state_bits=8, input_bits=8, threshold_bits=4, max_levels=9)


# --- the combinational update against the contract, exhaustively on a small width ----------

@pytest.mark.parametrize("hard", [False, True])
def test_update_matches_contract_exhaustively(hard):
    state_bits, input_bits, levels = 6, 5, 3
    update = NeuronUpdate(lanes=1, state_bits=state_bits, input_bits=input_bits,
                          threshold_bits=3, max_levels=levels)
    cases = list(itertools.product(range(-32, 32, 3), range(-16, 16, 2), (1, 2, 5, 7),
                                   (None, 0, 1, 3), (1, 3)))
    mismatches = []

    async def testbench(ctx):
        for v, u, theta, shift, d in cases:
            ctx.set(update.state, [v])
            ctx.set(update.current, [u])
            ctx.set(update.threshold, [theta])
            ctx.set(update.levels, d)
            ctx.set(update.leak_enable, shift is not None)
            ctx.set(update.leak_shift, [shift or 0])
            ctx.set(update.reset, contract.reset_code("hard" if hard else "soft"))
            want = step(v, u, theta, levels=d, leak_shift=shift,
                        reset="hard" if hard else "soft", state_bits=state_bits)
            got = (ctx.get(update.spikes)[0], ctx.get(update.next_state)[0])
            if got != want:
                mismatches.append(((v, u, theta, shift, d), want, got))
            await ctx.delay(1e-9)

    pysim.simulate(update, testbench)
    assert not mismatches, f"{len(mismatches)} mismatches, first {mismatches[0]}"


# --- the streaming array: Amaranth simulator and Verilator, one oracle ---------------------

ARRAY_CASES = [pytest.param(levels, reset, lanes, id=f"D{levels}-{reset}-P{lanes}")
               for levels in (1, 3) for reset in ("soft", "hard") for lanes in (4, 8)]


def make_array(levels, reset, lanes, leak_shift=2):
    params = NeuronParams(THRESHOLDS, levels=levels, leak_shift=leak_shift, reset=reset,
                          state_bits=12)
    return NeuronArray(params, lanes=lanes, input_bits=10)


@pytest.mark.parametrize("levels, reset, lanes", ARRAY_CASES)
def test_array_pysim_matches_golden(levels, reset, lanes):
    array = make_array(levels, reset, lanes)
    job = neuron_job.neuron_job(array, neuron_job.neuron_stimulus(array, seed=levels * lanes))
    assert neuron_job.run_pysim(array, job) is None


#: One leak shift per channel (the per-head time constants): lanes of a chunk differ.
CHANNEL_LEAKS = (0, 15, 1, 3, 2, 0, 7, 1, 4, 2, 5)


@pytest.mark.parametrize("lanes", [4, 8])
def test_array_pysim_with_a_leak_shift_per_channel(lanes):
    array = make_array(3, "soft", lanes, leak_shift=CHANNEL_LEAKS)
    job = neuron_job.neuron_job(array, neuron_job.neuron_stimulus(array, seed=lanes))
    assert neuron_job.run_pysim(array, job) is None


def test_per_channel_leak_is_each_channel_on_its_own():
    rng = np.random.default_rng(0)
    v = rng.integers(-5000, 5000, size=len(THRESHOLDS))
    u = rng.integers(-300, 300, size=len(THRESHOLDS))
    spikes, state = contract.neuron_step(v, u, THRESHOLDS, levels=3, leak_shift=CHANNEL_LEAKS,
                                         reset="soft", state_bits=16)
    for c, shift in enumerate(CHANNEL_LEAKS):
        assert step(v[c], u[c], THRESHOLDS[c], levels=3, leak_shift=shift,
                    state_bits=16) == (spikes[c], state[c])


@pytest.mark.parametrize("ready", ["full", "sparse"])
def test_array_pysim_without_leak_and_other_backpressure(ready):
    array = make_array(3, "soft", 4, leak_shift=None)
    job = neuron_job.neuron_job(array, neuron_job.neuron_stimulus(array), valid="full",
                                ready=ready)
    assert neuron_job.run_pysim(array, job) is None


def test_array_latency_property_is_what_the_hardware_does():
    array = make_array(1, "soft", 4)
    seen = {}

    async def testbench(ctx):
        ctx.set(array.o.ready, 1)
        ctx.set(array.i.payload, [20] * 4)
        ctx.set(array.i.valid, 1)
        await ctx.tick()
        ctx.set(array.i.valid, 0)
        for cycle in range(1, 6):
            if ctx.get(array.o.valid):
                seen.setdefault("latency", cycle)
            await ctx.tick()

    pysim.simulate(array, testbench)
    assert seen["latency"] == array.latency


def test_checks_catch_a_golden_model_changed_by_one_step(monkeypatch):
    """The RTL check is sensitive: a one-step change in rounding or reset must fail it."""
    array = make_array(3, "soft", 4)
    stimulus = neuron_job.neuron_stimulus(array)
    honest = neuron_job.neuron_job(array, stimulus)
    assert neuron_job.run_pysim(array, honest) is None

    monkeypatch.setattr(contract, "leak", lambda v, k: (np.asarray(v) + (1 << (k - 1))) >> k)
    rounding = neuron_job.neuron_job(array, stimulus)
    assert "first mismatch" in neuron_job.run_pysim(array, rounding)
    monkeypatch.undo()

    honest_step = contract.neuron_step

    def reset_one_short(v, u, theta, **kwargs):
        spikes, v_next = honest_step(v, u, theta, **kwargs)
        return spikes, np.where(spikes > 0, v_next + 1, v_next)

    monkeypatch.setattr(contract, "neuron_step", reset_one_short)
    reset = neuron_job.neuron_job(array, stimulus)
    assert "first mismatch" in neuron_job.run_pysim(array, reset)


@pytest.mark.verilator
@pytest.mark.parametrize("levels, reset, lanes", ARRAY_CASES)
def test_array_verilator_matches_golden(levels, reset, lanes):
    array = make_array(levels, reset, lanes)
    job = neuron_job.neuron_job(array, neuron_job.neuron_stimulus(array, seed=levels * lanes))
    result = neuron_job.run_verilator(array, job, quiet=True)
    assert result["chunks"] == sum(len(u["expected"]) for u in job["utterances"])


@pytest.mark.verilator
def test_verilator_check_catches_a_changed_reset(monkeypatch):
    array = make_array(3, "hard", 4)
    honest_step = contract.neuron_step

    def soft_instead_of_hard(v, u, theta, **kwargs):
        return honest_step(v, u, theta, **(kwargs | {"reset": "soft"}))

    monkeypatch.setattr(contract, "neuron_step", soft_instead_of_hard)
    job = neuron_job.neuron_job(array, neuron_job.neuron_stimulus(array, seed=12))
    with pytest.raises(SimulationFailure, match=r"first mismatch at vector \d+, lane \d+: "
                                                r"expected -?\d+, got -?\d+"):
        neuron_job.run_verilator(array, job, quiet=True)


# --- derived widths hold for the worst case -------------------------------------------------

@pytest.mark.parametrize("leak_shift", [0, 1, 3, 6])
@pytest.mark.parametrize("reset", ["soft", "hard"])
@pytest.mark.parametrize("levels", [1, 3, 7])
def test_derived_state_width_holds_for_worst_case_inputs(leak_shift, reset, levels):
    input_lo, input_hi, thetas = -300, 500, np.array([1, 4, 37, 90])
    bounds = contract.state_bounds(input_lo, input_hi, thetas.min(), thetas.max(), levels,
                                   leak_shift, reset)
    bits = contract.state_bits_for(input_lo, input_hi, thetas.min(), thetas.max(), levels,
                                   leak_shift, reset)
    rng = np.random.default_rng(leak_shift * 10 + levels)
    drives = [np.full(400, input_hi), np.full(400, input_lo),
              np.tile([input_hi, input_lo], 200), rng.integers(input_lo, input_hi + 1, 400),
              np.r_[np.full(200, input_hi), np.full(200, input_lo)]]
    for drive in drives:
        v = np.zeros(len(thetas), dtype=np.int64)
        for u in drive:
            # 40 bits: far wider than any bound, so nothing here saturates.
            _, v = contract.neuron_step(v, np.full(len(thetas), u), thetas, levels=levels,
                                        leak_shift=leak_shift, reset=reset, state_bits=40)
            assert bounds[0] <= v.min() and v.max() <= bounds[1]
            assert contract.saturate(v, bits).tolist() == v.tolist()


def test_state_without_leak_is_unbounded_and_left_to_saturation():
    assert contract.state_bounds(-1, 10, 5, 5, 1, None, "soft") is None
    assert contract.state_bounds(0, 100, 5, 5, 3, None, "soft") is None
    assert contract.state_bounds(0, 15, 5, 9, 3, None, "soft") == (0, 8)


def test_derived_accumulator_width_holds_for_worst_case():
    rng = np.random.default_rng(1)
    weights = rng.integers(-127, 128, size=(40, 16))
    weights[:, 0] = 127
    weights[:, 1] = -127
    bias = rng.integers(-1000, 1000, size=16)
    for factor_max in (1, 3, 255):
        exact = contract.accumulator_bits(weights, bias, factor_max)
        ranged = contract.accumulator_bits_for(127, factor_max, 40, 1000)
        assert exact <= ranged
        for sign in (1, -1):
            factors = np.where(sign * weights[:, 0 if sign > 0 else 1] > 0, factor_max, 0)
            acc, _ = contract.sparse_accumulate(factors, weights, bias)
            assert contract.saturate(acc, exact).tolist() == acc.tolist()
        lo, hi = contract.accumulator_bounds(weights, bias, factor_max)
        worst_hi, _ = contract.sparse_accumulate(np.full(40, factor_max) * (weights[:, 0] > 0),
                                                 weights, bias)
        assert worst_hi[0] == 127 * factor_max * 40 + bias[0] <= hi
