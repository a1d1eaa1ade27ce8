"""cocotb testbenches for the QKSpike gateware and the Verilator runner helper (sim.runner)."""
