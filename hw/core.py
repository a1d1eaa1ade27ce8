"""The QKSpike core: the whole spiking transformer on one sparse datapath.

Golden twin: :mod:`pymodel.golden.network`. Tests: ``tests/test_core.py``.
"""

from __future__ import annotations

from typing import Optional

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from qkspike.pymodel.golden import contract
from qkspike.pymodel.modelfile import IntegerModel
from qkspike.pymodel.targets import DEFAULT_FEATURE_PORT_BYTES, MAX_FEATURE_PORT_BYTES

from .checks import check_int, reject
from .descriptor import project
from .head import LogitsOutput, SpikeCounts, logit_layout
from .postprocess import PostProcessor
from .program import FitError, Program, Source, compile_program
from .qk_attention import QKAttention
from .sequencer import Sequencer
from .sparse_engine import SparseEngine

__all__ = ["Core", "feature_layout", "frame_beats", "STAT_NAMES", "stat_names"]

#: Counters before the per-layer ones, in ``stat_select`` order.
STAT_NAMES = ("cycles", "compute_cycles", "frames", "steps")


def stat_names(program: Program) -> list[str]:
    """Every counter readable on ``stat_select``/``stat_value``, in index order."""
    names = list(STAT_NAMES)
    for d in program.descriptors:
        names += [f"{d.name}.events", f"{d.name}.cycles"]
    return names


def feature_layout(port_bytes: int = DEFAULT_FEATURE_PORT_BYTES) -> data.StructLayout:
    """One beat of the feature stream: ``port_bytes`` features (``data[0]`` the lowest mel
    of the beat) and ``last``, set on the utterance's final beat."""
    return data.StructLayout({
        "data": data.ArrayLayout(unsigned(contract.FEATURE_BITS), port_bytes), "last": 1})


