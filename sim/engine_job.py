"""Host side of the sparse-engine Verilator check (cocotb side: :mod:`sim.tb_sparse_engine`)."""

from __future__ import annotations

from amaranth.back import verilog

from qkspike.hw.sparse_engine import SparseEngine

from .runner import build_verilog, run_testbench

__all__ = ["run_verilator"]


def run_verilator(engine: SparseEngine, jobs: list[dict], *, ready: str = "full") -> dict:
    """Run ``jobs`` (layer, vector, expected chunks) back to back; raises on a mismatch."""
    label = (f"P{engine.lanes}-O{engine.out_lanes}-N{engine.entries}-A{engine.accumulator_bits}-"
             f"W{len(engine.weight_rows)}")
    build = build_verilog(verilog.convert(engine, name="sparse_engine"), "sparse_engine",
                          label=label)
    job = {"lanes": engine.out_lanes, "accumulator_bits": engine.accumulator_bits,
           "layer_fields": [(name, field.width, field.offset)
                            for name, field in engine.layer_shape],
           "chunk_bits": engine.result_shape["chunk"].width,
           "jobs": jobs, "ready": ready}
    return run_testbench(build, "qkspike.sim.tb_sparse_engine", job, quiet=True)
