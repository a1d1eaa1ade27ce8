"""Whole-split regressions: clip selection, the parallel runner and a Dask cluster.

The harness itself is checked against the golden model and the cocotb bench in
``tests/test_core.py``; here the same regression runs serially, on local processes and on a
local Dask cluster, and must give the same, bit-exact records.
"""

import numpy as np
import pytest

from qkspike.pymodel.datasets import spread
from qkspike.pymodel.synthetic import random_model
from qkspike.sim.simulate import simulate_clips
from tests.conftest import fsdd_test_clips, random_features, small_config


def test_spread_takes_every_class_and_many_speakers_first():
    clips = fsdd_test_clips()
    first = spread(clips, 10)
    assert sorted(c.label for c in first) == list(range(10))
    assert len({c.speaker for c in first}) == 6
    assert len(spread(clips, 300)) == 300 and len(set(spread(clips, 300))) == 300
    assert spread(clips, 10) == first     # deterministic


@pytest.fixture(scope="module")
def regression_case():
    config = small_config(channels=8, heads=2, frames=10, n_mels=8, classes=("a", "b", "c"))
    model = random_model(config, seed=21, theta_max=40)
    features = random_features(6, config, seed=21)
    labels = np.arange(6) % 3
    paths = [f"clip{i}" for i in range(6)]
    return model, features, labels, paths


def _comparable(result):
    return [(c["path"], c["predicted"], c["bit_exact"], c["cycles"]) for c in result["per_clip"]]


@pytest.mark.verilator
def test_parallel_regression_equals_serial_and_is_bit_exact(regression_case):
    model, features, labels, paths = regression_case
    serial = simulate_clips(model, features, labels, paths, lanes=4, batch=2, jobs=1,
                            progress=False)
    parallel = simulate_clips(model, features, labels, paths, lanes=4, batch=2, jobs=2,
                              progress=False)
    assert serial["bit_exact"] == serial["clips"] == 6, serial["mismatches"]
    assert _comparable(serial) == _comparable(parallel)
    assert parallel["jobs"] == 2 and parallel["verilator_cycles_per_second"] > 0


@pytest.mark.verilator
def test_regression_on_a_local_dask_cluster(regression_case):
    distributed = pytest.importorskip("distributed", reason="the [distributed] extra is not "
                                                            "installed")
    model, features, labels, paths = regression_case
    serial = simulate_clips(model, features, labels, paths, lanes=4, batch=2, jobs=1,
                            progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = simulate_clips(model, features, labels, paths, lanes=4, batch=2,
                                 scheduler=cluster.scheduler_address, progress=False)
    assert on_dask["scheduler"] == cluster.scheduler_address
    assert _comparable(on_dask) == _comparable(serial)


@pytest.mark.slow
@pytest.mark.verilator
def test_every_fsdd_test_clip_is_bit_exact_at_every_lane_count(shipped_model):
    """The full regression (about a minute per lane count on 2 cores): ``pytest -m slow``.
    Engines as wide as the neuron lanes, and the shipped 64-lane engine behind 16."""
    from qkspike.pymodel.evaluate import extract_features
    data = extract_features(fsdd_test_clips(), shipped_model.frontend, progress=False)
    assert len(data.labels) == 300
    for lanes, engine_lanes in ((8, 8), (16, 16), (32, 32), (16, 64)):
        result = simulate_clips(shipped_model, data.features, data.labels, data.paths,
                                lanes=lanes, engine_lanes=engine_lanes, progress=False)
        assert result["bit_exact"] == 300, (lanes, engine_lanes, result["mismatches"][:3])
