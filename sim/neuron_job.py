"""Host side of the neuron-array checks: stimulus, golden expectation, and both simulators.

The golden model computes the expected spikes here, once; the Amaranth simulator and the
cocotb testbench (:mod:`sim.tb_neuron`) only drive the design and compare.
"""

from __future__ import annotations

import itertools
from typing import Optional, Sequence

import numpy as np
from amaranth.back import verilog

from qkspike.hw.neuron import NeuronArray
from qkspike.pymodel.golden import contract
from qkspike.pymodel.golden.neuron import NeuronPopulation

from . import pysim
from .compare import first_mismatch
from .runner import VerilatorBuild, build_verilog, run_testbench
from .streams import PATTERNS

__all__ = ["chunk_vectors", "neuron_stimulus", "neuron_job", "run_pysim",
           "build_neuron_array", "run_verilator"]


def chunk_vectors(values: Sequence[int], lanes: int) -> list[list[int]]:
    """Split one time step's channel values into chunks of ``lanes``, zero-padding the last."""
    return contract.split_into_lanes(values, lanes).tolist()


def neuron_stimulus(array: NeuronArray, *, steps: int = 40, seed: int = 0) -> list[np.ndarray]:
    """Two utterances of input currents: edge cases first, then random data.

    Edge cases: the most positive and most negative input, inputs at and one below
    ``j * theta`` for every level ``j``, a charge followed by a long run of leak only, and
    enough repeated maxima to drive the state into saturation.
    """
    rng = np.random.default_rng(seed)
    p = array.params
    n = p.channels
    theta = np.asarray(p.thresholds)
    lo, hi = -(1 << (array.input_bits - 1)), (1 << (array.input_bits - 1)) - 1
    edge = [np.full(n, hi), np.full(n, lo), np.full(n, hi), np.full(n, hi), np.full(n, hi)]
    for level in range(1, p.levels + 2):
        edge += [np.clip(level * theta, lo, hi), np.clip(level * theta - 1, lo, hi)]
    edge += [np.clip(theta * p.levels // 2 + 1, lo, hi)] + [np.zeros(n, dtype=np.int64)] * 24
    edge += [np.full(n, lo)] * 3 + [np.zeros(n, dtype=np.int64)] * 8
    scale = max(1, int(theta.max()) * (p.levels + 1))
    random = [rng.integers(max(lo, -scale), min(hi, scale) + 1, size=n) for _ in range(steps)]
    return [np.stack(edge).astype(np.int64), np.stack(random).astype(np.int64)]


def neuron_job(array: NeuronArray, utterances: Sequence[np.ndarray], *,
               valid: str = "idle_1_in_4", ready: str = "idle_1_in_4") -> dict:
    """The testbench job: input chunks and the golden model's expected spike chunks."""
    if valid not in PATTERNS or ready not in PATTERNS:
        raise ValueError(f"patterns must be among {sorted(PATTERNS)}")
    population = NeuronPopulation(array.params)
    jobs = []
    for steps in utterances:
        population.clear()
        inputs, expected = [], []
        for step in steps:
            inputs += chunk_vectors(step, array.lanes)
            expected += chunk_vectors(population.step(step), array.lanes)
        jobs.append({"inputs": inputs, "expected": expected})
    return {"lanes": array.lanes, "input_bits": array.input_bits,
            "spike_bits": array.params.spike_bits, "utterances": jobs,
            "valid": valid, "ready": ready}


def run_pysim(array: NeuronArray, job: dict) -> Optional[str]:
    """Run ``job`` on the Amaranth simulator; the first mismatch, or ``None`` if all agree."""
    utterances = job["utterances"]
    received: list[list] = []

    async def drive(ctx):
        valid = itertools.cycle(PATTERNS[job["valid"]])
        for number, utterance in enumerate(utterances):
            # `clear` is only legal with nothing in flight: wait for the previous utterance.
            while len(received) < number:
                await ctx.tick()
            ctx.set(array.clear, 1)
            await ctx.tick()
            ctx.set(array.clear, 0)
            await pysim.send(ctx, array.i, utterance["inputs"], valid)

    async def collect(ctx):
        ready = itertools.cycle(PATTERNS[job["ready"]])
        for utterance in utterances:
            received.append(await pysim.receive(ctx, array.o, len(utterance["expected"]), ready))

    pysim.simulate(array, drive, collect)
    for number, (utterance, got) in enumerate(zip(utterances, received)):
        problem = first_mismatch(f"utterance {number} spikes (vector = time step x chunk)",
                                 utterance["expected"], got)
        if problem:
            return problem
    return None


def build_neuron_array(array: NeuronArray) -> VerilatorBuild:
    """Verilator build of ``array`` (cached by its Verilog)."""
    p = array.params
    leak = "-".join(map(str, p.leak_shift)) if isinstance(p.leak_shift, tuple) else p.leak_shift
    label = (f"P{array.lanes}-N{p.channels}-D{p.levels}-{p.reset.value}-"
             f"k{leak}-V{p.state_bits}-U{array.input_bits}")
    return build_verilog(verilog.convert(array, name="neuron_array"), "neuron_array",
                         label=label)


def run_verilator(array: NeuronArray, job: dict, **kwargs) -> dict:
    """Run ``job`` on the Verilator build of ``array``; raises ``SimulationFailure`` on mismatch."""
    return run_testbench(build_neuron_array(array), "qkspike.sim.tb_neuron", job, **kwargs)
