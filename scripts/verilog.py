"""``qkspike verilog``: the full core (or the standalone neuron array) as one Verilog file,
with a JSON of its parameters."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from qkspike.pymodel.golden.contract import ResetMode

from .cli import UsageError
from .options import (add_lanes, add_model, check_at_least_one, check_lanes, lanes_label,
                      make_out_folder)


def add_arguments(parser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--block", choices=["core", "neuron-array"], default="core",
                        help="what to write (default: %(default)s)")
    add_model(parser)
    add_lanes(parser)
    array = parser.add_argument_group("neuron-array options")
    array.add_argument("--channels", type=int, default=64, help="(default: %(default)s)")
    array.add_argument("--levels", type=int, default=3, help="D (default: %(default)s)")
    array.add_argument("--reset", choices=[mode.value for mode in ResetMode], default="soft")
    array.add_argument("--leak-shift", type=int, default=2,
                       help="k in v - (v >> k); -1 for no leak (default: %(default)s)")
    array.add_argument("--threshold", type=int, default=64, help="(default: %(default)s)")
    array.add_argument("--state-bits", type=int, default=16, help="(default: %(default)s)")
    array.add_argument("--input-bits", type=int, default=16, help="(default: %(default)s)")


def core_parameters(core) -> dict:
    """What a user of the Verilog needs to know: ports, widths, memories, program, counters."""
    program = core.program
    descriptors = []
    for d in program.descriptors:
        entry = asdict(d)
        entry["source"], entry["post"] = d.source.name, d.post.name
        descriptors.append(entry)
    return {
        "design": "qkspike_core", "model": str(core.model.path), "lanes": core.lanes,
        "engine_lanes": core.engine_lanes, "feature_port_bytes": core.feature_port_bytes,
        "frame_beats": core.frame_beats,
        "classes": list(core.model.config.classes), "widths": program.widths,
        "sizes": program.sizes,
        "memory_bits": program.memory_bits(),
        "layer_overhead_cycles": core.layer_overhead, "head_overhead_cycles": core.head_overhead,
        "stats": core.stats, "program": descriptors,
        "ports": {"i": f"feature beats, {core.frame_beats} a frame: i__payload = {{last, "
                       f"data[{8 * core.feature_port_bytes - 1}:0]}}, the frame's lowest mel "
                       f"in data[7:0], padding past n_mels ignored",
                  "o": "logits: o__payload = {last, index, logit}",
                  "stat_select/stat_value": "counter index -> 32-bit value (see stats)"},
    }


def write_core(model_path, lanes: int, out: Path, engine_lanes=None) -> dict:
    from amaranth.back import verilog

    from qkspike.hw.core import Core
    from qkspike.pymodel import modelfile

    model = modelfile.load(model_path)
    make_out_folder(out)     # before elaborating: a bad --out fails fast
    core = Core(model, lanes=lanes, engine_lanes=engine_lanes)
    info = core_parameters(core)
    (out / "qkspike_core.v").write_text(verilog.convert(core, name="qkspike_core"))
    (out / "qkspike_core.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def write_neuron_array(args) -> dict:
    from amaranth.back import verilog

    from qkspike.hw.neuron import NeuronArray
    from qkspike.pymodel.golden.neuron import NeuronParams

    check_at_least_one(("--channels", args.channels), ("--levels", args.levels),
                       ("--threshold", args.threshold), ("--state-bits", args.state_bits),
                       ("--input-bits", args.input_bits))
    make_out_folder(args.out)     # before elaborating: a bad --out fails fast
    params = NeuronParams([args.threshold] * args.channels, levels=args.levels,
                          leak_shift=None if args.leak_shift < 0 else args.leak_shift,
                          reset=args.reset, state_bits=args.state_bits)
    array = NeuronArray(params, lanes=args.lanes, input_bits=args.input_bits)
    (args.out / "neuron_array.v").write_text(verilog.convert(array, name="neuron_array"))
    info = {"design": "neuron_array", "lanes": array.lanes, "channels": params.channels,
            "chunks": array.chunks, "levels": params.levels, "reset": params.reset.value,
            "leak_shift": params.leak_shift, "state_bits": params.state_bits,
            "input_bits": array.input_bits, "spike_bits": params.spike_bits,
            "latency_cycles": array.latency}
    (args.out / "neuron_array.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def run(args) -> int:
    if args.block == "neuron-array" and args.engine_lanes is not None:
        raise UsageError("--engine-lanes is for the core; a neuron array has no engine")
    check_lanes(args)
    if args.block == "neuron-array":
        info = write_neuron_array(args)
        print(f"wrote {args.out / 'neuron_array.v'} and neuron_array.json: "
              f"{info['channels']} neurons, P={info['lanes']}, D={info['levels']}, "
              f"latency {info['latency_cycles']} cycles")
        return 0
    info = write_core(args.model, args.lanes, args.out, args.engine_lanes)
    bits = info["memory_bits"]
    print(f"wrote {args.out / 'qkspike_core.v'} and qkspike_core.json: {lanes_label(args)}, "
          f"{len(info['program'])} layers, {bits['weights']} weight bits, accumulators "
          f"{info['widths']['accumulator']} bits")
    return 0
