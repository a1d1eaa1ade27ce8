"""``qkspike verilog``: write a block's Verilog and its parameters to a folder."""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog

from hw.neuron import NeuronArray
from pymodel.golden.neuron import NeuronParams


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--block", choices=["neuron-array"], default="neuron-array",
                        help="which design to write (default: %(default)s)")
    parser.add_argument("--lanes", type=int, default=8, help="P, lanes (default: %(default)s)")
    parser.add_argument("--channels", type=int, default=64,
                        help="neurons in the array (default: %(default)s)")
    parser.add_argument("--levels", type=int, default=3, help="D (default: %(default)s)")
    parser.add_argument("--reset", choices=["soft", "hard"], default="soft")
    parser.add_argument("--leak-shift", type=int, default=2,
                        help="k in v - (v >> k); -1 for no leak (default: %(default)s)")
    parser.add_argument("--threshold", type=int, default=64,
                        help="threshold of every channel (default: %(default)s)")
    parser.add_argument("--state-bits", type=int, default=16, help="(default: %(default)s)")
    parser.add_argument("--input-bits", type=int, default=16, help="(default: %(default)s)")


def write_neuron_array(args) -> dict:
    params = NeuronParams([args.threshold] * args.channels, levels=args.levels,
                          leak_shift=None if args.leak_shift < 0 else args.leak_shift,
                          reset=args.reset, state_bits=args.state_bits)
    array = NeuronArray(params, lanes=args.lanes, input_bits=args.input_bits)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "neuron_array.v"
    path.write_text(verilog.convert(array, name="neuron_array"))
    info = {"design": "neuron_array", "verilog": path.name, "lanes": array.lanes,
            "channels": params.channels, "chunks": array.chunks, "levels": params.levels,
            "reset": params.reset.value, "leak_shift": params.leak_shift,
            "state_bits": params.state_bits, "input_bits": array.input_bits,
            "spike_bits": params.spike_bits, "latency_cycles": array.latency}
    (args.out / "neuron_array.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def run(args) -> int:
    info = write_neuron_array(args)
    print(f"wrote {args.out / info['verilog']} and {args.out / 'neuron_array.json'}: "
          f"{info['channels']} neurons, P={info['lanes']}, D={info['levels']}, "
          f"latency {info['latency_cycles']} cycles")
    return 0
