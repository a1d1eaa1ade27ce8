"""The board top through its UART pins (Verilator), with the host's protocol code."""

import pytest

from qkspike.pymodel.evaluate import extract_features
from qkspike.pymodel.golden import network
from qkspike.hw.link import CRC
from qkspike.pymodel.golden.link import (Command, ErrorCode, FrameParser, Reply, crc8, decode_info,
                                 decode_result, decode_stats, frame)
from qkspike.sim.board_job import run_board
from tests.conftest import fsdd_test_clips


def test_the_host_crc_is_the_gateware_crc():
    """The protocol's pure-Python CRC-8 and amaranth.lib.crc (which the gateware uses),
    built from the same parameters, agree; and it is the catalogue's CRC-8/SMBUS."""
    from amaranth.lib.crc import catalog
    for data in (b"", b"\x00", b"123456789", bytes(range(256))):
        assert crc8(data) == CRC.compute(data) == catalog.CRC8_SMBUS(data_width=8).compute(data)
    assert crc8(b"123456789") == 0xF4     # the catalogue's check value


def test_frames_round_trip_and_checksum():
    raw = frame(Command.LOAD, bytes(range(40)))
    assert raw[0] == 0xA5 and raw[-1] == crc8(raw[1:-1]) == CRC.compute(raw[1:-1])
    parser = FrameParser()
    assert parser.feed(b"\x00\x13" + raw) == [(Command.LOAD, bytes(range(40)))]
    broken = raw[:-1] + bytes([raw[-1] ^ 1])
    assert parser.feed(broken)[0][0] is None


def corrupted_frames(capacity):
    """Bad input and the ERROR each must get (``None``: a normal reply to what follows)."""
    good = frame(Command.LOAD, bytes(capacity))
    return [
        (good[:-1] + bytes([good[-1] ^ 0x5A]), ErrorCode.CHECKSUM),
        (good[:50], ErrorCode.TIMEOUT),                   # truncated: stops arriving
        (frame(Command.LOAD, bytes(10)), ErrorCode.LENGTH),
        (frame(0x55), ErrorCode.COMMAND),                 # unknown command
        (frame(Command.RUN), ErrorCode.NO_FEATURES),      # nothing loaded yet
        (b"\x13\x37\x00" + frame(Command.PING), None),     # junk is skipped
    ]


def check_replies(model, features, bad, result, lanes: int = 16):
    """Every reply of a board run: the right error for each bad frame (and its LED), PING's
    info, and per clip the golden model's logits and class, twice (RUN, then READ)."""
    for (_, error), reply, leds in zip(bad, result["corrupt"], result["leds"]):
        if error is None:
            assert reply["code"] == Reply.INFO
        else:
            assert (reply["code"], reply["payload"]) == (Reply.ERROR, bytes([error]))
            assert leds >> 3 & 1, "the error LED must light"

    info = decode_info(Reply.INFO, result["ping"]["payload"]) if result["ping"]["code"] == \
        Reply.INFO else pytest.fail(f"PING answered {result['ping']}")
    assert (info.classes, info.frames, info.mels, info.lanes) == (10, 100, 40, lanes)

    classes = len(model.config.classes)
    for x, replies in zip(features, result["clips"]):
        assert replies["load"]["code"] == Reply.ACK
        got = decode_result(replies["run"]["code"], replies["run"]["payload"], classes)
        golden = network.run(model, x, trace=False)
        assert got.logits == golden.logits.tolist()
        assert got.predicted == golden.predicted
        assert got.cycles > got.compute_cycles > 0
        again = decode_result(replies["read"]["code"], replies["read"]["payload"], classes)
        assert again == got
    stats = decode_stats(result["stats"]["code"], result["stats"]["payload"])
    assert len(stats) == info.stats and stats[3] == model.config.steps


@pytest.mark.verilator
def test_board_uart_end_to_end_on_real_clips(shipped_model):
    model = shipped_model
    clips = fsdd_test_clips()[::100]        # 3 clips, 3 speakers
    data = extract_features(clips, model.frontend, progress=False)
    capacity = model.config.frames * model.config.n_mels
    bad = corrupted_frames(capacity)
    result = run_board(model, data.features, [raw for raw, _ in bad])
    check_replies(model, data.features, bad, result)


@pytest.mark.verilator
def test_ecpix5_board_top_on_its_pins(shipped_model):
    """The ECPIX-5 bitstream's own netlist (Amaranth's platform output: pin buffers, the
    power-on reset, active-low RGB LEDs), its UART pins driven at 8 clocks per bit: the same
    protocol checks on a real clip."""
    model = shipped_model
    clips = fsdd_test_clips()[150:151]
    data = extract_features(clips, model.frontend, progress=False)
    bad = corrupted_frames(model.config.frames * model.config.n_mels)
    result = run_board(model, data.features, [raw for raw, _ in bad], board="ecpix5-85")
    check_replies(model, data.features, bad, result)


@pytest.mark.verilator
def test_link_pads_frames_to_whole_beats():
    """A model whose frame is not whole beats of the feature port (6 mels, 4-byte beats):
    the link lays the LOAD's bytes out as the core's padded beats, and the logits are
    the golden model's."""
    from tests.conftest import exported_random_model, random_features, small_config

    _, model = exported_random_model(small_config(channels=8, heads=2, frames=8, n_mels=6,
                                                  classes=("a", "b")), seed=21)
    features = random_features(2, model.config, seed=21)
    result = run_board(model, features, [], lanes=4)
    for x, replies in zip(features, result["clips"]):
        got = decode_result(replies["run"]["code"], replies["run"]["payload"], 2)
        golden = network.run(model, x, trace=False)
        assert (got.logits, got.predicted) == (golden.logits.tolist(), golden.predicted)
