"""Bit-accurate numpy golden model: integers only, no simulator and no PyTorch imports."""
