"""The layer sequencer against the golden layer order, with a stand-in engine."""


import numpy as np
import pytest

from qkspike.hw.program import compile_program
from qkspike.hw.sequencer import Sequencer
from qkspike.pymodel.golden.network import step_layers
from qkspike.sim import pysim
from tests.conftest import exported_random_model, small_config


@pytest.fixture(scope="module")
def program():
    _, model = exported_random_model(small_config())
    return compile_program(model, 4)


def run(program, frame_counts, seed=0, frame_gap=0, hand_over=False):
    """Offer frames back to back, or ``frame_gap`` idle cycles apart; the stand-in engine
    takes 1-6 cycles per layer and, with ``hand_over``, says its accumulators are free
    some cycles before the layer is done."""
    dut = Sequencer(program)
    rng = np.random.default_rng(seed)
    log = {"starts": [], "done": 0, "accepted_at_encoder": [], "clears": 0,
           "waiting_when_offered": [], "start_after_waiting": 0, "waiting_while_active": 0,
           "early_starts": [], "finishes": 0}

    async def frames(ctx):
        for count in frame_counts:
            for frame in range(count):
                if frame_gap:
                    ctx.set(dut.frame_valid, 0)
                    await ctx.tick().repeat(frame_gap)
                    log["waiting_when_offered"].append(ctx.get(dut.waiting))
                ctx.set(dut.frame_valid, 1)
                ctx.set(dut.frame_last, frame == count - 1)
                await ctx.tick().until(dut.frame_ready)
                log.setdefault("accepted", 0)
                log["accepted"] += 1
            ctx.set(dut.frame_valid, 0)
            while log["done"] < len(log.setdefault("utterances", [])) + 1:
                await ctx.tick()
            log["utterances"].append(count)

    async def engine(ctx):
        busy_for, free_for, was_waiting = 0, 0, 0
        for _ in range(20_000):
            ctx.set(dut.layer_done, busy_for == 0)
            ctx.set(dut.engine_free, free_for == 0)
            ctx.set(dut.logits_done, 0)
            _, _, start, layer, step, send, done, clear, live, c_in, waiting, active, \
                finish = await ctx.tick().sample(
                    dut.start, dut.layer, dut.step, dut.send_logits, dut.done, dut.clear,
                    dut.live_inputs, dut.descriptor.c_in, dut.waiting, dut.active,
                    dut.finish)
            log["finishes"] += finish
            # `waiting` promises that nothing starts before another frame comes in (a frame
            # taken in a waiting cycle starts its step two cycles later, not one).
            log["start_after_waiting"] += bool(start and was_waiting)
            log["waiting_while_active"] += bool(waiting and active)
            was_waiting = waiting
            if start and busy_for > 0:
                log["early_starts"].append((layer, step))
            busy_for, free_for = max(0, busy_for - 1), max(0, free_for - 1)
            if start:
                log["starts"].append((layer, step))
                log.setdefault("live_inputs", []).append((live, (1 << c_in) - 1))
                if layer == 0:
                    log["accepted_at_encoder"].append(log.get("accepted", 0))
                busy_for = int(rng.integers(1, 7))
                free_for = int(rng.integers(0, busy_for)) if hand_over else busy_for
            if send:
                ctx.set(dut.logits_done, 1)
                await ctx.tick()
                ctx.set(dut.logits_done, 0)
            log["done"] += done
            log["clears"] += clear
            if log["done"] == len(frame_counts):
                return

    pysim.simulate(dut, frames, engine)
    return log


def test_step_program_then_head_in_golden_order(program):
    layers = len(program.step)
    log = run(program, [20])
    steps = 20 // program.sizes["stride"]
    expected = [(l, t) for t in range(steps) for l in range(layers)] + [(layers, steps)]
    assert log["starts"] == expected
    # The engine's input mask matches the descriptor at every start.
    assert all(live == want for live, want in log["live_inputs"])
    assert {want for _, want in log["live_inputs"]} == {(1 << d.c_in) - 1
                                                       for d in program.descriptors}
    assert [d.name for d in program.step] == step_layers(small_config())
    assert log["done"] == log["clears"] == 1
    assert log["early_starts"] == [] and log["finishes"] == len(expected)


def test_no_frame_overtakes_the_encoder_snapshot(program):
    log = run(program, [20])
    stride = program.sizes["stride"]
    # When step t's encoder starts, exactly the frames of steps 0..t are in.
    assert log["accepted_at_encoder"] == [stride * (t + 1) for t in range(20 // stride)]


def test_partial_stride_at_the_end_and_back_to_back_utterances(program):
    layers = len(program.step)
    log = run(program, [7, 4], seed=3)
    first = [(l, t) for t in range(3) for l in range(layers)] + [(layers, 3)]
    second = [(l, t) for t in range(2) for l in range(layers)] + [(layers, 2)]
    assert log["starts"] == first + second
    assert log["done"] == 2


def test_waiting_only_when_every_frame_taken_is_processed(program):
    """With frames far apart (as in real time) the sequencer says `waiting` before every
    frame; it never says so while a layer runs or the cycle before one starts."""
    for frames in (8, 7):      # the last frame completes a stride; it does not
        log = run(program, [frames], frame_gap=80)
        assert log["waiting_when_offered"] == [1] * frames
        assert log["start_after_waiting"] == log["waiting_while_active"] == 0
    back_to_back = run(program, [8])
    assert back_to_back["start_after_waiting"] == back_to_back["waiting_while_active"] == 0


def test_the_step_hands_the_engine_to_the_next_encoder_early(program):
    """When the engine's accumulators are free before a layer is done, only the step's last
    layer lets the next step's encoder start then, and only once that step's frames are
    in; the layer order and the frames each encoder sees do not change, and every layer
    finishes exactly once."""
    layers, stride = len(program.step), program.sizes["stride"]
    steps = 20 // stride
    log = run(program, [20], seed=5, hand_over=True)
    assert log["starts"] == [(l, t) for t in range(steps) for l in range(layers)] \
        + [(layers, steps)]
    assert log["early_starts"] and {layer for layer, _ in log["early_starts"]} == {0}
    assert all(step > 0 for _, step in log["early_starts"])
    assert log["accepted_at_encoder"] == [stride * (t + 1) for t in range(steps)]
    assert log["finishes"] == len(log["starts"])
    # Frames far apart: every step waits for its frames, so none starts early.
    slow = run(program, [8], frame_gap=80, hand_over=True)
    assert slow["early_starts"] == [] and slow["finishes"] == len(slow["starts"])
