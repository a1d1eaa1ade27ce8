"""Training: seeded, resumable bit for bit, and its export runs in the golden model."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[train]')")

from qkspike.pymodel import modelfile
from qkspike.pymodel.audio import write_wav
from qkspike.pymodel.datasets import read_fsdd
from qkspike.pymodel.export import export, torch_integer_logits
from qkspike.pymodel.frontend import FrontendConfig, features
from qkspike.pymodel.golden import network
from qkspike.pymodel.train import LoadedSplit, TrainConfig, featurize, load_split, train
from qkspike.scripts.cli import main
from tests.conftest import small_config


def tiny_fsdd(root, digits=3, speakers=("ann", "bob"), indices=range(8)):
    """Synthetic digits: a tone per digit, jittered per clip."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rate = 8000
    for digit in range(digits):
        for speaker in speakers:
            for index in indices:
                t = np.arange(int(rate * rng.uniform(0.25, 0.4))) / rate
                hz = 300 + 250 * digit + rng.uniform(-20, 20)
                clip = np.sin(2 * np.pi * hz * t) * np.hanning(t.size) * rng.uniform(0.1, 0.5)
                clip += 0.01 * rng.standard_normal(t.size)
                write_wav(root / f"{digit}_{speaker}_{index}.wav", clip, rate)
    return root


FAST = TrainConfig(float_epochs=2, qat_epochs=2, batch_size=8, threads=1)


def tiny_model_config(dataset):
    return small_config(classes=dataset.classes, frames=100)


def test_training_is_resumable_bit_for_bit(tmp_path):
    dataset = read_fsdd(tiny_fsdd(tmp_path / "data"))
    config = tiny_model_config(dataset)
    straight = train(dataset, config, FrontendConfig(), FAST, tmp_path / "a.ckpt",
                     progress=False, log=lambda _: None)

    class Crash(Exception):
        pass

    def crash_after_third_epoch(record):
        if record["epoch"] == 3:
            raise Crash()

    with pytest.raises(Crash):   # interrupted inside the quantization-aware phase
        train(dataset, config, FrontendConfig(), FAST, tmp_path / "b.ckpt", progress=False,
              log=lambda _: None, on_epoch_end=crash_after_third_epoch)
    resumed = train(dataset, config, FrontendConfig(), FAST, tmp_path / "b.ckpt",
                    resume=True, progress=False, log=lambda _: None)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3, 4]
    with torch.no_grad():
        a, b = straight["net"].integer_params(), resumed["net"].integer_params()
    for key in a:
        assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])), key


def test_trained_export_runs_in_the_golden_model(tmp_path):
    dataset = read_fsdd(tiny_fsdd(tmp_path / "data"))
    config = tiny_model_config(dataset)
    trained = train(dataset, config, FrontendConfig(), FAST, tmp_path / "m.ckpt",
                    progress=False, log=lambda _: None)
    model = export(trained["net"], FrontendConfig(), float_state=trained["float_state"])
    modelfile.save(model, tmp_path / "m.npz")
    model = modelfile.load(tmp_path / "m.npz")
    feats, failed = featurize(load_split(dataset, "test", progress=False), model.frontend)
    assert not failed
    golden = np.stack([network.run(model, x, trace=False).logits for x in feats])
    assert np.array_equal(golden, torch_integer_logits(model, feats))


def test_train_and_eval_commands(tmp_path, capsys):
    data = tiny_fsdd(tmp_path / "data")
    out = tmp_path / "model.npz"
    # The CLI trains the full-size network; one epoch of each phase keeps this short. With
    # a time constant per attention head, stored in the model file and in every path.
    assert main(["train", "--data", str(data), "--out", str(out), "--float-epochs", "1",
                 "--qat-epochs", "1", "--no-progress", "--threads", "1",
                 "--head-leaks", "0,1,2,4"]) == 0
    printed = capsys.readouterr().out
    # Without bars (a log file, CI) every epoch still says where training stands.
    assert "epoch 1/2 (float): loss " in printed and "epoch 2/2 (integer): loss " in printed
    model = modelfile.load(out)
    assert model.config.neurons["qk"].head_leak_shifts == (0, 1, 2, 4)
    assert model.neuron_params("b1_qk").leak_shift == ((0,) * 16 + (1,) * 16 + (2,) * 16
                                                       + (4,) * 16) * 2
    assert model.metadata["test"]["torch_equal_clips"] == model.metadata["test"]["clips"] == 30
    assert main(["eval", "--model", str(out), "--data", str(data), "--json",
                 str(tmp_path / "e.json"), "--no-progress"]) == 0
    import json
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["clips"] == 30 and result["torch_equal_clips"] == 30
    assert 0.0 <= result["accuracy"] <= 1.0 and result["float_accuracy"] is not None


