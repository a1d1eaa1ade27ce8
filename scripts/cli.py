"""``qkspike``: one command, a subcommand per job. Each subcommand lives in its own module
with ``add_arguments(parser)`` and ``run(args)``; errors the user can fix print one line."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main", "UsageError"]

#: subcommand -> (module, one-line help)
COMMANDS = {
    "demo": ("qkspike.scripts.demo", "run the shipped example end to end and print what it measured"),
    "train": ("qkspike.scripts.train", "train the spiking transformer and export a model file"),
    "classify": ("qkspike.scripts.classify", "the class of any recording (WAV, FLAC, OGG; any "
                                             "rate, length, channels)"),
    "crossval": ("qkspike.scripts.crossval", "speaker-held-out cross-validation: one model per "
                                             "held-out speaker (a benchmark, hours)"),
    "compare": ("qkspike.scripts.compare", "is a candidate recipe's speaker-held-out accuracy "
                                           "over seeds not lower than the reference's?"),
    "sweep": ("qkspike.scripts.sweep", "design-space sweep of time steps, firing-rate penalty "
                                       "and lanes: accuracy, cycles, resources, Fmax (hours)"),
    "eval": ("qkspike.scripts.eval", "accuracy of a model file on a labelled data folder "
                                     "(golden model)"),
    "report": ("qkspike.scripts.report", "accuracy, plots, spike density, synaptic ops, energy estimate"),
    "simulate": ("qkspike.scripts.simulate", "the RTL under Verilator against the golden model, "
                                     "with cycles per inference"),
    "verilog": ("qkspike.scripts.verilog", "write the core's Verilog and a parameter JSON to a folder"),
    "synth": ("qkspike.scripts.synth", "Yosys resource report of the core for an Artix-7 part"),
    "timing": ("qkspike.scripts.timing", "post-route Fmax and critical paths on an ECP5 "
                                         "(open place-and-route), or an Artix-7 estimate"),
    "board": ("qkspike.scripts.board", "board build plan (Arty A7: Vivado) or bitstream "
                                       "(ECPIX-5: open ECP5 tools)"),
    "host": ("qkspike.scripts.host", "classify recordings on a board over its serial port"),
    "data": ("qkspike.scripts.data", "fetch the FSDD recordings, or say where they are read "
                                     "from"),
}


class UsageError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line, like every other QKSpike error (argparse's own
    print the usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("qkspike")
    except PackageNotFoundError:   # running from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="qkspike",
        description="QKSpike: a spiking transformer for speech commands, from PyTorch to a "
                    "verified FPGA accelerator.")
    parser.add_argument("--version", action="version", version=f"qkspike {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(module=module)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Line by line even into a file or a pipe, so that a log of a long run is never
    # behind (and nothing is lost if the run is killed).
    sys.stdout.reconfigure(line_buffering=True)
    try:
        return importlib.import_module(args.module).run(args) or 0
    except (UsageError, FileNotFoundError, ValueError) as error:
        print(f"qkspike {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"qkspike {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Python's docs recommend.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as error:
        # A file the user named cannot be written or read: an existing file given as an
        # output folder, a folder without permission, a full disk.
        where = f"{error.filename}: " if error.filename else ""
        print(f"qkspike {args.command}: error: {where}{error.strerror or error}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
