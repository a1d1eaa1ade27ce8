"""QKSpike model side: front end, datasets, PyTorch model, export and the golden model."""
