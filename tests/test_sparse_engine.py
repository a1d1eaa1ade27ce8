"""The spike-sparse engine against its golden twin, in the Amaranth simulator and Verilator."""

import itertools

import numpy as np
import pytest

from qkspike.hw.descriptor import ENGINE_FIELDS
from qkspike.hw.program import row_stride, weight_rows_for
from qkspike.hw.sparse_engine import SparseEngine
from qkspike.pymodel.golden import contract
from qkspike.pymodel.golden.sparse_engine import chunk_results, walk_cycles
from qkspike.sim import engine_job, pysim
from qkspike.sim.compare import first_mismatch
from qkspike.sim.streams import PATTERNS


def make_layers(lanes, seed=0):
    """Layers of several shapes in one weight memory, like a compiled program."""
    rng = np.random.default_rng(seed)
    shapes = [(24, 2 * lanes + 3, True), (20, lanes, False), (7, 3, False), (24, 1, True)]
    layers, weight_rows, bias_rows = [], [], []
    weight_base = bias_base = 0
    for c_in, c_out, wide in shapes:
        weights = rng.integers(-127, 128, size=(c_in, c_out))
        bias = rng.integers(-3000, 3000, size=c_out)
        rows, biases = weight_rows_for(weights, lanes), contract.split_into_lanes(bias, lanes)
        stride = row_stride(c_in)
        gap = -weight_base % stride            # blocks start at a multiple of their stride
        weight_rows.append(np.zeros((gap, lanes), dtype=np.int64))
        weight_base += gap
        layers.append({"c_in": c_in, "c_out": c_out, "wide": wide, "weights": weights,
                       "bias": bias, "weight_base": weight_base, "row_stride": stride,
                       "bias_base": bias_base, "chunks": len(biases)})
        weight_rows.append(rows)
        bias_rows.append(biases)
        weight_base += len(rows)
        bias_base += len(biases)
    return layers, np.concatenate(weight_rows), np.concatenate(bias_rows)


def vectors_for(layer, entries, rng, spike_levels=3):
    """Edge cases, then random vectors; entries past c_in hold junk the engine must ignore."""
    top = contract.FEATURE_MAX if layer["wide"] else spike_levels
    c_in = layer["c_in"]
    cases = [np.zeros(c_in), np.full(c_in, top), np.eye(c_in)[c_in - 1] * top,
             np.eye(c_in)[0]]
    worst = np.where(layer["weights"][:, 0] > 0, top, 0)       # drives output 0 to its max
    cases += [worst, top - worst]
    cases += [rng.integers(0, top + 1, c_in) * (rng.random(c_in) < 0.3) for _ in range(4)]
    out = []
    for case in cases:
        vector = rng.integers(0, 256, entries)                   # junk past c_in
        vector[:c_in] = case
        out.append(vector.astype(np.int64))
    return out


ENTRIES = 24


def make_engine(lanes, weight_rows, bias_rows, layers, out_lanes=None):
    worst = max(contract.accumulator_bits(l["weights"], l["bias"],
                                          255 if l["wide"] else 3) for l in layers)
    return SparseEngine(lanes=lanes, entries=ENTRIES, spike_bits=2, accumulator_bits=worst,
                        bias_bits=13, weight_rows=weight_rows, bias_rows=bias_rows,
                        max_chunks=max(l["chunks"] for l in layers), out_lanes=out_lanes)


def make_jobs(lanes, layers, seed, out_lanes=None):
    """Each layer's vectors with the golden results: chunks of ``out_lanes`` (default
    ``lanes``), the order the engine sends them in."""
    out_lanes = out_lanes or lanes
    jobs = []
    rng = np.random.default_rng(seed + 1)
    for layer in layers:
        for vector in vectors_for(layer, ENTRIES, rng):
            factors = vector[:layer["c_in"]]
            jobs.append({
                "layer": {k: int(layer[k]) for k in ENGINE_FIELDS},
                "vector": vector.tolist(),
                # The engine's `nonzero` input: which inputs below c_in are not 0.
                "nonzero": sum(1 << i for i, value in enumerate(factors) if value),
                "expected": chunk_results(factors, layer["weights"], layer["bias"], out_lanes),
                "events": int(np.count_nonzero(factors)),
                "walk_cycles": walk_cycles(factors, layer["c_out"], lanes, out_lanes),
            })
    return jobs