def frame_beats(n_mels: int, port_bytes: int) -> int:
    """Beats per frame: ``ceil(n_mels / port_bytes)``; the last beat's bytes past ``n_mels``
    are padding, which the core ignores."""
    return -(-n_mels // port_bytes)


class Core(wiring.Component):
    """The accelerator core: feature bytes in, logits out, cycle counters readable after.

    Per frame it takes ``n_mels`` feature bytes, ``feature_port_bytes`` a beat (``last``
    set on the utterance's final beat); every ``stride`` frames it runs the step program on
    the sparse engine (encoder, then per block Q/K, attention-gated output projection,
    MLP); after the last frame, the head. The next frame's beats stream in while a step
    runs. When the logits have left, ``done`` pulses, the counters hold their values until
    the next utterance starts, and the neuron states, counts and window are already reset
    for it.

    Parameters
    ----------
    model : IntegerModel
        The network; compiled for ``lanes`` (see :mod:`hw.program`).
    lanes : int
        ``P``: neuron (post-processing) lanes, and accumulator lanes unless ``engine_lanes``.
    engine_lanes : int, optional
        ``E``: accumulator lanes of the sparse engine, a multiple of ``P`` (default ``P``).
        Each finished chunk of ``E`` accumulators reaches the neurons as ``E / P`` slices of
        ``P``, one a cycle: a multiply-accumulate lane (one DSP) costs far less logic than a
        neuron lane, so a wide engine behind narrow neurons cuts the walk's cycles for
        little area.
    feature_port_bytes : int
        Feature bytes per beat of ``i`` (default
        :data:`pymodel.targets.DEFAULT_FEATURE_PORT_BYTES`): a frame is
        :func:`frame_beats` beats, one a cycle, so the input of an utterance takes
        ``frames * ceil(n_mels / feature_port_bytes)`` cycles at full speed.
    weight_rows, neuron_rows : int, optional
        Memory depths (default: exactly what the model needs). A model that does not fit
        raises :class:`hw.program.FitError` naming what is short.

    Members
    -------
    i : In(stream.Signature(feature_layout(feature_port_bytes)))
        Feature beats, frame after frame; a frame's beats follow each other with no idle
        cycle between frames while the window is free.
    o : Out(stream.Signature(logit_layout))
        ``classes`` logits per utterance, class 0 first, ``last`` on the final one.
    predicted : Out(unsigned)
        The argmax (ties to the lowest index), valid from ``done``.
    done : Out(1)
        One cycle at the end of each utterance.
    busy : Out(1)
        An utterance is in progress.
    waiting : Out(1)
        Every frame received so far is processed and no partial frame is in: the core
        waits for the next frame. The decision latency is measured from here
        (:mod:`sim.harness`): with frames arriving in real time the core is waiting
        whenever the utterance's last frame arrives.
    stat_select : In(unsigned), stat_value : Out(32)
        Counters, by index (:func:`stat_names`): total cycles (first beat accepted to
        ``done``), compute cycles (layers and head running), frames, time steps, then per
        layer its events (non-zero inputs walked) and cycles.
    trace_valid, trace_layer, trace_step, trace_chunk, trace_spikes, trace_residual : Out
        Every chunk the post-processor writes, for the testbench to compare layer by layer
        with the golden trace (unconnected on a board: synthesis removes it).

    Latency
    -------
    A layer with ``nnz`` non-zero inputs takes ``walk_cycles + overhead`` cycles
    (:func:`pymodel.golden.sparse_engine.walk_cycles`: ``max(1, nnz) * ceil(C_out/E)`` when
    no chunk has more slices than ``max(1, nnz)``); :attr:`layer_overhead` is the fixed
    part (``start`` + engine latency + post-processing latency + the idle check). Between
    time steps whose frames are in, the step's last layer hands the engine to the next
    step's encoder as soon as its walk has issued its last event, and the encoder walks
    while that layer's last events are accumulated and its last chunk drains: per layer
    and step, exactly
    :func:`pymodel.golden.sparse_engine.step_layer_cycles` (checked in
    ``tests/test_core.py``). The head (whose input is the last layer's spike counts) and
    the decision latency's last step start only after the layer before them is done.
    """

    def __init__(self, model: IntegerModel, *, lanes: int,
                 weight_rows: Optional[int] = None, neuron_rows: Optional[int] = None,
                 engine_lanes: Optional[int] = None,
                 feature_port_bytes: int = DEFAULT_FEATURE_PORT_BYTES):
        if not isinstance(model, IntegerModel):
            reject(self, TypeError(f"model must be an IntegerModel, not {type(model).__name__}"))
        check_int(self, "lanes", lanes, 1, 256)
        check_int(self, "feature_port_bytes", feature_port_bytes, 1, MAX_FEATURE_PORT_BYTES)
        engine_lanes = lanes if engine_lanes is None else engine_lanes
        check_int(self, "engine_lanes", engine_lanes, lanes, 256)
        try:
            self.program = compile_program(model, lanes, weight_rows=weight_rows,
                                           neuron_rows=neuron_rows, engine_lanes=engine_lanes)
        except FitError as error:
            reject(self, error)
        self.model = model
        self.lanes = lanes
        self.engine_lanes = engine_lanes
        self.feature_port_bytes = feature_port_bytes
        program = self.program
        self.frame_beats = frame_beats(program.sizes["n_mels"], feature_port_bytes)
        w, s = program.widths, program.sizes
        self.classes = s["classes"]
        self.stats = stat_names(program)
        self.logit_shape = logit_layout(w["accumulator"], self.classes)
        super().__init__({
            "i": In(stream.Signature(feature_layout(feature_port_bytes))),
            "o": Out(stream.Signature(self.logit_shape)),
            "predicted": Out(self.logit_shape["index"].shape),
            "done": Out(1),
            "busy": Out(1),
            "waiting": Out(1),
            "stat_select": In(range(len(self.stats))),
            "stat_value": Out(32),
            "trace_valid": Out(1),
            "trace_layer": Out(range(len(program.descriptors))),
            "trace_step": Out(16),
            "trace_chunk": Out(range(max(2, s["max_chunks"]))),
            "trace_spikes": Out(data.ArrayLayout(unsigned(w["spike"]), lanes)),
            "trace_residual": Out(data.ArrayLayout(signed(w["residual"]), lanes)),
        })

    #: Cycles of a step layer beyond its walk: start (1) + engine latency (3) +
    #: post-processing latency (3). The idle check overlaps the post-processor's last stage:
    #: the next layer starts the cycle after that stage writes the last chunk's spikes.
    layer_overhead = 1 + SparseEngine.latency + PostProcessor.latency
    #: The head's logits skip the neuron pipeline: start + engine latency + idle check.
    head_overhead = 1 + SparseEngine.latency + 1

    @property
    def decision_overhead(self) -> int:
        """Decision latency beyond the layer cycles it waits for (the last time step's
        layers, when the last frame completes a stride, and the head): the edge that takes
        the last beat (1), the frame entering the window (1), the sequencer's ``Wait`` seeing
        the work (1), ``Send`` (1), the logits' output latency and one cycle per class, and
        ``Done`` (1). Checked against the harness in ``tests/test_core.py``."""
        return 5 + LogitsOutput.latency + len(self.model.config.classes)

    def elaborate(self, platform):
        m = Module()
        program, lanes = self.program, self.lanes
        w, s = program.widths, program.sizes
        mels, kernel, channels = s["n_mels"], s["kernel"], s["channels"]

        m.submodules.sequencer = seq = Sequencer(program)
        m.submodules.engine = engine = SparseEngine(
            lanes=self.engine_lanes, out_lanes=lanes, entries=s["walk_entries"],
            spike_bits=w["spike"], accumulator_bits=w["accumulator"], bias_bits=w["bias"],
            weight_rows=program.weight_rows, bias_rows=program.bias_rows,
            max_chunks=s["engine_chunks"], max_outputs=max(s["spike_entries"], s["classes"]))
        m.submodules.post = post = PostProcessor(program)
        # The head mask may take as many cycles as the Q/K layer writes its last Q spikes
        # chunks before its last K spikes (chunks are at least a cycle apart): it has then
        # settled by the time the attention layer snapshots K (the cycle after the last K
        # chunk is written). Two at most: head sums registered, then the compare.
        last_q_chunk, last_k_chunk = (channels - 1) // lanes, (2 * channels - 1) // lanes
        m.submodules.attention = attention = QKAttention(
            channels=channels, heads=s["heads"], spike_bits=w["spike"],
            latency=min(2, last_k_chunk - last_q_chunk))
        m.submodules.counts = counts = SpikeCounts(channels=channels, lanes=lanes,
                                                   spike_bits=w["spike"])
        m.submodules.logits = logits = LogitsOutput(
            classes=self.classes, lanes=lanes, accumulator_bits=w["accumulator"])
        d = seq.descriptor

        # --- input: a staging frame fills from the stream while the window is in use ----
        frame = data.ArrayLayout(unsigned(contract.FEATURE_BITS), mels)
        staging = Signal(frame)
        window = Signal(data.ArrayLayout(frame, kernel))   # window[j]: j frames ago
        # Beside every buffer the engine reads, a register of "this entry is not 0" flags,
        # written with the data: the engine's walk finds its first input at `start` from
        # these, without an 8-bit compare (or an adder) in front of its priority encoder.
        # The window's are computed as a frame moves in, from the staging registers: the
        # input stream (on a board, straight from the link's block RAM) feeds flip-flops
        # only, with no compare behind the RAM's slow clock-to-output.
        window_nonzero = Signal(data.ArrayLayout(mels, kernel))
        port_bytes, beats = self.feature_port_bytes, self.frame_beats
        beat = Signal(range(max(2, beats)))     # the next beat's place in its frame
        full, last = Signal(), Signal()
        closed = Signal()   # the utterance's last beat is in: the next waits for `done`
        moving = seq.frame_valid & seq.frame_ready      # the staged frame enters the window
        # The staging frame is free again in the cycle its frame moves into the window, so
        # the next frame's first beat enters then: frames follow each other without an idle
        # cycle (frame_ready is a decode of the sequencer's registers, not of the input).
        m.d.comb += self.i.ready.eq((~full | seq.frame_ready) & ~closed)
        accept = self.i.valid & self.i.ready
        with m.If(accept & self.i.payload.last):
            m.d.sync += closed.eq(1)
        with m.Elif(seq.done):
            m.d.sync += closed.eq(0)
        m.d.comb += [seq.frame_valid.eq(full), seq.frame_last.eq(last),
                     self.waiting.eq(seq.waiting & ~full & (beat == 0))]
        with m.If(moving):
            m.d.sync += [window[0].eq(staging), staging.eq(0), full.eq(0),
                         window_nonzero[0].eq(Cat(staging[f] != 0 for f in range(mels)))]
            m.d.sync += [window[j].eq(window[j - 1]) for j in range(1, kernel)]
            m.d.sync += [window_nonzero[j].eq(window_nonzero[j - 1]) for j in range(1, kernel)]
        # After the move above, so a beat taken in the same cycle lands in the fresh frame.
        with m.If(accept):
            with m.Switch(beat):
                for number in range(beats):
                    with m.Case(number):
                        for byte in range(port_bytes):
                            mel = number * port_bytes + byte
                            if mel < mels:      # the last beat's padding is ignored
                                m.d.sync += staging[mel].eq(self.i.payload.data[byte])
            # A `last` before the frame is full ends it: the missing bytes stay 0.
            with m.If((beat == beats - 1) | self.i.payload.last):
                m.d.sync += [full.eq(1), last.eq(self.i.payload.last), beat.eq(0)]
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        with m.If(seq.clear):
            m.d.sync += [window.eq(0), window_nonzero.eq(0)]

        # --- the spike buffer the post-processor writes, and the engine's input ----------
        spikes = Signal(data.ArrayLayout(unsigned(w["spike"]), s["spike_entries"]))
        spikes_nonzero = Signal(s["spike_entries"])
        for index in range(s["spike_entries"]):
            with m.If(post.out_valid & (post.out.chunk == index // lanes)):
                m.d.sync += [spikes[index].eq(post.out.spikes[index % lanes]),
                             spikes_nonzero[index].eq(post.out.spikes[index % lanes] != 0)]
        m.d.comb += [
            attention.q.eq(spikes.as_value()[:channels * w["spike"]]),
            attention.k.eq(spikes.as_value()[channels * w["spike"]:2 * channels * w["spike"]]),
            attention.theta.eq(d.theta_attn),
        ]
        sources = {
            Source.FEATURES: [window[j][f] for j in range(kernel) for f in range(mels)],
            Source.SPIKES: [spikes[i] for i in range(s["spike_entries"])],
            Source.ATTENTION: [attention.k_masked[i] for i in range(channels)],
            Source.COUNTS: [counts.counts[i] for i in range(channels)],
        }
        head_width = channels // s["heads"]
        nonzero_sources = {
            Source.FEATURES: [window_nonzero[j][f] for j in range(kernel) for f in range(mels)],
            Source.SPIKES: [spikes_nonzero[i] for i in range(s["spike_entries"])],
            # K's spike, kept where its head's Q sum reached the threshold.
            Source.ATTENTION: [attention.mask[i // head_width] & spikes_nonzero[channels + i]
                               for i in range(channels)],
            Source.COUNTS: [counts.nonzero[i] for i in range(channels)],
        }
        for index in range(s["walk_entries"]):
            with m.Switch(d.source):
                for source, values in sources.items():
                    if index < len(values):
                        with m.Case(source):
                            m.d.comb += [
                                engine.vector[index].eq(values[index]),
                                engine.nonzero[index].eq(nonzero_sources[source][index]
                                                         & seq.live_inputs[index]),
                            ]

        # --- engine, post-processing, head ---------------------------------------------
        post_side = self._post_side(m, seq, engine, post)
        m.d.comb += [
            engine.start.eq(seq.start),
            # Both layouts are sub-layouts of the sequencer's descriptor (hw/descriptor.py).
            engine.layer.eq(project(d, engine.layer_shape)),
            post.clear.eq(seq.clear),
            # Idle from the next cycle on: the last chunk, if any, is in the post-processor's
            # final stage, whose spikes and states are written at the end of this cycle.
            seq.layer_done.eq(~engine.busy & post.finishing),
            seq.engine_free.eq(~engine.walking),
            counts.add.eq(post.out_valid & post_side.count_spikes),
            counts.chunk.eq(post.out.chunk),
            counts.spikes.eq(post.out.spikes), counts.clear.eq(seq.clear),
            logits.write.eq(post.logits_valid), logits.chunk.eq(post.logits_chunk),
            logits.acc.eq(post.logits), logits.send.eq(seq.send_logits),
            seq.logits_done.eq(logits.done),
            self.predicted.eq(logits.predicted), self.done.eq(seq.done),
        ]
        wiring.connect(m, logits.o, wiring.flipped(self.o))

        # --- counters -------------------------------------------------------------------
        running = Signal()
        starting = accept & ~running          # the first beat of an utterance
        m.d.comb += self.busy.eq(running)
        with m.If(starting):
            m.d.sync += running.eq(1)
        with m.Elif(seq.done):
            m.d.sync += running.eq(0)
        counters = {name: Signal(32, name=f"stat_{name.replace('.', '_')}")
                    for name in self.stats}

        def count(name, condition, amount=1):
            """Zero at an utterance's first beat, then add ``amount`` whenever ``condition``."""
            with m.If(starting):
                m.d.sync += counters[name].eq(0)
            with m.Elif(condition):
                m.d.sync += counters[name].eq(counters[name] + amount)

        count("cycles", running)
        count("compute_cycles", seq.active | seq.send_logits | (logits.o.valid))
        count("frames", seq.frame_valid & seq.frame_ready)
        count("steps", seq.finish & (seq.layer == len(program.step) - 1))
        for index, desc in enumerate(program.descriptors):
            here = seq.layer == index
            count(f"{desc.name}.cycles", seq.active & here)
            # The walk is over when the layer finishes (even when handing over early).
            count(f"{desc.name}.events", seq.finish & here, engine.events)
        with m.Switch(self.stat_select):
            for index, name in enumerate(self.stats):
                with m.Case(index):
                    m.d.comb += self.stat_value.eq(counters[name])

        m.d.comb += [
            self.trace_valid.eq(post.out_valid), self.trace_layer.eq(post_side.layer),
            self.trace_step.eq(post_side.step), self.trace_chunk.eq(post.out.chunk),
            self.trace_spikes.eq(post.out.spikes), self.trace_residual.eq(post.out.residual),
        ]
        return m

    def _post_side(self, m, seq, engine, post):
        """The post-processor's own copy of its layer's descriptor fields, and the gate on
        the engine's output that keeps one layer at a time in the post-processor.

        Normally the copy loads in the cycle a layer starts, when the post-processor is
        idle. When the sequencer hands the engine to the next step's encoder early
        (:class:`hw.sequencer.Sequencer`), the step's last layer is still draining: the
        copy keeps its fields until that layer's last slice is in the post-processor's final
        stage, then loads the encoder's; the encoder's chunks wait in the engine's output
        register until then and one cycle more, while the post-processor's registered
        decodes of the new fields settle. Returns a view with ``count_spikes``, ``layer``
        and ``step`` (for the spike counts and the trace)."""
        d = seq.descriptor
        control = Signal(post.control_shape)
        side = Signal(data.StructLayout({"count_spikes": 1, "layer": seq.layer.shape(),
                                         "step": seq.step.shape()}))
        # The copy's layer has sent its last slice (true when nothing runs).
        all_in = Signal(init=1)
        newer = Signal()      # the sequencer has started a layer the copy does not hold yet
        load = (seq.start | newer) & all_in & post.finishing
        last_in = engine.o.valid & engine.o.ready & engine.o.payload.last
        all_in_next = Mux(load, 0, all_in | last_in)
        newer_next = ~load & (newer | seq.start)
        # Closed while a started layer waits for the copy, and the cycle after it loads (the
        # decodes settle). A register: the gate feeds the engine's stall, whose fan-out to
        # the walk and the memories' enables is a critical path.
        hold = Signal()
        m.d.sync += [all_in.eq(all_in_next), newer.eq(newer_next),
                     hold.eq((all_in_next & newer_next) | load)]
        with m.If(load):
            m.d.sync += [control.eq(project(d, post.control_shape)),
                         side.count_spikes.eq(d.count_spikes), side.layer.eq(seq.layer),
                         side.step.eq(seq.step)]
        m.d.comb += [
            post.control.eq(control),
            engine.o.ready.eq(~hold),
            post.i.valid.eq(engine.o.valid & ~hold),
            post.i.payload.eq(engine.o.payload),
        ]
        return side
