"""What the wheel installs: one top-level package, ``qkspike``, the model, no recordings."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_one_namespace_the_model_and_no_recordings(tmp_path):
    # With build isolation, as `pip install` does: a fresh venv's own setuptools may be older
    # than the build system pyproject.toml asks for.
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--wheel-dir", str(tmp_path), str(ROOT)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("qkspike-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(
        (".dist-info", ".data"))}
    assert top == {"qkspike"}
    for package in ("hw", "sim", "pymodel", "scripts", "pymodel/golden"):
        assert f"qkspike/{package}/__init__.py" in names
    assert "qkspike/pymodel/data/qkspike_fsdd.npz" in names
    assert "qkspike/pymodel/data/fsdd_sha256.txt" in names
    assert "qkspike/sim/core_harness.cpp" in names
    assert not [name for name in names if name.lower().endswith((".wav", ".flac", ".ogg"))]


def test_the_repository_tracks_no_recordings():
    tracked = subprocess.run(["git", "ls-files", "*.wav", "*.flac", "*.ogg"], cwd=ROOT,
                             capture_output=True, text=True)
    if tracked.returncode == 0:               # a source tree without git says nothing here
        assert tracked.stdout.strip() == ""
