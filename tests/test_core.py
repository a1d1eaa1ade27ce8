"""The full core against the golden network: logits, per-layer trace, event counters.

Amaranth simulator: a small random model (every code path, seconds per utterance).
Verilator: the same small model with idle cycles, backpressure and a reset in the middle
of an utterance, and the shipped model on real speech.
"""

import copy

import numpy as np
import pytest

from qkspike.hw.core import Core
from qkspike.hw.program import FitError
from qkspike.pymodel.evaluate import extract_features
from qkspike.pymodel.golden import network
from qkspike.pymodel.golden.sparse_engine import step_layer_cycles, walk_cycles
from qkspike.sim import core_job
from qkspike.pymodel.synthetic import integer_model, random_model
from qkspike.pymodel.targets import DEFAULT_LANES, default_engine_lanes
from qkspike.sim import harness
from tests.conftest import exported_random_model, fsdd_test_clips, random_features, small_config

CI_SAMPLE_CLIPS = 10


@pytest.fixture(scope="module")
def small():
    # theta_attn = 2: some heads are masked, some are not.
    _, model = exported_random_model(small_config(theta_attn=2), seed=4)
    return model


def check(model, core, features, outcomes):
    for number, (x, outcome) in enumerate(zip(features, outcomes)):
        golden = network.run(model, x)
        problem = core_job.compare(core.program, golden, outcome, model.config.stride)
        assert problem is None, f"utterance {number}: {problem}"


@pytest.mark.parametrize("engine_lanes", [None, 8])
def test_core_pysim_matches_golden_with_idle_and_backpressure(small, engine_lanes):
    core = Core(small, lanes=4, engine_lanes=engine_lanes)
    features = random_features(2, small.config, seed=11)
    outcomes = core_job.run_pysim(core, features, valid="idle_1_in_4", ready="sparse")
    check(small, core, features, outcomes)
    assert any(len(o.trace) for o in outcomes)


@pytest.fixture(scope="module")
def sparse_small():
    # Few hidden spikes: the step's last layer often walks 0 to 2 events over two chunks
    # of 8, so at P = 1 its last chunk waits in the MAC stage for the output register
    # after its walk has ended, and the next step's encoder walk stands still meanwhile.
    _, model = exported_random_model(small_config(theta_attn=2), seed=5, gain=1.0)
    return model


@pytest.mark.parametrize("model_name, lanes, engine_lanes", [
    ("small", 4, None), ("small", 4, 8), ("small", 2, 8), ("sparse_small", 1, 8)])
def test_core_cycles_follow_the_cycle_model(request, model_name, lanes, engine_lanes):
    """Per layer and time step, exactly :func:`step_layer_cycles`: max(1, nnz) *
    ceil(C_out/E) walk cycles (or the slices of P where a chunk has more of them) + the
    fixed overhead (start, engine and post-processing latency, idle check), except at the
    step boundaries, where the step's last layer hands the engine to the next step's
    encoder as soon as it has issued its last event; the head as before, once."""
    small = request.getfixturevalue(model_name)
    core = Core(small, lanes=lanes, engine_lanes=engine_lanes)
    x = random_features(1, small.config, seed=12)[0]
    outcome = core_job.run_pysim(core, [x])[0]
    check(small, core, [x], [outcome])      # and bit-exact, early starts and stalls included
    golden = network.run(small, x)
    step = core.program.step
    expected = step_layer_cycles([golden.events[d.name] for d in step],
                                 [d.c_out for d in step], core.engine_lanes, core.lanes)
    for index, d in enumerate(step):
        assert outcome.stats[f"{d.name}.cycles"] == expected[:, index].sum(), d.name
    head = core.program.head
    assert outcome.stats[f"{head.name}.cycles"] == walk_cycles(
        np.ones(golden.events[head.name][0]), head.c_out, core.engine_lanes,
        core.lanes) + core.head_overhead
    # Without the hand-over every layer would take the sparse bound plus the fixed 7:
    # the hand-over saves cycles at every step boundary.
    separate = sum(walk_cycles(np.ones(n), d.c_out, core.engine_lanes, core.lanes)
                   + core.layer_overhead for d in step for n in golden.events[d.name])
    assert expected.sum() < separate
    assert outcome.stats["steps"] == small.config.steps
    assert outcome.stats["frames"] == small.config.frames


