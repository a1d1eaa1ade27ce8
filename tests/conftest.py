"""Shared fixtures: small exported models built from random networks, and the shipped model.

PyTorch is imported only by :func:`exported_random_model`: tests of the RTL and the golden
model that build their models with :mod:`pymodel.synthetic` run without it.
"""

from __future__ import annotations

import numpy as np
import pytest

from qkspike.pymodel import modelfile
from qkspike.pymodel.frontend import FrontendConfig
from qkspike.pymodel.model_config import ModelConfig, NeuronConfig


def small_config(**overrides) -> ModelConfig:
    """A 16-channel, 1-block network: seconds to build, every code path present."""
    values = dict(classes=("a", "b", "c"), channels=16, blocks=1, heads=2, mlp_ratio=2,
                  kernel=3, stride=2, frames=20, state_bits=18)
    values.update(overrides)
    return ModelConfig(**values)


def random_features(count: int, config: ModelConfig, seed: int = 0) -> np.ndarray:
    """Log-mel-like uint8 features: mostly zeros (silence and quiet bands), some loud."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(count, config.frames, config.n_mels))
    x[rng.random(x.shape) < 0.5] = 0
    x[:, : config.frames // 5] = 0
    return x.astype(np.uint8)


def exported_random_model(config: ModelConfig, seed: int = 0, gain: float = 3.0):
    """A random network, calibrated and exported: an IntegerModel that fires a fair amount.

    Needs PyTorch: without it the calling test is skipped, with the reason."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e "
                                                "'.[train]')")

    from qkspike.pymodel.export import export
    from qkspike.pymodel.model import QKSpikeNet
    torch.manual_seed(seed)
    net = QKSpikeNet(config)
    with torch.no_grad():
        for name in net.weight_names():
            weight, bias = net.weight(name)
            weight.mul_(gain)
            bias.uniform_(-0.2, 0.2)
        for log_theta in net.log_theta.values():
            log_theta.uniform_(-2.0, 0.0)
    features = torch.from_numpy(random_features(8, config, seed).astype(np.float32))
    net.calibrate(features)
    # A shorter window gives the small model's frame count (80 samples per frame).
    frontend = FrontendConfig(window_samples=FrontendConfig().window_samples * config.frames // 100)
    assert frontend.frames == config.frames
    model = export(net, frontend, float_state=net.state_dict())
    return net, model


def fsdd_test_clips():
    """The FSDD test split (300 clips) where the data rule finds it, or a visible skip.

    CI and development read ``../shared/data/fsdd`` beside the checkout; elsewhere set
    ``QKSPIKE_DATA`` or run ``qkspike data fetch fsdd``."""
    from qkspike.locations import DataNotFound
    from qkspike.pymodel.datasets import default_fsdd
    try:
        return default_fsdd().split("test")
    except DataNotFound as error:
        pytest.skip(f"needs the FSDD recordings: {error}")


@pytest.fixture(scope="session")
def shipped_model():
    path = modelfile.default_model_path()
    if not path.exists():
        pytest.fail(f"the shipped model {path} is missing")
    return modelfile.load(path)


NEURON_VARIANTS = {
    "multilevel-soft-leak": {"attn_in": NeuronConfig(3, 1, "soft"),
                             "qk": NeuronConfig(1, 1, "soft"),
                             "mlp_in": NeuronConfig(3, 2, "soft"),
                             "hidden": NeuronConfig(2, 1, "soft"),
                             "head": NeuronConfig(3, 1, "soft")},
    "binary-hard-noleak": {"attn_in": NeuronConfig(1, None, "hard"),
                           "qk": NeuronConfig(1, None, "hard"),
                           "mlp_in": NeuronConfig(1, 0, "hard"),
                           "hidden": NeuronConfig(1, None, "hard"),
                           "head": NeuronConfig(1, 3, "hard")},
    # Per-head leak shifts (heads = 2): a time constant per head, on top of a uniform leak,
    # in place of no leak, and in the Q/K neurons.
    "per-head-leak": {"attn_in": NeuronConfig(3, 1, "soft", (1, 3)),
                      "qk": NeuronConfig(1, 1, "soft", (0, 4)),
                      "mlp_in": NeuronConfig(3, 2, "soft"),
                      "hidden": NeuronConfig(2, None, "soft", (2, 5)),
                      "head": NeuronConfig(3, 1, "hard")},
    "max-levels-mixed": {"attn_in": NeuronConfig(7, 4, "soft"), "qk": NeuronConfig(5, None, "hard"),
                         "mlp_in": NeuronConfig(7, 1, "hard"), "hidden": NeuronConfig(7, 2, "soft"),
                         "head": NeuronConfig(7, None, "soft")},
}
