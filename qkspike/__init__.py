"""QKSpike: a spiking transformer for speech commands, from PyTorch to a verified FPGA accelerator.

The Python API, one namespace (each call imports what it needs, so ``import qkspike`` is
instant and none of it needs PyTorch)::

    import qkspike
    model = qkspike.load_model()                        # the shipped FSDD model
    result = qkspike.classify("my_recording.wav", model)  # any WAV/FLAC/OGG, any rate
    print(result.label, result.margin, result.logits)
    x = qkspike.features("my_recording.wav", model)     # uint8 (frames, mels): what the core reads
    golden = qkspike.run_golden(model, x)               # integers only, bit-exact with the RTL
    rtl = qkspike.simulate(model, [x], lanes=16)        # Verilator: bit-exactness and cycles
    qkspike.write_verilog("out/", model, lanes=16)      # qkspike_core.v + its parameter JSON
    report = qkspike.synthesize(model, part="xc7a35t")  # Yosys resources (minutes)

The packages behind it: :mod:`qkspike.pymodel` (model file, front end, golden model,
training), :mod:`qkspike.hw` (Amaranth), :mod:`qkspike.sim` (Verilator/cocotb),
:mod:`qkspike.scripts` (the ``qkspike`` command).
"""

from __future__ import annotations

from ._api import (classify, features, load_model, open_dataset, read_audio, run_golden,
                   simulate, synthesize, write_verilog)

__all__ = ["load_model", "read_audio", "features", "classify", "run_golden", "simulate",
           "write_verilog", "synthesize", "open_dataset"]
