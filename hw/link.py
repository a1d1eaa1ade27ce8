"""The board link: the framed, checksummed protocol between the UART and the core.

Golden twin: :mod:`pymodel.golden.link` (the host's side of the same protocol).
Tests: ``tests/test_board.py`` drives the board top through its UART pins with that code.
"""

from __future__ import annotations

import struct

from types import SimpleNamespace

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.crc import Algorithm, Processor
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden.link import (CRC_PARAMETERS, PROTOCOL_VERSION, SYNC, Command, ErrorCode,
                                 Reply)

from .checks import check_int
from .core import Core, feature_layout

#: The link's CRC, from the protocol's one definition.
CRC = Algorithm(**CRC_PARAMETERS)(data_width=8)

__all__ = ["LinkController"]


class LinkController(wiring.Component):
    """Parses request frames from the UART, runs the core, and answers with reply frames.

    A LOAD's payload goes into a feature buffer (one utterance, ``frames * mels`` bytes) as
    it arrives, laid out as the core's input beats (one row per beat, a frame's last row
    padded); only a frame whose CRC checks and whose length is right marks the buffer
    loaded, so RUN never sees a corrupted utterance. RUN streams the buffer into the core,
    collects the logits and the cycle counters, and answers RESULT. A frame that stops
    arriving for ``timeout`` cycles is answered with ERROR TIMEOUT; after any error the
    parser hunts for the next sync byte, so the board stays usable.

    Parameters
    ----------
    core : Core
        The core it serves (for its sizes and widths).
    timeout : int
        Cycles of silence inside a frame before it counts as truncated.

    Members
    -------
    rx : In(stream.Signature(8, always_ready=True)), tx : Out(stream.Signature(8))
        Bytes from and to the UART.
    feature : Out(stream.Signature(feature_layout(core.feature_port_bytes))),
    logit : In(stream.Signature(logit_layout, always_ready=True))
        To and from the core.
    core_done : In(1), core_predicted : In, stat_select : Out, stat_value : In(32)
        The core's end-of-utterance pulse, class and counters.
    loaded, running, error : Out(1)
        Status for the LEDs: a checked utterance is in the buffer; the core is running;
        the last frame was bad (until the next good one).
    """

    def __init__(self, core: Core, *, timeout: int):
        check_int(self, "timeout", timeout, 16)
        self.core_info = core
        self.timeout = timeout
        self.capacity = core.program.sizes["frames"] * core.program.sizes["n_mels"]
        self.mels = core.program.sizes["n_mels"]
        self.port_bytes = core.feature_port_bytes
        self.beats = core.program.sizes["frames"] * core.frame_beats
        self.classes = core.classes
        self.stat_count = len(core.stats)
        self.result_bytes = 1 + 4 * self.classes + 8
        self.info_bytes = struct.pack("<BBHBBB", PROTOCOL_VERSION, self.classes,
                                      core.program.sizes["frames"], core.program.sizes["n_mels"],
                                      core.lanes, self.stat_count)
        super().__init__({
            "rx": In(stream.Signature(8, always_ready=True)),
            "tx": Out(stream.Signature(8)),
            "feature": Out(stream.Signature(feature_layout(core.feature_port_bytes))),
            "logit": In(stream.Signature(core.logit_shape, always_ready=True)),
            "core_done": In(1),
            "core_predicted": In(core.logit_shape["index"].shape),
            "stat_select": Out(range(self.stat_count)),
            "stat_value": In(32),
            "loaded": Out(1), "running": Out(1), "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # One row per input beat, one write enable per byte: RUN then streams a beat a cycle.
        m.submodules.buffer = buffer = memory.Memory(shape=8 * self.port_bytes,
                                                     depth=self.beats, init=[])
        m.submodules.rx_crc = rx_crc = Processor(CRC)
        m.submodules.tx_crc = tx_crc = Processor(CRC)
        # What the receiver and the transmitter share: the reply being prepared, the result
        # registers, and whether the transmitter is idle.
        shared = SimpleNamespace(
            reply_code=Signal(8), reply_length=Signal(16), error_code=Signal(8),
            send=Signal(),      # pulse: start sending the prepared reply
            tx_idle=Signal(),   # the transmitter has nothing left to send
            logits=Signal(data.ArrayLayout(signed(32), self.classes)),
            predicted=Signal(8), cycles=Signal(32), compute=Signal(32), has_result=Signal())
        self._receive(m, shared, buffer.write_port(granularity=8), buffer.read_port(), rx_crc)
        self._keep_logits(m, shared)
        self._transmit(m, shared, tx_crc)
        return m

    def _reply(self, m, shared, code, length):
        """Prepare the reply ``code`` of ``length`` payload bytes and start sending it."""
        m.d.sync += [shared.reply_code.eq(code), shared.reply_length.eq(length)]
        m.d.comb += shared.send.eq(1)

    def _fail(self, m, shared, code):
        """Reply ERROR with ``code`` and light the error LED."""
        m.d.sync += [shared.error_code.eq(code), self.error.eq(1)]
        self._reply(m, shared, Reply.ERROR, 1)

    def _receive(self, m, shared, buffer_wr, buffer_rd, rx_crc):
        """Hunt, header, payload, CRC; then answer, or run the core on the buffer."""
        capacity = self.capacity
        tx_idle = shared.tx_idle
        predicted, cycles = shared.predicted, shared.cycles
        compute, has_result = shared.compute, shared.has_result

        def reply(code, length):
            self._reply(m, shared, code, length)

        def fail(code):
            self._fail(m, shared, code)

        command = Signal(8)
        length = Signal(16)
        received = Signal(16)
        silence = Signal(range(self.timeout + 1))
        byte = self.rx.payload
        got = self.rx.valid
        m.d.comb += [rx_crc.data.eq(byte)]
        beats, port_bytes = self.beats, self.port_bytes
        run_position = Signal(range(beats + 1))
        # Where a LOAD's next byte goes: row (beat), byte within the beat, mel within the frame.
        load_row = Signal(range(beats + 1))
        load_byte = Signal(range(max(2, port_bytes)))
        load_mel = Signal(range(max(2, self.mels)))
        stat_read = Signal(2)

        with m.If(got):
            m.d.sync += silence.eq(0)
        with m.Elif(silence != self.timeout):
            m.d.sync += silence.eq(silence + 1)

        def truncated():
            """A frame that stops arriving part way: answer TIMEOUT and hunt again."""
            with m.If(~got & (silence == self.timeout) & tx_idle):
                fail(ErrorCode.TIMEOUT)
                m.next = "Hunt"

        with m.FSM():
            with m.State("Hunt"):
                with m.If(got & (byte == SYNC)):
                    m.d.comb += rx_crc.start.eq(1)
                    m.next = "Command"
            with m.State("Command"):
                truncated()
                with m.If(got):
                    m.d.comb += rx_crc.valid.eq(1)
                    m.d.sync += command.eq(byte)
                    m.next = "LengthLow"
            with m.State("LengthLow"):
                truncated()
                with m.If(got):
                    m.d.comb += rx_crc.valid.eq(1)
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LengthHigh"
            with m.State("LengthHigh"):
                truncated()
                with m.If(got):
                    m.d.comb += rx_crc.valid.eq(1)
                    m.d.sync += [length[8:].eq(byte), received.eq(0), load_row.eq(0),
                                 load_byte.eq(0), load_mel.eq(0)]
                    with m.If(Cat(length[:8], byte) == 0):
                        m.next = "Checksum"
                    with m.Else():
                        m.next = "Payload"
                        # Writing the buffer invalidates what it held.
                        with m.If(command == Command.LOAD):
                            m.d.sync += self.loaded.eq(0)
            with m.State("Payload"):
                truncated()
                with m.If(got):
                    m.d.comb += rx_crc.valid.eq(1)
                    with m.If((command == Command.LOAD) & (received < capacity)):
                        m.d.comb += [buffer_wr.addr.eq(load_row),
                                     buffer_wr.data.eq(Cat(*[byte] * port_bytes)),
                                     buffer_wr.en.eq(1 << load_byte)]
                        # A frame's last byte ends its beat (the rest of that row is padding).
                        with m.If(load_mel == self.mels - 1):
                            m.d.sync += [load_mel.eq(0), load_byte.eq(0),
                                         load_row.eq(load_row + 1)]
                        with m.Elif(load_byte == port_bytes - 1):
                            m.d.sync += [load_mel.eq(load_mel + 1), load_byte.eq(0),
                                         load_row.eq(load_row + 1)]
                        with m.Else():
                            m.d.sync += [load_mel.eq(load_mel + 1), load_byte.eq(load_byte + 1)]
                    m.d.sync += received.eq(received + 1)
                    with m.If(received + 1 == length):
                        m.next = "Checksum"
            with m.State("Checksum"):
                truncated()
                with m.If(got):
                    m.d.comb += rx_crc.valid.eq(1)
                    m.next = "Check"
            with m.State("Check"):
                # match_detected shows the CRC register one cycle after the last byte; a
                # reply still going out is finished before the next one starts.
                with m.If(tx_idle):
                    m.next = "Hunt"
                    m.d.sync += self.error.eq(0)    # a good frame; fail() below overrides
                    self._answer(m, shared, rx_crc.match_detected, command, length,
                                 run_position)
            with m.State("Run"):
                # Stream the buffer into the core; collect its logits (below).
                m.d.comb += [buffer_rd.addr.eq(Mux(self.feature.valid & self.feature.ready,
                                                   run_position + 1, run_position))]
                with m.If(run_position == beats):
                    with m.If(self.core_done):
                        m.d.sync += [predicted.eq(self.core_predicted), stat_read.eq(0)]
                        m.next = "Counters"
                with m.Else():
                    m.d.comb += [self.feature.valid.eq(1),
                                 self.feature.payload.data.as_value().eq(buffer_rd.data),
                                 self.feature.payload.last.eq(run_position == beats - 1)]
                    with m.If(self.feature.ready):
                        m.d.sync += run_position.eq(run_position + 1)
            with m.State("Counters"):
                # Counter 0 is the total cycles, counter 1 the compute cycles.
                m.d.comb += self.stat_select.eq(stat_read)
                m.d.sync += stat_read.eq(stat_read + 1)
                with m.If(stat_read == 0):
                    m.d.sync += cycles.eq(self.stat_value)
                with m.Else():
                    m.d.sync += [compute.eq(self.stat_value), has_result.eq(1),
                                 self.running.eq(0)]
                    reply(Reply.RESULT, self.result_bytes)
                    m.next = "Hunt"


    def _answer(self, m, shared, crc_ok, command, length, run_position):
        """A complete frame: the reply it gets, or the start of a run (inside the receive
        FSM's ``Check`` state)."""
        capacity, has_result = self.capacity, shared.has_result

        def reply(code, length):
            self._reply(m, shared, code, length)

        def fail(code):
            self._fail(m, shared, code)

        with m.If(~crc_ok):
            fail(ErrorCode.CHECKSUM)
        with m.Elif(command == Command.PING):
            reply(Reply.INFO, len(self.info_bytes))
        with m.Elif(command == Command.LOAD):
            with m.If(length == capacity):
                m.d.sync += self.loaded.eq(1)
                reply(Reply.ACK, 0)
            with m.Else():
                fail(ErrorCode.LENGTH)
        with m.Elif(command == Command.RUN):
            with m.If(length != 0):
                fail(ErrorCode.LENGTH)
            with m.Elif(~self.loaded):
                fail(ErrorCode.NO_FEATURES)
            with m.Else():
                m.d.sync += [run_position.eq(0), self.running.eq(1)]
                m.next = "Run"
        with m.Elif(command == Command.READ):
            with m.If(has_result):
                reply(Reply.RESULT_AGAIN, self.result_bytes)
            with m.Else():
                fail(ErrorCode.NO_FEATURES)
        with m.Elif(command == Command.STATS):
            reply(Reply.STATS, 4 * self.stat_count)
        with m.Else():
            fail(ErrorCode.COMMAND)

    def _keep_logits(self, m, shared):
        """Logits come out of the core as it finishes; keep them for the RESULT reply."""
        with m.If(self.logit.valid):
            m.d.sync += shared.logits[self.logit.payload.index].eq(self.logit.payload.logit)

    def _transmit(self, m, shared, tx_crc):
        """Sync, code, length, payload, CRC: the prepared reply, byte by byte."""
        reply_code, reply_length, error_code = (shared.reply_code, shared.reply_length,
                                                shared.error_code)
        logits, predicted, cycles, compute = (shared.logits, shared.predicted, shared.cycles,
                                              shared.compute)
        send, tx_idle = shared.send, shared.tx_idle
        position = Signal(16)
        payload_byte = Signal(8)
        info = Array(Const(b, 8) for b in self.info_bytes)
        with m.Switch(reply_code):
            with m.Case(Reply.INFO):
                m.d.comb += payload_byte.eq(info[position[:3]])
            with m.Case(Reply.ERROR):
                m.d.comb += payload_byte.eq(error_code)
            with m.Case(Reply.RESULT, Reply.RESULT_AGAIN):
                # class, then each logit, the cycles and the compute cycles as 4 bytes, LE
                words = [logits[c] for c in range(self.classes)] + [cycles, compute]
                result_bytes = [predicted] + [Value.cast(w).word_select(k, 8)
                                              for w in words for k in range(4)]
                m.d.comb += payload_byte.eq(Array(result_bytes)[position])
            with m.Case(Reply.STATS):
                m.d.comb += [self.stat_select.eq(position[2:]),
                             payload_byte.eq(self.stat_value.word_select(position[:2], 8))]

        with m.FSM():
            with m.State("Idle"):
                m.d.comb += tx_idle.eq(1)
                with m.If(send):
                    m.next = "Sync"
            with m.State("Sync"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(SYNC),
                             tx_crc.start.eq(1)]
                with m.If(self.tx.ready):
                    m.next = "Code"
            for state, value, following in (("Code", reply_code, "LengthLow"),
                                            ("LengthLow", reply_length[:8], "LengthHigh"),
                                            ("LengthHigh", reply_length[8:], None)):
                with m.State(state):
                    m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(value),
                                 tx_crc.data.eq(value)]
                    with m.If(self.tx.ready):
                        m.d.comb += tx_crc.valid.eq(1)
                        if following:
                            m.next = following
                        else:
                            m.d.sync += position.eq(0)
                            m.next = "PayloadOrCrc"
            with m.State("PayloadOrCrc"):
                with m.If(position == reply_length):
                    m.next = "Crc"
                with m.Else():
                    m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(payload_byte),
                                 tx_crc.data.eq(payload_byte)]
                    with m.If(self.tx.ready):
                        m.d.comb += tx_crc.valid.eq(1)
                        m.d.sync += position.eq(position + 1)
            with m.State("Crc"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(tx_crc.crc)]
                with m.If(self.tx.ready):
                    m.next = "Idle"