def test_train_rejects_bad_arguments(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "m.npz")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "m.bin")]) == 2
    assert "must end in .npz" in capsys.readouterr().err


def test_crossval_trains_a_model_per_held_out_speaker_and_resumes(tmp_path, capsys):
    import json
    data = tiny_fsdd(tmp_path / "data", digits=2, indices=range(4))
    out = tmp_path / "cv"
    argv = ["crossval", "--data", str(data), "--out", str(out), "--float-epochs", "1",
            "--qat-epochs", "1", "--no-progress"]
    assert main(argv) == 0
    summary = json.loads((out / "crossval.json").read_text())
    assert [fold["speaker"] for fold in summary["folds"]] == ["ann", "bob"]
    assert all(fold["clips"] == 8 for fold in summary["folds"])    # every clip of the voice
    assert summary["integer"]["min"] <= summary["integer"]["mean"]
    assert (out / "fold-ann.npz").exists() and "| **mean** |" in (out / "crossval.md").read_text()
    capsys.readouterr()
    assert main(argv) == 0                                          # a rerun resumes
    assert capsys.readouterr().out.count("done before, kept") == 2
    assert main(argv + ["--augment", "voice"]) == 2                 # other settings: refused
    assert "fold-ann.npz: trained with other settings (augment)" in capsys.readouterr().err
    assert main(argv + ["--blocks", "1"]) == 2                      # another shape too
    assert "(model blocks)" in capsys.readouterr().err
    argv[argv.index("--qat-epochs") + 1] = "2"
    assert main(argv) == 2
    assert "(qat_epochs)" in capsys.readouterr().err
    # Folds in parallel processes: the same models, bit for bit.
    parallel = ["crossval", "--data", str(data), "--out", str(tmp_path / "cv2"),
                "--float-epochs", "1", "--qat-epochs", "1", "--no-progress", "--jobs", "2"]
    assert main(parallel) == 0
    again = json.loads((tmp_path / "cv2" / "crossval.json").read_text())
    assert [f["speaker"] for f in again["folds"]] == ["ann", "bob"]
    # The summary records the whole network it trained, per-head leaks included.
    assert summary["model_config"]["blocks"] == 2 and summary["model_config"]["steps"] == 25
    assert summary["model_config"]["neurons"]["qk"]["head_leak_shifts"] == []
    # Two runs of one recipe at one seed are not two seeds: compare refuses to count both.
    assert main(["compare", "--candidate", f"{out},{tmp_path / 'cv2'}",
                 "--reference", str(out)]) == 2
    assert "seed 0 is in the candidate twice" in capsys.readouterr().err
    for speaker in ("ann", "bob"):
        one = modelfile.load(out / f"fold-{speaker}.npz")
        two = modelfile.load(tmp_path / "cv2" / f"fold-{speaker}.npz")
        for name, layer in one.layers.items():
            assert np.array_equal(layer.weight, two.layers[name].weight), (speaker, name)


def test_rate_penalty_trains_the_spike_traffic_down(tmp_path):
    """Same seed, same data: the penalised run ends with fewer spikes into the engine."""
    from dataclasses import replace
    dataset = read_fsdd(tiny_fsdd(tmp_path / "data"))
    config = tiny_model_config(dataset)
    runs = {}
    for penalty in (0.0, 5.0):
        trained = train(dataset, config, FrontendConfig(),
                        replace(FAST, float_epochs=6, qat_epochs=0, rate_penalty=penalty),
                        tmp_path / f"{penalty}.ckpt", progress=False, log=lambda _: None)
        runs[penalty] = trained["history"][-1]["activity"]
    assert runs[0.0] > 0 and runs[5.0] < 0.5 * runs[0.0], runs