@pytest.mark.parametrize("port_bytes", [1, 3, 64])
def test_core_takes_any_feature_port_width(small, port_bytes):
    """Frames of 40 mels in beats of 1 byte, 3 (each frame's last beat padded) or 64 (one
    padded beat a frame), the input idling now and then: bit-exact, every frame taken."""
    core = Core(small, lanes=4, feature_port_bytes=port_bytes)
    assert core.frame_beats == -(-small.config.n_mels // port_bytes)
    features = random_features(2, small.config, seed=22)
    outcomes = core_job.run_pysim(core, features, valid="idle_1_in_4")
    check(small, core, features, outcomes)
    assert all(o.stats["frames"] == small.config.frames for o in outcomes)


def test_core_pysim_reset_in_the_middle_then_correct_runs(small):
    core = Core(small, lanes=4)
    features = random_features(2, small.config, seed=13)
    outcomes = core_job.run_pysim(core, features, reset_after_beats=80)
    check(small, core, features, outcomes)


def test_checks_catch_theta_attn_off_by_one(small):
    """The RTL runs theta_attn; a golden model with theta_attn + 1 must disagree."""
    core = Core(small, lanes=4)
    x = random_features(1, small.config, seed=14)[0]
    outcome = core_job.run_pysim(core, [x])[0]
    wrong = copy.deepcopy(small)
    object.__setattr__(wrong, "config", small.config.__class__(
        **{**small.config.__dict__, "theta_attn": small.config.theta_attn + 1}))
    problem = core_job.compare(core.program, network.run(wrong, x), outcome, 2)
    assert problem is not None and "first divergence at layer b0_" in problem


def test_checks_catch_a_lane_weight_row_shifted(small):
    """One output lane's weight column moved down a row in the RTL's memory must fail."""
    broken = copy.deepcopy(small)
    column = broken.layers["b0_fc1"].weight[:, 1]
    broken.layers["b0_fc1"].weight[:, 1] = np.roll(column, 1)
    core = Core(broken, lanes=4)
    features = random_features(1, small.config, seed=15)
    outcome = core_job.run_pysim(core, features)[0]
    problem = core_job.compare(core.program, network.run(small, features[0]), outcome, 2)
    assert problem is not None and "layer b0_fc1" in problem and "lane 1" in problem


def test_theta_attn_beyond_the_largest_head_sum_masks_every_head(small):
    """Regression: theta_attn = 64 wrapped in the attention comparator (5 bits here), so
    heads the golden model masks were let through (b0_o: spikes expected 0, got 2)."""
    config = small.config.__class__(**{**small.config.__dict__, "theta_attn": 64})
    model = copy.deepcopy(small)
    object.__setattr__(model, "config", config)
    core = Core(model, lanes=4)
    features = random_features(1, config, seed=17)
    check(model, core, features, core_job.run_pysim(core, features))


def test_an_all_zero_model_builds_and_matches_golden():
    """Regression: accumulators of an all-zero model need 1 bit, which the datapath
    rejected ('accumulator_bits must be an integer in 2..48, not 1')."""
    config = small_config(channels=8, heads=2, frames=8, n_mels=6, classes=("a", "b"))
    model = integer_model(config, lambda name, shape, lo, hi: np.full(shape, max(lo, 0)),
                          lambda name: 0, weight_max=0, bias_max=0, theta_max=1)
    core = Core(model, lanes=4)
    features = random_features(1, config, seed=18)
    check(model, core, features, core_job.run_pysim(core, features))


def test_core_says_what_does_not_fit(small):
    with pytest.raises(FitError, match=r"the model needs \d+ weight rows of 4 lanes; "
                                       r"the core has 10"):
        Core(small, lanes=4, weight_rows=10)
    with pytest.raises(TypeError, match="model must be an IntegerModel, not str"):
        Core("model.npz", lanes=4)
    with pytest.raises(FitError, match=r"engine lanes \(12\) must be a multiple of the "
                                       r"post-processing lanes \(8\)"):
        Core(small, lanes=8, engine_lanes=12)
    with pytest.raises(ValueError, match=r"engine_lanes must be an integer in 8\.\.256, not 4"):
        Core(small, lanes=8, engine_lanes=4)
    with pytest.raises(ValueError, match=r"feature_port_bytes must be an integer in 1\.\.64, "
                                         r"not 0"):
        Core(small, lanes=8, feature_port_bytes=0)


@pytest.mark.verilator
@pytest.mark.parametrize("lanes, engine_lanes", [(4, None), (8, None), (4, 16)])
def test_core_verilator_small_model_idle_backpressure_and_reset(small, lanes, engine_lanes):
    core = Core(small, lanes=lanes, engine_lanes=engine_lanes)
    features = random_features(3, small.config, seed=16)
    outcomes, _ = core_job.run_verilator(core, features, valid="idle_1_in_4",
                                         ready="sparse", reset_after_beats=60)
    check(small, core, features, outcomes)


@pytest.mark.verilator
def test_core_cocotb_bench_reads_one_bit_ports():
    """Regression: with 2 classes and more lanes than channels, `predicted` and
    `trace_chunk` are 1 bit wide; cocotb 2 gives those as Logic, which has no to_unsigned
    ('Logic' object has no attribute 'to_unsigned')."""
    config = small_config(channels=8, heads=2, frames=8, n_mels=6, classes=("a", "b"))
    model = random_model(config, seed=19)
    core = Core(model, lanes=32)
    features = random_features(2, config, seed=19)
    outcomes, _ = core_job.run_verilator(core, features)
    check(model, core, features, outcomes)


@pytest.mark.verilator
@pytest.mark.parametrize("lanes, engine_lanes, port_bytes", [(8, None, 4), (4, 16, 9)])
def test_harness_matches_golden_and_the_cocotb_bench(small, lanes, engine_lanes, port_bytes):
    """The free-running C++ harness records what the cocotb bench records, bit for bit, and
    its decision latency follows the cycle model. A 9-byte feature port makes the input
    payload 73 bits, which Verilator holds in 32-bit words rather than one integer."""
    core = Core(small, lanes=lanes, engine_lanes=engine_lanes, feature_port_bytes=port_bytes)
    features = random_features(3, small.config, seed=20)
    fast, _ = harness.run_clips(harness.core_image(core), features, decision=True)
    check(small, core, features, fast)
    for x, outcome in zip(features, fast):
        # The decision run (the last frame held until the core is waiting) waits for the
        # last step's layers and the head, and nothing else.
        golden = network.run(small, x)
        waited = sum(walk_cycles(np.ones(golden.events[d.name][-1]), d.c_out,
                                 core.engine_lanes, core.lanes)
                     + (core.head_overhead if d is core.program.head else core.layer_overhead)
                     for d in core.program.descriptors)
        assert outcome.decision_cycles == waited + core.decision_overhead
    slow, _ = core_job.run_verilator(core, features)
    for a, b in zip(fast, slow):
        assert (a.logits, a.predicted, a.stats) == (b.logits, b.predicted, b.stats)
        assert np.array_equal(a.trace.spikes, b.trace.spikes)
        assert np.array_equal(a.trace.residual, b.trace.residual)


@pytest.mark.verilator
def test_core_verilator_shipped_model_on_real_speech(shipped_model):
    """The shipped model in the shipped configuration (P = 16 neuron lanes behind a
    64-lane engine)."""
    core = Core(shipped_model, lanes=DEFAULT_LANES,
                engine_lanes=default_engine_lanes(DEFAULT_LANES))
    assert (core.lanes, core.engine_lanes) == (16, 64)
    clips = fsdd_test_clips()[::300 // CI_SAMPLE_CLIPS]
    data = extract_features(clips, shipped_model.frontend, progress=False)
    outcomes, _ = core_job.run_verilator(core, data.features)
    assert len(outcomes) == CI_SAMPLE_CLIPS
    check(shipped_model, core, data.features, outcomes)
