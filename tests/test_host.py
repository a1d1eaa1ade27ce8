"""``qkspike host`` against the software board (the golden twin of the link controller)."""

import pytest

from qkspike.pymodel.golden.link import Command, ErrorCode, GoldenBoard, LinkError, Reply
from qkspike.scripts import host
from qkspike.scripts.host import BoardClient
from qkspike.scripts.cli import main
from tests.conftest import fsdd_test_clips


def test_host_classifies_clips_and_reports_bad_files(monkeypatch, capsys, tmp_path,
                                                     shipped_model):
    monkeypatch.setattr(host, "open_port", lambda port, baud, timeout: GoldenBoard(
        shipped_model))
    clips = fsdd_test_clips()[:3]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nonsense")
    status = main(["host", "--port", "/dev/null", *[str(c.path) for c in clips], str(bad)])
    out, err = capsys.readouterr()
    assert status == 1                              # one file was bad; the others ran
    assert out.count("class ") == 3 and "skipped: " in err and "bad.wav" in err
    for clip in clips:
        assert f"{clip.path}: class " in out


def test_board_client_raises_on_error_replies(shipped_model):
    client = BoardClient(GoldenBoard(shipped_model), classes=10)
    with pytest.raises(LinkError, match="ERROR NO_FEATURES"):
        from qkspike.pymodel.golden.link import decode_result
        decode_result(*client.request(Command.RUN), 10)
    code, payload = client.request(Command.LOAD, bytes(7))
    assert (code, payload) == (Reply.ERROR, bytes([ErrorCode.LENGTH]))


def test_host_refuses_an_unopenable_port(capsys):
    assert main(["host", "--port", "/dev/no-such-port", "x.wav"]) == 2
    assert "cannot open /dev/no-such-port" in capsys.readouterr().err
