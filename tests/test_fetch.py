"""``qkspike data fetch fsdd`` against a local mirror the test builds (these machines cannot
reach GitHub): a good mirror, a corrupted file, an interrupted download, a rerun."""

import hashlib

import numpy as np
import pytest

from qkspike import fetch
from qkspike.locations import DataNotFound, fsdd_location
from qkspike.pymodel.audio import write_wav
from qkspike.pymodel.datasets import read_fsdd
from qkspike.scripts.cli import main

NAMES = ["0_ann_0.wav", "1_ann_7.wav", "7_bob_3.wav", "9_bob_40.wav"]


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror of four generated recordings, and the checksum list naming them."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    rng = np.random.default_rng(0)
    sums = {}
    for name in NAMES:
        write_wav(folder / name, 0.3 * rng.standard_normal(800))
        sums[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    monkeypatch.setattr(fetch, "fsdd_checksums", lambda: dict(sums))
    return folder, folder.as_uri() + "/", sums


def test_the_shipped_checksum_list_names_the_whole_fsdd():
    sums = fetch.fsdd_checksums()
    assert len(sums) == 3000 and all(len(digest) == 64 for digest in sums.values())
    assert {name.split("_")[0] for name in sums} == {str(d) for d in range(10)}


def test_a_good_mirror_gives_a_verified_fsdd_folder(mirror, tmp_path, capsys):
    _, url, _ = mirror
    dest = tmp_path / "fsdd"
    assert main(["data", "fetch", "fsdd", "--dest", str(dest), "--url", url,
                 "--no-progress"]) == 0
    assert "4 downloaded, 0 already there" in capsys.readouterr().out
    data = read_fsdd(dest)
    assert sorted(c.path.name for c in data.clips) == sorted(NAMES)
    assert "CC BY-SA 4.0" in (dest / "README.md").read_text()
    assert fsdd_location(dest).path == dest
    # A rerun downloads nothing.
    assert main(["data", "fetch", "--dest", str(dest), "--url", url, "--no-progress"]) == 0
    assert "0 downloaded, 4 already there" in capsys.readouterr().out


def test_a_corrupted_file_is_refused_and_fetched_again_later(mirror, tmp_path, capsys):
    folder, url, _ = mirror
    good = (folder / NAMES[2]).read_bytes()
    (folder / NAMES[2]).write_bytes(good[:-10] + b"0123456789")
    dest = tmp_path / "fsdd"
    assert main(["data", "fetch", "--dest", str(dest), "--url", url, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"1 of 4 files failed (e.g. {NAMES[2]}: checksum mismatch" in err
    kept = sorted(p.name for p in (dest / "recordings").iterdir())
    assert kept == sorted(set(NAMES) - {NAMES[2]})          # no corrupted file, no .part
    (folder / NAMES[2]).write_bytes(good)                     # the mirror is mended
    assert main(["data", "fetch", "--dest", str(dest), "--url", url, "--no-progress"]) == 0
    assert "1 downloaded, 3 already there" in capsys.readouterr().out


def test_an_interrupted_download_leaves_only_verified_files_and_resumes(mirror, tmp_path,
                                                                         monkeypatch, capsys):
    _, url, sums = mirror
    dest = tmp_path / "fsdd"
    real = fetch._download
    calls = []

    def dies_on_the_third(source, part, timeout):
        calls.append(source)
        if len(calls) == 3:
            part.write_bytes(b"half a file")
            raise KeyboardInterrupt                       # the user pressed Ctrl-C
        real(source, part, timeout)

    monkeypatch.setattr(fetch, "_download", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch_fsdd(dest, base_url=url, jobs=1, progress=False)
    recordings = dest / "recordings"
    left = sorted(p.name for p in recordings.iterdir())
    assert NAMES[2] not in left and not any(name.endswith(".part") for name in left)
    for name in left:                                    # whatever is there is verified
        assert hashlib.sha256((recordings / name).read_bytes()).hexdigest() == sums[name]
    # A kill (no chance to clean up) can leave a .part file and a file cut short.
    (recordings / (NAMES[3] + ".part")).write_bytes(b"stale")
    (recordings / NAMES[2]).write_bytes(b"cut short")
    monkeypatch.setattr(fetch, "_download", real)
    result = fetch.fetch_fsdd(dest, base_url=url, jobs=2, progress=False)
    assert result.downloaded + result.present == 4 and result.downloaded >= 1   # the cut one
    assert sorted(p.name for p in recordings.iterdir()) == sorted(NAMES)
    for name in NAMES:
        assert hashlib.sha256((recordings / name).read_bytes()).hexdigest() == sums[name]


def test_the_data_rule_order(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("QKSPIKE_DATA", str(empty))
    with pytest.raises(DataNotFound, match="qkspike data fetch fsdd"):
        fsdd_location()
    assert fsdd_location(tmp_path / "given").source == "--data"
    full = tmp_path / "full" / "recordings"
    full.mkdir(parents=True)
    write_wav(full / NAMES[0], np.zeros(10))
    monkeypatch.setenv("QKSPIKE_DATA", str(full.parent))
    assert fsdd_location().path == full.parent
    monkeypatch.delenv("QKSPIKE_DATA")
    monkeypatch.setattr("qkspike.locations.checkout_root", lambda: None)
    monkeypatch.setattr("qkspike.locations.user_data_dir", lambda: tmp_path / "user")
    with pytest.raises(DataNotFound, match=str(tmp_path / "user" / "fsdd")):
        fsdd_location()
    (tmp_path / "user").mkdir()
    full.parent.rename(tmp_path / "user" / "fsdd")
    assert fsdd_location().source == "user data folder"


def test_the_build_cache_does_not_follow_the_working_folder(tmp_path, monkeypatch):
    from qkspike.locations import build_cache_dir
    monkeypatch.delenv("QKSPIKE_BUILD_DIR", raising=False)
    here = build_cache_dir()
    monkeypatch.chdir(tmp_path)
    assert build_cache_dir() == here and tmp_path not in here.parents
    monkeypatch.setenv("QKSPIKE_BUILD_DIR", str(tmp_path / "mine"))
    assert build_cache_dir() == tmp_path / "mine"
