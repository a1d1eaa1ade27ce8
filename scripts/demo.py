"""``qkspike demo``: generate the neuron array, simulate it in Verilator and the Amaranth
simulator, and check both against the golden model bit for bit."""

from __future__ import annotations

import time

from hw.neuron import NeuronArray
from pymodel.golden.neuron import NeuronParams
from sim import neuron_job


def add_arguments(parser) -> None:
    parser.add_argument("--lanes", type=int, default=8, help="P (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="stimulus seed (default: 0)")


def run(args) -> int:
    params = NeuronParams([1, 7, 3, 50, 12, 9, 2, 31, 5, 6, 4] * 3, levels=3, leak_shift=2,
                          reset="soft", state_bits=12)
    array = NeuronArray(params, lanes=args.lanes, input_bits=10)
    job = neuron_job.neuron_job(array, neuron_job.neuron_stimulus(array, seed=args.seed))
    vectors = sum(len(u["expected"]) for u in job["utterances"])
    print(f"neuron array: {params.channels} neurons, P={array.lanes}, D={params.levels}, "
          f"soft reset, leak shift {params.leak_shift}; {vectors} chunk vectors of stimulus")

    started = time.monotonic()
    problem = neuron_job.run_pysim(array, job)
    print(f"Amaranth simulator: {'MISMATCH: ' + problem if problem else 'bit-exact'} "
          f"({time.monotonic() - started:.1f} s)")

    build = neuron_job.build_neuron_array(array)
    print(f"Verilator build: {'built' if build.built_now else 'cached'} "
          f"({build.build_seconds:.1f} s) in {build.directory}")
    started = time.monotonic()
    result = neuron_job.run_verilator(array, job, quiet=True)
    print(f"Verilator + cocotb: bit-exact on {result['chunks']} chunk vectors "
          f"({time.monotonic() - started:.1f} s)")
    return 1 if problem else 0