def test_sweep_point_trains_at_its_stride_then_is_reused_or_refused(tmp_path):
    from dataclasses import replace

    from qkspike.sim.sweep import Point, train_point
    dataset = read_fsdd(tiny_fsdd(tmp_path / "data", digits=2))
    config = replace(FAST, float_epochs=1, qat_epochs=1)
    point = Point("s4_k4_r1", stride=4, kernel=4, rate_penalty=1.0)
    first = train_point(dataset, FrontendConfig(), config, tmp_path / "sw", (point, None))
    path = tmp_path / "sw" / "points" / "s4_k4_r1" / "model.npz"
    model = modelfile.load(path)
    assert (model.config.stride, model.config.kernel, model.config.steps) == (4, 4, 25)
    assert model.metadata["train_config"]["rate_penalty"] == 1.0
    assert first["clips"] == 20 and 0 <= first["accuracy"] <= 1     # indices 0-4: test
    stamp = path.stat().st_mtime_ns
    assert train_point(dataset, FrontendConfig(), config, tmp_path / "sw", (point, None)) == first
    assert path.stat().st_mtime_ns == stamp                          # reused, not retrained
    with pytest.raises(ValueError, match="trained with other settings .model kernel."):
        train_point(dataset, FrontendConfig(), config, tmp_path / "sw",
                    (replace(point, kernel=5), None))
    held = train_point(dataset, FrontendConfig(), config, tmp_path / "sw", (point, "bob"))
    assert held["speaker"] == "bob" and held["clips"] == 16          # every clip of bob
    shallow = replace(point, name="b1_s4_k4_r1", blocks=1)          # --blocks 1
    train_point(dataset, FrontendConfig(), config, tmp_path / "sw", (shallow, None))
    model = modelfile.load(tmp_path / "sw" / "points" / "b1_s4_k4_r1" / "model.npz")
    assert model.config.blocks == 1 and "b1_qk" not in model.layers


def test_evaluation_features_are_not_augmented():
    rate = 8000
    clip = np.sin(2 * np.pi * 300.0 * np.arange(4000) / rate) * np.hanning(4000)
    split = LoadedSplit([clip], [rate], np.zeros(1, dtype=np.int64), ["c.wav"])
    feats, failed = featurize(split, FrontendConfig())
    assert failed == [] and np.array_equal(feats[0], features(clip, rate, FrontendConfig()))


def _class_7_teacher(tmp_path, dataset):
    """A model file whose float network says class 7 to everything, sure of it: no clip of
    the tiny data is a 7, so a student that says 7 learnt it from the teacher."""
    from dataclasses import replace
    trained = train(dataset, tiny_model_config(dataset), FrontendConfig(),
                    replace(FAST, float_epochs=1, qat_epochs=0), tmp_path / "t.ckpt",
                    progress=False, log=lambda _: None)
    model = export(trained["net"], FrontendConfig(), float_state=trained["float_state"])
    model.float_params["head.w"] = np.zeros_like(model.float_params["head.w"])
    model.float_params["head.b"] = np.where(np.arange(10) == 7, 20.0, 0.0).astype(np.float32)
    modelfile.save(model, tmp_path / "teacher.npz")
    return tmp_path / "teacher.npz"


def test_distillation_teaches_the_teachers_answers(tmp_path):
    from dataclasses import replace

    from qkspike.pymodel.distill import load_teacher, teacher_logits
    dataset = read_fsdd(tiny_fsdd(tmp_path / "data"))
    teacher = load_teacher(_class_7_teacher(tmp_path, dataset))
    train_split = load_split(dataset, "train", progress=False)
    feats, _ = featurize(train_split, FrontendConfig())
    x = torch.from_numpy(feats.astype(np.float32))
    assert set(teacher_logits(teacher, x).argmax(1).tolist()) == {7}
    assert 7 not in train_split.labels
    config = replace(FAST, float_epochs=6, qat_epochs=0, seed=1)
    said = {}
    for name, (given, weight) in {"labels": (None, 0.0), "teacher": (teacher, 1.0)}.items():
        trained = train(dataset, tiny_model_config(dataset), FrontendConfig(),
                        replace(config, teacher=given.sha256 if given else "",
                                distill_weight=weight),
                        tmp_path / f"{name}.ckpt", progress=False, log=lambda _: None,
                        teacher=given)
        with torch.no_grad():
            said[name] = trained["net"].eval()(x, "float")["logits"].argmax(1).numpy()
    assert np.mean(said["labels"] == 7) == 0
    assert np.mean(said["teacher"] == 7) > 0.9             # it learnt the teacher, not labels
    with pytest.raises(ValueError, match="name teacher 'none'"):
        train(dataset, tiny_model_config(dataset), FrontendConfig(), config,
              tmp_path / "x.ckpt", progress=False, log=lambda _: None, teacher=teacher)


