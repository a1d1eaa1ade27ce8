"""QKSpike gateware: Amaranth components of the spiking-transformer accelerator."""
