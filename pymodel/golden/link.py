"""The board link's framed protocol, as the host speaks it: golden twin of :mod:`hw.link`.

Every frame, in both directions::

    0xA5 | command | length (2 bytes, little endian) | payload (length bytes) | CRC-8

The CRC is CRC-8/SMBUS (polynomial 0x07, the ATM HEC polynomial) over command, length and
payload: :data:`CRC_PARAMETERS` here, which the gateware hands to ``amaranth.lib.crc``
(``tests/test_board.py`` checks that both compute the same). Requests:

=========  ======  =============================================  =======================
request    code    payload                                        reply
=========  ======  =============================================  =======================
PING       0x00    none                                           INFO
LOAD       0x01    one utterance's features: frames x mels bytes  ACK
RUN        0x02    none                                           RESULT
READ       0x03    none                                           RESULT (the last one)
STATS      0x04    none                                           STATS
=========  ======  =============================================  =======================

Replies set bit 7 of the request's code; ``ERROR`` (0xEE) carries one error code. A frame
with a wrong CRC, a wrong length, an unknown command, or one that stops arriving for
``timeout`` cycles gets an ERROR reply, and the board waits for the next 0xA5.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Optional

__all__ = ["SYNC", "Command", "Reply", "ErrorCode", "CRC_PARAMETERS", "crc8", "frame",
           "FrameParser", "LinkError", "Info", "Result", "decode_info", "decode_result",
           "decode_stats", "expect", "PROTOCOL_VERSION", "GoldenBoard"]

SYNC = 0xA5
PROTOCOL_VERSION = 1
#: CRC-8/SMBUS, as ``amaranth.lib.crc.Algorithm``'s keywords: the gateware builds its CRC
#: from these, this module computes with them (MSB first, so no reflection is implemented).
CRC_PARAMETERS = {"crc_width": 8, "polynomial": 0x07, "initial_crc": 0x00,
                  "reflect_input": False, "reflect_output": False, "xor_output": 0x00}


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS of ``data``: :data:`CRC_PARAMETERS`, bit by bit."""
    width, polynomial = CRC_PARAMETERS["crc_width"], CRC_PARAMETERS["polynomial"]
    crc, top = CRC_PARAMETERS["initial_crc"], 1 << (width - 1)
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ polynomial if crc & top else crc << 1) & ((1 << width) - 1)
    return crc ^ CRC_PARAMETERS["xor_output"]


class Command(enum.IntEnum):
    PING = 0x00
    LOAD = 0x01
    RUN = 0x02
    READ = 0x03
    STATS = 0x04


class Reply(enum.IntEnum):
    INFO = 0x80
    ACK = 0x81
    RESULT = 0x82
    RESULT_AGAIN = 0x83
    STATS = 0x84
    ERROR = 0xEE


class ErrorCode(enum.IntEnum):
    CHECKSUM = 1       # the CRC did not match
    LENGTH = 2         # wrong payload length for the command
    COMMAND = 3        # unknown command
    NO_FEATURES = 4    # RUN or READ before a successful LOAD / RUN
    TIMEOUT = 5        # the frame stopped arriving part way (truncated)


class LinkError(Exception):
    """The board answered with an ERROR frame, or with something unexpected."""


