"""The layer sequencer: runs the compiled program (one descriptor per layer).

Golden twin: the layer order of :mod:`pymodel.golden.network` (``step_layers``, then the
head). Tests: ``tests/test_sequencer.py``.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .descriptor import descriptor_layout, descriptor_value
from .program import Program

__all__ = ["Sequencer"]


class Sequencer(wiring.Component):
    """Runs the step program every ``stride`` frames and the head after the last frame.

    Parameters
    ----------
    program : Program

    Members
    -------
    frame_valid : In(1)
        A complete frame waits at the input.
    frame_last : In(1)
        It is the utterance's last frame.
    frame_ready : Out(1)
        The frame may enter the encoder window this cycle.
    descriptor : Out(descriptor_layout)
        The current layer's descriptor; steady while it runs.
    live_inputs : Out(walk_entries)
        Bit ``i`` set when ``i < descriptor.c_in``: a register loaded with the descriptor,
        so the engine's ``start`` masks its inputs without 128 comparators on its path.
    layer : Out(unsigned)
        Its index: step layers ``0..n-1``, then the head at ``n``.
    start : Out(1)
        One cycle: snapshot the input vector and start the engine on ``descriptor``.
    active : Out(1)
        ``layer`` is running this cycle (from ``start`` until ``layer_done``).
    waiting : Out(1)
        Nothing to do until the next frame: every frame taken so far is processed (no
        complete stride waits for its step, the utterance has not ended).
    layer_done : In(1)
        The engine and the post-processor are idle from the next cycle on.
    engine_free : In(1)
        The engine's walk is free: the layer has issued its last event (it may still be on
        its way through the engine's read and MAC stages, and its last chunk's slices on
        their way to the post-processor).
    finish : Out(1)
        The current layer ends this cycle: ``layer_done``, or the step's last layer handing
        the engine to the next step's encoder early (below).
    send_logits : Out(1), logits_done : In(1)
        Stream the head's logits out; they have gone.
    step : Out(16)
        Time steps run so far in this utterance.
    done : Out(1)
        One cycle when the utterance is finished.
    clear : Out(1)
        The same cycle: reset neuron states, spike counts and the encoder window.

    Latency
    -------
    Per layer: one ``start`` cycle, then the layer runs until ``layer_done``; the next
    layer starts the cycle after. Except between time steps: the next step's encoder reads
    the window, not the spikes of the layer before it, so when its frames are in it starts
    the cycle after the step's last layer has issued its last event (``engine_free``);
    that layer's last events are accumulated and its slices drain through the
    post-processor while the encoder walks (the core holds the encoder's first chunk until
    they are through).
    """

    def __init__(self, program: Program):
        self.program = program
        self.descriptor_shape = descriptor_layout(program)
        self.layers = len(program.descriptors)
        super().__init__({
            "frame_valid": In(1), "frame_last": In(1), "frame_ready": Out(1),
            "descriptor": Out(self.descriptor_shape),
            "live_inputs": Out(program.sizes["walk_entries"],
                               init=(1 << program.descriptors[0].c_in) - 1),
            "layer": Out(range(self.layers)),
            "start": Out(1), "active": Out(1), "waiting": Out(1), "layer_done": In(1),
            "engine_free": In(1), "finish": Out(1),
            "send_logits": Out(1), "logits_done": In(1),
            "step": Out(16), "done": Out(1), "clear": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        program = self.program
        steps_layers = len(program.step)
        rom = Array(self.descriptor_shape.const(descriptor_value(d)).as_value()
                    for d in program.descriptors)
        # The descriptor is a register, loaded with the next layer's entry in the cycle
        # `layer` changes: no ROM lookup sits in front of the engine and the neurons (the
        # path place-and-route found longest), and no cycle is added.
        current = Signal(self.descriptor_shape,
                         init=descriptor_value(program.descriptors[0]))
        m.d.comb += self.descriptor.eq(current)

        entries = program.sizes["walk_entries"]
        live_rom = Array(Const((1 << d.c_in) - 1, entries) for d in program.descriptors)

        def go_to_layer(index):
            m.d.sync += [self.layer.eq(index), current.eq(rom[index]),
                         self.live_inputs.eq(live_rom[index])]

        stride = program.sizes["stride"]
        phase = Signal(range(max(2, stride)))      # frames since the last complete stride
        pending = Signal()      # a complete stride of frames waits for its time step
        ending = Signal()       # the utterance's last frame is in
        closing = Signal()      # the head, the logits and `done` are under way

        # Frames enter the window whenever it is free: not while a complete stride waits for
        # its encoder snapshot. So the next frames load while the current step computes.
        m.d.comb += self.frame_ready.eq(~pending & ~ending & ~closing)
        with m.If(self.start & (self.layer == 0)):
            m.d.sync += pending.eq(0)    # the encoder has taken its snapshot of the window
        with m.If(self.frame_valid & self.frame_ready):
            m.d.sync += [phase.eq(Mux(phase == stride - 1, 0, phase + 1)),
                         ending.eq(self.frame_last)]
            with m.If(phase == stride - 1):
                m.d.sync += pending.eq(1)

        def next_work():
            """After a step (or while waiting): the next step, the head, or wait."""
            with m.If(pending):
                go_to_layer(0)
                m.next = "Start"
            with m.Elif(ending):
                # A partial stride at the end has no time step of its own.
                go_to_layer(steps_layers)
                m.d.sync += closing.eq(1)
                m.next = "Start"
            with m.Else():
                m.next = "Wait"

        with m.FSM():
            with m.State("Wait"):
                m.d.comb += self.waiting.eq(~pending & ~ending)
                next_work()
            with m.State("Start"):
                m.d.comb += [self.start.eq(1), self.active.eq(1)]
                m.next = "Run"
            with m.State("Run"):
                last_of_step = self.layer == steps_layers - 1
                # The hand-over: only to a step whose frames are in (the head reads this
                # layer's spike counts, so it waits for `layer_done`).
                hand_over = last_of_step & pending & self.engine_free
                m.d.comb += [self.active.eq(1), self.finish.eq(self.layer_done | hand_over)]
                with m.If(self.finish):
                    with m.If(self.layer == steps_layers):
                        m.next = "Send"
                    with m.Elif(last_of_step):
                        m.d.sync += self.step.eq(self.step + 1)
                        next_work()
                    with m.Else():
                        go_to_layer(self.layer + 1)
                        m.next = "Start"
            with m.State("Send"):
                m.d.comb += self.send_logits.eq(1)
                m.next = "Output"
            with m.State("Output"):
                with m.If(self.logits_done):
                    m.next = "Done"
            with m.State("Done"):
                m.d.comb += [self.done.eq(1), self.clear.eq(1)]
                m.d.sync += [phase.eq(0), ending.eq(0), closing.eq(0), self.step.eq(0)]
                go_to_layer(0)
                m.next = "Wait"
        return m