def build(lanes, seed=0, out_lanes=None):
    layers, weight_rows, bias_rows = make_layers(lanes, seed)
    return (make_engine(lanes, weight_rows, bias_rows, layers, out_lanes),
            make_jobs(lanes, layers, seed, out_lanes))


def run_pysim(engine, jobs, ready="full"):
    """Run every job back to back; return (results per job, cycles per job, events per job)."""
    got, cycles, events = [], [], []

    async def testbench(ctx):
        readiness = itertools.cycle(PATTERNS[ready])
        for job in jobs:
            ctx.set(engine.layer, job["layer"])
            ctx.set(engine.vector, job["vector"])
            ctx.set(engine.nonzero, job["nonzero"])
            ctx.set(engine.start, 1)
            await ctx.tick()
            ctx.set(engine.start, 0)
            chunks, elapsed = [], 1
            while True:
                take = next(readiness)
                ctx.set(engine.o.ready, take)
                _, _, valid, payload = await ctx.tick().sample(engine.o.valid, engine.o.payload)
                elapsed += 1
                if valid and take:
                    chunks.append(pysim.to_python(payload))
                    if payload.last:
                        break
            ctx.set(engine.o.ready, 0)
            got.append(chunks)
            cycles.append(elapsed)
            events.append(ctx.get(engine.events))

    pysim.simulate(engine, testbench)
    return got, cycles, events


@pytest.mark.parametrize("lanes, out_lanes", [(4, 4), (8, 8), (8, 4), (8, 2)])
def test_engine_pysim_matches_golden(lanes, out_lanes):
    """Results, chunk order, cycles and events; an engine wider than its output sends each
    chunk in slices (the last layers' c_out leave slices past it to skip)."""
    engine, jobs = build(lanes, out_lanes=out_lanes)
    got, cycles, events = run_pysim(engine, jobs)
    for number, (job, chunks) in enumerate(zip(jobs, got)):
        slices = contract.lane_chunks(job["layer"]["c_out"], out_lanes)
        assert [c["chunk"] for c in chunks] == list(range(slices))
        problem = first_mismatch(f"job {number} (layer {job['layer']})", job["expected"],
                                 [c["acc"] for c in chunks])
        assert problem is None, problem
    # One cycle per (non-zero input, chunk) pair, or per slice where a chunk has more slices
    # than non-zero inputs: plus start and latency.
    assert cycles == [job["walk_cycles"] + 1 + engine.latency for job in jobs]
    assert events == [job["events"] for job in jobs]


@pytest.mark.parametrize("out_lanes", [4, 2])
def test_engine_pysim_with_backpressure_gives_the_same_results(out_lanes):
    engine, jobs = build(4, seed=7, out_lanes=out_lanes)
    got, _, _ = run_pysim(engine, jobs, ready="sparse")
    for job, chunks in zip(jobs, got):
        assert [c["acc"] for c in chunks] == job["expected"]