def frame(code: int, payload: bytes = b"") -> bytes:
    """One frame: sync, code, little-endian length, payload, CRC-8 over all but the sync."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a frame")
    body = bytes([code]) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes([SYNC]) + body + bytes([crc8(body)])


class FrameParser:
    """Incremental decoder: feed bytes, collect ``(code, payload)`` frames.

    Bytes before a sync byte are skipped; a frame whose CRC fails is reported as
    ``(None, body)`` so the caller can tell garbage from silence.
    """

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Optional[int], bytes]]:
        self._buffer += data
        frames = []
        while True:
            start = self._buffer.find(SYNC)
            if start < 0:
                self._buffer.clear()
                return frames
            del self._buffer[:start]
            if len(self._buffer) < 4:
                return frames
            length = self._buffer[2] | self._buffer[3] << 8
            if len(self._buffer) < 5 + length:
                return frames
            body = bytes(self._buffer[1:4 + length])
            checksum = self._buffer[4 + length]
            del self._buffer[:5 + length]
            if crc8(body) == checksum:
                frames.append((body[0], body[3:]))
            else:
                frames.append((None, body))


@dataclass(frozen=True)
class Info:
    version: int
    classes: int
    frames: int
    mels: int
    lanes: int
    stats: int


@dataclass(frozen=True)
class Result:
    predicted: int
    logits: list[int]
    cycles: int
    compute_cycles: int


def expect(code: Optional[int], payload: bytes, *wanted: int) -> bytes:
    if code == Reply.ERROR:
        detail = ErrorCode(payload[0]).name if payload and payload[0] in \
            ErrorCode._value2member_map_ else payload.hex()
        raise LinkError(f"the board answered ERROR {detail}")
    if code not in wanted:
        raise LinkError(f"unexpected reply {code!r} ({payload.hex()[:32]})")
    return payload


def decode_info(code: Optional[int], payload: bytes) -> Info:
    return Info(*struct.unpack("<BBHBBB", expect(code, payload, Reply.INFO)))


def decode_result(code: Optional[int], payload: bytes, classes: int) -> Result:
    payload = expect(code, payload, Reply.RESULT, Reply.RESULT_AGAIN)
    if len(payload) != 1 + 4 * classes + 8:
        raise LinkError(f"RESULT of {len(payload)} bytes, expected {1 + 4 * classes + 8}")
    logits = list(struct.unpack(f"<{classes}i", payload[1:1 + 4 * classes]))
    cycles, compute = struct.unpack("<II", payload[1 + 4 * classes:])
    return Result(payload[0], logits, cycles, compute)


def decode_stats(code: Optional[int], payload: bytes) -> list[int]:
    payload = expect(code, payload, Reply.STATS)
    return list(struct.unpack(f"<{len(payload) // 4}I", payload))


class GoldenBoard:
    """A software board that speaks the protocol with the golden model behind it.

    The reference for :class:`hw.link.LinkController`'s replies (cycle counts excepted: it
    has no clock and reports 0). Transport API as pyserial's: ``write`` and ``read``.
    """

    def __init__(self, model, *, lanes: int = 16):
        from . import network   # noqa: PLC0415  (the model runs only when asked)

        self._network = network
        self.model = model
        cfg = model.config
        self.capacity = cfg.frames * cfg.n_mels
        self.info = struct.pack("<BBHBBB", PROTOCOL_VERSION, len(cfg.classes), cfg.frames,
                                cfg.n_mels, lanes, 4 + 2 * (len(model.layers)))
        self._parser = FrameParser()
        self._out = bytearray()
        self._features: Optional[bytes] = None
        self._result: Optional[bytes] = None

    def _error(self, code: ErrorCode) -> bytes:
        return frame(Reply.ERROR, bytes([code]))

    def _answer(self, code: Optional[int], payload: bytes) -> bytes:
        if code is None:
            return self._error(ErrorCode.CHECKSUM)
        if code == Command.PING:
            return frame(Reply.INFO, self.info)
        if code == Command.LOAD:
            if len(payload) != self.capacity:
                self._features = None
                return self._error(ErrorCode.LENGTH)
            self._features = payload
            return frame(Reply.ACK)
        if code == Command.RUN:
            if payload:
                return self._error(ErrorCode.LENGTH)
            if self._features is None:
                return self._error(ErrorCode.NO_FEATURES)
            import numpy as np
            cfg = self.model.config
            x = np.frombuffer(self._features, dtype=np.uint8).reshape(cfg.frames, cfg.n_mels)
            result = self._network.run(self.model, x, trace=False)
            self._result = bytes([result.predicted]) + struct.pack(
                f"<{len(result.logits)}i", *result.logits) + struct.pack("<II", 0, 0)
            return frame(Reply.RESULT, self._result)
        if code == Command.READ:
            if self._result is None:
                return self._error(ErrorCode.NO_FEATURES)
            return frame(Reply.RESULT_AGAIN, self._result)
        if code == Command.STATS:
            return frame(Reply.STATS, bytes(4 * self.info[-1]))
        return self._error(ErrorCode.COMMAND)

    def write(self, data: bytes) -> int:
        for code, payload in self._parser.feed(bytes(data)):
            self._out += self._answer(code, payload)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out, self._out = bytes(self._out[:size]), self._out[size:]
        return out
