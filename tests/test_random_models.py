"""Property-based verification: random *valid* model files against the golden model.

Every model the schema admits must run bit-exactly on the RTL. The strategy
(:mod:`tests.strategies`) draws model files across every field, extremes included, plus
random, all-255, all-zero and sparse clips, lane counts from 1 to past the widest layer,
sparse engines as wide as the lanes or 2 and 4 times wider, and feature ports of 1 to 9
bytes (frames of any width in whole or padded beats).

* Golden vs the Amaranth simulator: in the default suite, a bounded number of examples.
* Golden vs Verilator (the C++ harness): marked ``verilator``, a few fixed extreme designs
  (built once, then cached) under drawn clips.

A failure saves the case (model file, clip, lanes, engine lanes) and names the folder and the command that
replays it: ``python -m qkspike.sim.replay FOLDER [--verilator]``. Hypothesis prints the seed and the
shrunk example (``print_blob``), and ``pytest --hypothesis-seed=N`` reruns a whole run.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qkspike.hw.core import Core
from qkspike.hw.program import compile_program
from qkspike.pymodel import modelfile
from qkspike.pymodel.golden import network
from qkspike.pymodel.model_config import ModelConfig, NeuronConfig
from qkspike.pymodel.modelfile import BIAS_MAX
from qkspike.pymodel.synthetic import random_model
from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES
from qkspike.sim import core_job, harness
from qkspike.sim.replay import save_case
from tests import strategies

#: Examples per run of the Amaranth property (each elaborates and simulates a core).
PYSIM_EXAMPLES = 60

PROPERTY = settings(deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_bit_exact(model, features, lanes, engine_lanes, outcome,
                     port_bytes=DEFAULT_FEATURE_PORT_BYTES):
    golden = network.run(model, features)
    problem = core_job.compare(compile_program(model, lanes, engine_lanes=engine_lanes),
                               golden, outcome, model.config.stride)
    if problem:
        folder = save_case(model, features, lanes, engine_lanes=engine_lanes,
                           feature_port_bytes=port_bytes)
        pytest.fail(f"{problem}\nmodel config: {model.config}\nlanes: {lanes}, engine "
                    f"lanes: {engine_lanes}, feature port: {port_bytes} bytes\n"
                    f"replay: python -m qkspike.sim.replay {folder}")


@settings(PROPERTY, max_examples=PYSIM_EXAMPLES)
@given(data=st.data())
def test_random_valid_models_are_bit_exact_in_the_amaranth_simulator(data, tmp_path_factory):
    model = data.draw(strategies.models(), label="model")
    lanes = data.draw(strategies.lanes_for(model.config), label="lanes")
    engine_lanes = lanes * data.draw(st.sampled_from([1, 2, 4]), label="engine lanes / lanes")
    port_bytes = data.draw(st.integers(1, 9), label="feature port bytes")
    features = data.draw(strategies.feature_clips(model.config), label="features")
    # The schema round trip holds for every drawn model.
    path = modelfile.save(model, tmp_path_factory.mktemp("m") / "model.npz")
    loaded = modelfile.load(path)
    assert all(np.array_equal(loaded.layers[n].weight, model.layers[n].weight)
               for n in model.layers)
    core = Core(model, lanes=lanes, engine_lanes=engine_lanes, feature_port_bytes=port_bytes)
    outcome = core_job.run_pysim(core, [features])[0]
    assert_bit_exact(model, features, lanes, engine_lanes, outcome, port_bytes)


def _extreme(levels, leak, reset):
    return {kind: NeuronConfig(levels, leak, reset)
            for kind in ("attn_in", "qk", "mlp_in", "hidden", "head")}


#: A handful of fixed designs for Verilator (each is built once per machine, then cached):
#: (config, (lanes, engine lanes), random_model arguments).
VERILATOR_DESIGNS = {
    "D7-noleak-soft-wide": (ModelConfig(classes=("a", "b"), n_mels=5, frames=6, channels=6,
                                        blocks=1, heads=3, mlp_ratio=2, kernel=3, stride=2,
                                        theta_attn=1 << 16, residual_bits=32, state_bits=32,
                                        neurons=_extreme(7, None, "soft")), (13, 13),
                            dict(seed=13, bias_max=BIAS_MAX, theta_max=1000, shift_max=31)),
    "D1-leak0-hard-narrow": (ModelConfig(classes=("a", "b", "c"), n_mels=4, frames=4,
                                         channels=4, blocks=2, heads=1, mlp_ratio=1, kernel=1,
                                         stride=1, theta_attn=2, residual_bits=2, state_bits=2,
                                         neurons=_extreme(1, 0, "hard")), (9, 9),
                             dict(seed=14, bias_max=3, theta_max=1, shift_max=2)),
    "mixed-leak15-P1-E4": (ModelConfig(classes=("a", "b"), n_mels=3, frames=6, channels=4,
                                    blocks=1, heads=2, mlp_ratio=2, kernel=2, stride=3,
                                    theta_attn=3, residual_bits=9, state_bits=12,
                                    neurons={"attn_in": NeuronConfig(3, 15, "soft"),
                                             "qk": NeuronConfig(2, 1, "hard", (15, 0)),
                                             "mlp_in": NeuronConfig(5, None, "hard"),
                                             "hidden": NeuronConfig(1, 0, "soft"),
                                             "head": NeuronConfig(7, 2, "soft")}), (1, 4),
                        dict(seed=15, bias_max=300, theta_max=40, shift_max=8)),
}


@pytest.fixture(scope="module")
def verilator_designs():
    designs = {}
    for name, (config, (lanes, engine_lanes), arguments) in VERILATOR_DESIGNS.items():
        model = random_model(config, **arguments)
        image = harness.core_image(Core(model, lanes=lanes, engine_lanes=engine_lanes))
        designs[name] = (model, (lanes, engine_lanes), image, harness.build_harness(image))
    return designs


@pytest.mark.verilator
@pytest.mark.parametrize("design", sorted(VERILATOR_DESIGNS))
def test_random_clips_are_bit_exact_under_verilator(design, verilator_designs):
    model, (lanes, engine_lanes), image, build = verilator_designs[design]

    @settings(PROPERTY, max_examples=15)
    @given(clips=st.lists(strategies.feature_clips(model.config), min_size=1, max_size=4))
    def property_(clips):
        outcomes, _ = harness.run_clips(image, np.stack(clips), build=build)
        for features, outcome in zip(clips, outcomes):
            assert_bit_exact(model, features, lanes, engine_lanes, outcome)

    property_()


def test_a_saved_case_replays_with_its_lanes_and_feature_port(tmp_path):
    """What a failing example saves is what ``python -m qkspike.sim.replay`` runs again:
    the model, the clip, the lanes, the engine lanes and the feature port."""
    from qkspike.sim.replay import replay

    config, _, arguments = VERILATOR_DESIGNS["mixed-leak15-P1-E4"]
    model = random_model(config, **arguments)
    features = np.arange(config.frames * config.n_mels, dtype=np.uint8).reshape(
        config.frames, config.n_mels)
    folder = save_case(model, features, 1, tmp_path / "case", engine_lanes=4,
                       feature_port_bytes=2)
    assert (folder / "feature_port_bytes.txt").read_text() == "2\n"
    assert replay(folder) == {"amaranth": None}
