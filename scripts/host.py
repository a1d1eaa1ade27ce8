"""``qkspike host``: classify WAV files on a board over its serial port."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from qkspike.pymodel.golden.link import (Command, FrameParser, Info, LinkError, Reply, Result,
                                 decode_info, decode_result, decode_stats, expect, frame)

from .cli import UsageError
from .options import add_model, check_at_least_one


class BoardClient:
    """The host's side of a session over any byte transport with pyserial's ``write`` and
    ``read(size)`` (a ``serial.Serial``, or :class:`GoldenBoard`)."""

    def __init__(self, transport, *, classes: int):
        self.transport = transport
        self.classes = classes
        self._parser = FrameParser()
        self._pending: list[tuple[Optional[int], bytes]] = []

    def request(self, code: int, payload: bytes = b"") -> tuple[Optional[int], bytes]:
        self.transport.write(frame(code, payload))
        while not self._pending:
            data = self.transport.read(256)
            if not data:
                raise LinkError("no reply from the board (timed out)")
            self._pending.extend(self._parser.feed(data))
        return self._pending.pop(0)

    def info(self) -> Info:
        return decode_info(*self.request(Command.PING))

    def classify(self, features: bytes) -> Result:
        code, payload = self.request(Command.LOAD, features)
        expect(code, payload, Reply.ACK)
        return decode_result(*self.request(Command.RUN), self.classes)

    def stats(self) -> list[int]:
        return decode_stats(*self.request(Command.STATS))



def add_arguments(parser) -> None:
    parser.add_argument("wavs", nargs="+", type=Path, metavar="FILE",
                        help="recordings to classify (any WAV, FLAC or OGG; see `classify`)")
    parser.add_argument("--port", required=True,
                        help="serial device of the board, e.g. /dev/ttyUSB1 (Arty A7: the "
                             "second FTDI channel)")
    parser.add_argument("--baud", type=int, default=115200, help="(default: %(default)s)")
    add_model(parser)
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for a reply (default: %(default)s)")


def open_port(port: str, baud: int, timeout: float):
    """The serial port (pyserial); tests replace this with a software board."""
    import serial
    try:
        return serial.Serial(port, baud, timeout=timeout)
    except serial.SerialException as error:
        raise UsageError(f"cannot open {port}: {error}") from None


def run(args) -> int:
    from qkspike.pymodel import modelfile
    from qkspike.pymodel.audio import AudioError
    from qkspike.pymodel.classify import recording_features
    from qkspike.sim.simulate import clock_note

    check_at_least_one(("--baud", args.baud))
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, not {args.timeout}")
    model = modelfile.load(args.model)
    classes = model.config.classes
    board = BoardClient(open_port(args.port, args.baud, args.timeout), classes=len(classes))
    try:
        info = board.info()
    except LinkError as error:
        raise UsageError(f"{args.port}: {error}") from None
    expected = (len(classes), model.config.frames, model.config.n_mels)
    if (info.classes, info.frames, info.mels) != expected:
        raise UsageError(f"the board runs a model with {info.classes} classes, {info.frames} "
                         f"frames x {info.mels} bands, not this model's {expected}")
    print(f"board: protocol {info.version}, P={info.lanes}, {info.classes} classes")
    failures = 0
    for path in args.wavs:
        try:
            # The same utterance finding as `qkspike classify`, so both see the same integers.
            x, _, _, warnings = recording_features(path, model.frontend)
        except AudioError as error:
            print(f"skipped: {error}", file=sys.stderr)
            failures += 1
            continue
        for warning in warnings:
            print(f"warning: {path}: {warning}", file=sys.stderr)
        try:
            result = board.classify(x.tobytes())
        except LinkError as error:
            print(f"{path}: {error}", file=sys.stderr)
            failures += 1
            continue
        print(f"{path}: class {classes[result.predicted]}  cycles {result.cycles} "
              f"({clock_note(result.cycles)}; {result.compute_cycles} computing)  "
              f"logits {result.logits}")
    return 1 if failures else 0
