"""The golden network against the PyTorch integer forward: equal logits, not close ones.

The integer forward is the quantization-aware training path itself, so equality here means
the network that was trained is the network the golden model (and the RTL) computes.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[train]')")

from qkspike.pymodel import model as torch_model
from qkspike.pymodel.evaluate import extract_features
from qkspike.pymodel.export import torch_integer_logits
from qkspike.pymodel.golden import contract, network
from qkspike.pymodel.synthetic import random_model
from tests.conftest import (NEURON_VARIANTS, exported_random_model, fsdd_test_clips,
                            random_features, small_config)

CI_SAMPLE_CLIPS = 30


# --- the torch pieces are the contract's pieces ---------------------------------------------

def test_torch_rescale_floor_shift_and_spikes_equal_the_contract():
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << 20), 1 << 20, size=5000)
    xt = torch.from_numpy(x.astype(np.float32))
    for shift in (0, 1, 3, 7, 12):
        assert torch_model._rescale(xt, shift).numpy().astype(np.int64).tolist() == \
            contract.rescale(x, shift).tolist()
        assert torch_model._floor_shift(xt, shift).numpy().astype(np.int64).tolist() == \
            contract.leak(x, shift).tolist()
    h = rng.integers(-300, 3000, size=5000)
    theta = rng.integers(1, 400, size=5000)
    for levels in (1, 3, 7):
        spikes, _ = contract.neuron_step(np.zeros_like(h), h, theta, levels=levels,
                                         leak_shift=None, reset="soft", state_bits=32)
        torch_spikes = torch_model._spike(torch.tensor(h, dtype=torch.float32),
                                          torch.tensor(theta, dtype=torch.float32), levels,
                                          exact_comparisons=True)
        assert torch_spikes.numpy().astype(np.int64).tolist() == spikes.tolist()


# --- whole network, small random models over neuron settings --------------------------------

@pytest.mark.parametrize("variant", sorted(NEURON_VARIANTS))
def test_golden_equals_torch_integer_forward_on_random_models(variant):
    config = small_config(neurons=NEURON_VARIANTS[variant], theta_attn=2)
    net, model = exported_random_model(config, seed=len(variant))
    features = random_features(12, config, seed=3)
    golden = np.stack([network.run(model, x, trace=False).logits for x in features])
    assert np.array_equal(golden, torch_integer_logits(model, features))
    # ...and the exported integers are exactly what the training forward used.
    with torch.no_grad():
        trained = net(torch.from_numpy(features.astype(np.float32)), "integer")["logits_int"]
    assert np.array_equal(golden, trained.numpy().astype(np.int64))
    # The random models must exercise the network, not sit silent.
    result = network.run(model, features[0])
    assert all(result.events[name].sum() > 0 for name in ("enc", "b0_qk", "b0_fc1", "b0_fc2"))


def test_golden_equals_torch_with_biases_at_the_int32_limit():
    """Regression: the PyTorch integer path computed in float32, which rounds biases near
    2**31 (valid in the schema) and so disagreed with the golden model."""
    config = small_config()
    model = random_model(config, seed=5, bias_max=(1 << 31) - 1, shift_max=31)
    features = random_features(4, config, seed=5)
    golden = np.stack([network.run(model, x, trace=False).logits for x in features])
    assert np.array_equal(golden, torch_integer_logits(model, features))


def test_golden_trace_and_events_are_consistent():
    config = small_config()
    _, model = exported_random_model(config)
    x = random_features(1, config, seed=5)[0]
    result = network.run(model, x)
    steps = config.frames // config.stride
    c = config.channels
    assert result.spikes["b0_qk"].shape == (steps, 2 * c)
    assert result.residual["b0_o"].shape == (steps, c)
    mask = contract.qk_token_mask(result.spikes["b0_qk"][:, :c], config.heads, config.theta_attn)
    k_masked = contract.apply_token_mask(result.spikes["b0_qk"][:, c:], mask)
    assert result.events["b0_o"].tolist() == np.count_nonzero(k_masked, axis=1).tolist()
    assert result.events["b0_qk"].tolist() == \
        np.count_nonzero(result.spikes["enc"], axis=1).tolist()
    assert result.counts.tolist() == np.minimum(result.spikes["b0_fc2"].sum(0), 255).tolist()
    assert result.predicted == int(np.argmax(result.logits))


def test_golden_rejects_bad_features():
    _, model = exported_random_model(small_config())
    with pytest.raises(ValueError, match=r"features must have shape \(frames, 40\)"):
        network.run(model, np.zeros((20, 39), np.uint8))
    with pytest.raises(ValueError, match="not a whole number of strides"):
        network.run(model, np.zeros((21, 40), np.uint8))


# --- the shipped model on real speech --------------------------------------------------------

def test_shipped_model_golden_equals_torch_on_a_sample_of_real_clips(shipped_model):
    clips = fsdd_test_clips()[::300 // CI_SAMPLE_CLIPS]
    data = extract_features(clips, shipped_model.frontend, progress=False)
    assert len(data.labels) == CI_SAMPLE_CLIPS and not data.bad
    golden = np.stack([network.run(shipped_model, x, trace=False).logits for x in data.features])
    torch_logits = torch_integer_logits(shipped_model, data.features)
    equal = np.all(golden == torch_logits, axis=1)
    assert equal.all(), f"clips differing: {[data.paths[i] for i in np.flatnonzero(~equal)]}"
