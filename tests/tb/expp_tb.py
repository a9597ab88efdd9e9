"""cocotb testbench of hw/softex/expp.py (driven by tests/softex/test_expp_verilator.py).

Every BF16 pattern (all 65,536) goes through the DUT exactly once, in a seeded random order,
packed ``lanes`` per beat (the last beat is padded with the first inputs again), under random
valid gaps and ready stalls; each lane of each output beat must equal the golden model
``sim.golden.expp.expp`` bit for bit. The stream agents of ``sim/tb/stream.py`` also check the
lib.stream rules on the output. Parameters (``load_params``): mode, lanes, seed, gap, stall.
Statistics go to ``result.json`` in the run folder.
"""

import json
import time

import cocotb
import numpy as np

from sim.golden.expp import expp
from sim.tb.clock import Ticker
from sim.tb.params import load_params
from sim.tb.stream import StreamDriver, StreamSink


def pack_beats(values, lanes):
    """uint16 array (length a multiple of lanes) -> list of ints, lane l at bits 16l..16l+15."""
    v = np.asarray(values, dtype=np.uint16).reshape(-1, lanes).astype(object)
    beats = v[:, 0].copy()
    for lane in range(1, lanes):
        beats = beats + (v[:, lane] << (16 * lane))
    return [int(b) for b in beats]


def unpack_beats(beats, lanes):
    out = np.zeros((len(beats), lanes), dtype=np.uint16)
    for i, b in enumerate(beats):
        for lane in range(lanes):
            out[i, lane] = (b >> (16 * lane)) & 0xFFFF
    return out.reshape(-1)


@cocotb.test()
async def expp_exhaustive(dut):
    p = load_params()
    mode, lanes = p["mode"], int(p["lanes"])
    seed = int(p.get("seed", 1))
    inputs = np.random.default_rng(seed).permutation(1 << 16).astype(np.uint16)
    pad = (-len(inputs)) % lanes
    inputs = np.concatenate([inputs, inputs[:pad]])
    expected = expp(inputs, mode)
    beats = pack_beats(inputs, lanes)

    ticker = await Ticker(dut).start()
    drv = StreamDriver(dut, "i", beats, gap=float(p.get("gap", 0.25)), seed=seed + 1)
    sink = StreamSink(dut, "o", count=len(beats), stall=float(p.get("stall", 0.25)), seed=seed + 2)
    t0 = time.perf_counter()
    cycles = await ticker.run(drv, sink)
    elapsed = time.perf_counter() - t0

    got = unpack_beats(sink.received, lanes)
    bad = np.flatnonzero(got != expected)
    covered = len(np.unique(inputs[:len(got)]))
    dut._log.info("expp %s x%d: %d inputs in %d beats, %d cycles (%.1f s), %d output stalls, "
                  "%d mismatches", mode, lanes, len(inputs), len(beats), cycles, elapsed,
                  sink.stall_cycles, len(bad))
    with open("result.json", "w") as f:
        json.dump({"run_id": p.get("run_id"), "cases": len(inputs),
                   "mode": mode, "lanes": lanes, "inputs": int(covered), "beats": len(beats),
                   "cycles": int(cycles), "sim_seconds": elapsed, "mismatches": int(len(bad)),
                   "output_stall_cycles": int(sink.stall_cycles)}, f)
    assert len(got) == len(inputs), f"received {len(got)} of {len(inputs)} results"
    assert covered == 1 << 16
    assert not len(bad), (f"{len(bad)} mismatches, e.g. " + ", ".join(
        f"x={int(inputs[i]):#06x}: got {int(got[i]):#06x} expected {int(expected[i]):#06x}"
        for i in bad[:8]))
    assert sink.stall_cycles > 0 and drv.valid_cycles < cycles, "no stall or gap was exercised"
