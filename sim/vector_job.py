"""Host side of :mod:`sim.tb_vectors`: run a combinational component's vectors in Verilator."""

from __future__ import annotations

from amaranth.back import verilog

from .runner import build_verilog, run_testbench

__all__ = ["run_vectors"]


def run_vectors(component, name: str, label: str, vectors: list[dict],
                outputs: list[str]) -> list[dict]:
    """Apply ``vectors`` (port -> flat int) to ``component``'s Verilog; return the outputs."""
    build = build_verilog(verilog.convert(component, name=name), name, label=label)
    return run_testbench(build, "qkspike.sim.tb_vectors", {"vectors": vectors, "outputs": outputs},
                         quiet=True)["outputs"]
