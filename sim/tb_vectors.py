"""cocotb testbench for combinational blocks: apply input vectors, record the outputs.

Job: ``vectors`` (each a dict port -> flat integer), ``outputs`` (port names to record).
Results: ``outputs`` (per vector, a dict port -> flat integer). The host compares them with
the golden model; the testbench holds no numerics.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import Timer

from .common import load_job, port_unsigned, save_result


@cocotb.test()
async def apply_vectors(dut):
    job = load_job()
    recorded = []
    for vector in job["vectors"]:
        for port, value in vector.items():
            getattr(dut, port).value = int(value)
        await Timer(1, unit="ns")
        recorded.append({port: port_unsigned(getattr(dut, port)) for port in job["outputs"]})
    save_result({"outputs": recorded})
