"""QKSpike: a spiking transformer for speech commands, from PyTorch to a verified FPGA accelerator."""
