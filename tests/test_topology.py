"""The topology table: one source for the layer order, the data flow and the shapes."""

import pytest

from qkspike.hw.program import Post, Source, compile_program
from qkspike.pymodel import topology
from qkspike.pymodel.synthetic import random_model
from tests.conftest import small_config


def test_hardware_codes_cover_the_table():
    assert {m.name for m in Source} == {m.name for m in topology.Source}
    assert {m.name for m in Post} == {m.name for m in topology.Post}


@pytest.mark.parametrize("blocks", [1, 3])
def test_each_layer_reads_what_the_previous_one_wrote(blocks):
    config = small_config(blocks=blocks)
    layers = topology.layers(config)
    assert [lay.name for lay in layers][0] == "enc" and layers[-1].name == "head"
    for before, lay in zip(layers, layers[1:-1]):
        assert lay.input_group == before.output_group, lay.name
        written = topology.group_size(config, before.output_group)
        # Attention reads the K half of the Q/K spikes.
        halves = 2 if lay.source is topology.Source.ATTENTION else 1
        assert lay.c_in * halves == written, lay.name
    assert sum(lay.counts_spikes for lay in layers) == 1
    assert topology.groups(config)[-1] == "head"


def test_the_layer_program_follows_the_table():
    model = random_model(small_config(), seed=3)
    program = compile_program(model, 4)
    for d, lay in zip(program.descriptors, topology.layers(model.config)):
        assert (d.name, d.source.name, d.post.name, d.c_in, d.c_out) == \
            (lay.name, lay.source.name, lay.post.name, lay.c_in, lay.c_out)
        if lay.output_group is not None:
            assert d.neuron_base == program.neuron_bases[lay.output_group]


def test_channel_heads_follow_the_attention_heads():
    """Head h's Q and K channels are the ones the token mask sums for head h, so a per-head
    leak shift gives one head one time constant in both halves."""
    config = small_config(channels=8, heads=2, mlp_ratio=2)
    assert topology.channel_heads(config, "qk").tolist() == [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4
    assert topology.channel_heads(config, "attn_in").tolist() == [0] * 4 + [1] * 4
    assert topology.channel_heads(config, "hidden").tolist() == [0] * 8 + [1] * 8


def test_per_head_leak_shifts_reach_each_channel_and_its_lane():
    from qkspike.pymodel.model_config import NeuronConfig
    neurons = dict(small_config().neurons, qk=NeuronConfig(1, 1, "soft", (3, 0)))
    model = random_model(small_config(channels=4, heads=2, neurons=neurons), seed=2)
    shifts = model.neuron_params("b0_qk").leak_shift
    assert shifts == (3, 3, 0, 0, 3, 3, 0, 0)
    assert model.neuron_params("b0_attn_in").leak_shift == 1      # untouched: uniform
    program = compile_program(model, 4)
    base = program.neuron_bases["b0_qk"]
    assert program.leak_rows[base:base + 2].tolist() == [[3, 3, 0, 0], [3, 3, 0, 0]]