def test_distillation_loss_is_zero_only_at_the_teacher():
    from qkspike.pymodel.distill import distillation_loss
    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    assert float(distillation_loss(teacher.clone(), teacher, 2.0)) == pytest.approx(0, abs=1e-6)
    assert float(distillation_loss(torch.zeros(2, 3), teacher, 2.0)) > 0.1


def test_distilled_crossval_uses_each_folds_teacher_and_refuses_others(tmp_path, capsys):
    data = tiny_fsdd(tmp_path / "data", digits=2, indices=range(4))
    run = ["crossval", "--data", str(data), "--float-epochs", "1", "--qat-epochs", "1",
           "--no-progress", "--threads", "1"]
    assert main(run + ["--out", str(tmp_path / "teachers")]) == 0
    student = run + ["--out", str(tmp_path / "student"), "--stride", "4", "--kernel", "4",
                     "--teacher", str(tmp_path / "teachers")]
    assert main(student) == 0
    fold = modelfile.load(tmp_path / "student" / "fold-ann.npz")
    from qkspike.fetch import file_sha256
    assert fold.metadata["train_config"]["teacher"] == file_sha256(
        tmp_path / "teachers" / "fold-ann.npz")
    assert fold.metadata["train_config"]["distill_weight"] == 0.5
    capsys.readouterr()
    assert main(student) == 0                                       # a rerun resumes
    assert capsys.readouterr().out.count("done before, kept") == 2
    plain = [a for a in student if a not in ("--teacher", str(tmp_path / "teachers"))]
    assert main(plain) == 2                                         # without the teacher
    assert "(teacher, distill_weight)" in capsys.readouterr().err
    # A teacher that heard the held-out speaker is refused before any training.
    (tmp_path / "heard").mkdir()
    for speaker in ("ann", "bob"):
        (tmp_path / "heard" / f"fold-{speaker}.npz").write_bytes(
            (tmp_path / "teachers" / "fold-ann.npz").read_bytes())
    assert main(run + ["--out", str(tmp_path / "s2"), "--teacher", str(tmp_path / "heard")]) == 2
    assert "the teacher was trained on bob" in capsys.readouterr().err
    assert not (tmp_path / "s2" / "fold-ann.npz").exists()
    # `train --teacher`: the same check against the speakers it holds out.
    taught = ["train", "--data", str(data), "--out", str(tmp_path / "taught.npz"),
              "--float-epochs", "1", "--qat-epochs", "1", "--no-progress", "--threads", "1",
              "--teacher", str(tmp_path / "teachers" / "fold-ann.npz")]
    assert main(taught + ["--holdout-speakers", "bob"]) == 2
    assert "the teacher was trained on bob" in capsys.readouterr().err
    assert main(taught + ["--holdout-speakers", "ann"]) == 0
    assert modelfile.load(tmp_path / "taught.npz").metadata["train_config"]["teacher"] == \
        file_sha256(tmp_path / "teachers" / "fold-ann.npz")
    # A sweep cannot train a distilled model's held-out folds: it has no teacher folds.
    from qkspike.sim.sweep import Point, train_point
    given = Point("given", model=str(tmp_path / "student" / "fold-ann.npz"))
    with pytest.raises(ValueError, match="needs the teacher's fold"):
        train_point(read_fsdd(data), FrontendConfig(), FAST, tmp_path / "sw", (given, "bob"))


@pytest.mark.parametrize("extra, message", [
    (["--distill-weight", "0.5"], "--distill-weight needs --teacher"),
    (["--teacher", "T", "--distill-weight", "1.5"], "--distill-weight must be above 0"),
    (["--teacher", "T", "--distill-temperature", "0"], "--distill-temperature must be above 0"),
    (["--teacher", "missing.npz"], "missing.npz: no teacher model file there"),
])
def test_train_rejects_bad_distillation(tmp_path, capsys, extra, message):
    data = tiny_fsdd(tmp_path / "data", digits=1, indices=range(1))
    teacher = [str(tmp_path / a) if a in ("T", "missing.npz") else a for a in extra]
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m.npz"),
                 "--no-progress"] + teacher) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