def run_pysim_early_starts(engine, jobs, ready):
    """Start each job in the first cycle ``walking`` is low, while the job before it may
    still be in the read and MAC stages and its chunks in the output register; collect the
    transfers and split them at ``last``. Returns (results per job, starts that found the
    engine still busy)."""
    got, early = [], 0

    async def testbench(ctx):
        nonlocal early
        readiness = itertools.cycle(PATTERNS[ready])
        pending, chunks = list(jobs), []
        while len(got) < len(jobs):
            starting = bool(pending) and not ctx.get(engine.walking)
            if starting:
                job = pending.pop(0)
                early += bool(ctx.get(engine.busy))
                ctx.set(engine.layer, job["layer"])
                ctx.set(engine.vector, job["vector"])
                ctx.set(engine.nonzero, job["nonzero"])
            ctx.set(engine.start, starting)
            take = next(readiness)
            ctx.set(engine.o.ready, take)
            _, _, valid, payload = await ctx.tick().sample(engine.o.valid, engine.o.payload)
            if valid and take:
                chunks.append(pysim.to_python(payload))
                if payload.last:
                    got.append(chunks)
                    chunks = []

    pysim.simulate(engine, testbench)
    return got, early


@pytest.mark.parametrize("lanes, out_lanes, ready", [(4, 4, "full"), (8, 2, "full"),
                                                     (4, 2, "sparse")])
def test_a_start_as_the_walk_ends_follows_the_last_layer_down_the_pipeline(
        lanes, out_lanes, ready):
    """``start`` is taken whenever ``walking`` is low: the previous layer's last events
    still in the read and MAC stages, and its chunk in the output register, finish as if
    alone, and the new layer's results follow them, each job equal to the golden model."""
    engine, jobs = build(lanes, seed=3, out_lanes=out_lanes)
    got, early = run_pysim_early_starts(engine, jobs * 2, ready)
    assert early == len(jobs) * 2 - 1          # every start but the first overlapped
    for number, (job, chunks) in enumerate(zip(jobs * 2, got)):
        problem = first_mismatch(f"job {number} (layer {job['layer']})", job["expected"],
                                 [c["acc"] for c in chunks])
        assert problem is None, problem


def test_a_shifted_weight_row_is_caught():
    """Breaking the weight layout by one row must fail the comparison."""
    layers, weight_rows, bias_rows = make_layers(4)
    broken = make_engine(4, np.roll(weight_rows, 1, axis=0), bias_rows, layers)
    jobs = make_jobs(4, layers, seed=0)
    got, _, _ = run_pysim(broken, jobs)
    assert any([c["acc"] for c in chunks] != job["expected"] for job, chunks in zip(jobs, got))


def test_engine_rejects_bad_parameters():
    rows = np.zeros((4, 4), dtype=np.int64)
    with pytest.raises(ValueError, match=r"weight_rows must have shape \(rows, 4\), not \(4, 3\)"):
        SparseEngine(lanes=4, entries=8, spike_bits=2, accumulator_bits=20, bias_bits=8,
                     weight_rows=np.zeros((4, 3)), bias_rows=rows, max_chunks=1)
    with pytest.raises(ValueError, match=r"weights must lie in -127\.\.127"):
        SparseEngine(lanes=4, entries=8, spike_bits=2, accumulator_bits=20, bias_bits=8,
                     weight_rows=rows - 128, bias_rows=rows, max_chunks=1)
    with pytest.raises(ValueError, match="biases need more than bias_bits=4 bits"):
        SparseEngine(lanes=4, entries=8, spike_bits=2, accumulator_bits=20, bias_bits=4,
                     weight_rows=rows, bias_rows=rows + 100, max_chunks=1)
    with pytest.raises(ValueError, match=r"spike_bits must be an integer in 1\.\.3, not 4"):
        SparseEngine(lanes=4, entries=8, spike_bits=4, accumulator_bits=20, bias_bits=8,
                     weight_rows=rows, bias_rows=rows, max_chunks=1)


@pytest.mark.verilator
@pytest.mark.parametrize("lanes, out_lanes", [(4, 4), (8, 8), (8, 4)])
def test_engine_verilator_matches_golden(lanes, out_lanes):
    engine, jobs = build(lanes, out_lanes=out_lanes)
    result = engine_job.run_verilator(engine, jobs, ready="idle_1_in_4")
    assert result["jobs"] == len(jobs)
