"""Reports: JSON, table and plots; energy and memory figures that add up."""

import json

import numpy as np
import pytest

from qkspike.pymodel.evaluate import ClipFeatures, evaluate
from qkspike.pymodel.report import (ENERGY_AC_PJ, ENERGY_MAC_PJ, check_raster_clip,
                                    format_table, write_report)
from tests.conftest import exported_random_model, random_features, small_config


def test_the_raster_clip_must_be_one_of_the_evaluated_clips():
    """One check, for the command (before the long work) and for write_report alike."""
    check_raster_clip(0, 1)
    check_raster_clip(2, 3)
    for index, clips in ((3, 3), (-1, 3), (0, 0)):
        with pytest.raises(ValueError, match=r"must be in 0\.\.-?\d+ \(the clips evaluated\)"):
            check_raster_clip(index, clips)


def test_report_files_and_figures(tmp_path):
    _, model = exported_random_model(small_config())
    features = random_features(4, model.config, seed=2)
    data = ClipFeatures(features, np.array([0, 1, 2, 0]), [f"clip{i}.wav" for i in range(4)])
    evaluation = evaluate(model, data, progress=False)
    report = write_report(model, evaluation, features, tmp_path)
    for name in ("report.json", "report.md", "confusion.png", "raster.png", "density.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["clips"] == 4 and saved["torch_equal_clips"] == 4
    assert np.array(saved["confusion"]).sum() == 4

    layers, energy = report["layers"], report["energy"]
    steps = model.config.steps
    assert layers["enc"]["dense_macs_per_inference"] == 3 * 40 * 16 * steps
    spike_acs = sum(s["synaptic_ops_per_inference"] for n, s in layers.items()
                    if n not in ("enc", "head"))
    assert energy["snn_accumulates"] == spike_acs
    assert abs(energy["snn_uj"] - (energy["snn_macs"] * ENERGY_MAC_PJ +
                                   spike_acs * ENERGY_AC_PJ) * 1e-6) < 1e-12
    assert energy["ann_macs"] == sum(s["dense_macs_per_inference"] for s in layers.values())
    memory = report["memory_bits"]
    assert memory["weights"] == 8 * sum(l.weight.size for l in model.layers.values())
    assert memory["total"] == sum(v for k, v in memory.items() if k in (
        "weights", "biases", "thresholds", "leak_shifts", "neuron_state", "residual"))
    # Every neuron keeps a leak shift beside its threshold.
    assert memory["leak_shifts"] == 4 * sum(t.size for t in model.thresholds.values())
    assert "golden == PyTorch integer logits | 4 clips" in format_table(report)
