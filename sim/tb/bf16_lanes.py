"""Exhaustive check of a per-lane BF16 unary unit (expp, GELU, ...): every one of the 65,536
BF16 patterns goes through the DUT exactly once, in a seeded random order, ``lanes`` per beat
(the last beat padded with the first inputs again), under random valid gaps and ready stalls;
each lane of each output beat must equal ``golden(inputs)`` bit for bit. Statistics go to
``result.json`` in the run folder (read by sim.regressions.run_regression)."""

import json
import time

import numpy as np

from .clock import Ticker
from .stream import StreamDriver, StreamSink

__all__ = ["pack_beats", "unpack_beats", "check_all_bf16"]


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


async def check_all_bf16(dut, golden, *, lanes, seed, gap, stall, run_id=None, label="",
                         record=None):
    """Run every BF16 input through ``dut`` and assert 0 mismatches; ``record`` adds fields
    to result.json. Returns the result dict."""
    inputs = np.random.default_rng(seed).permutation(1 << 16).astype(np.uint16)
    pad = (-len(inputs)) % lanes
    inputs = np.concatenate([inputs, inputs[:pad]])
    expected = golden(inputs)
    beats = pack_beats(inputs, lanes)

    ticker = await Ticker(dut).start()
    drv = StreamDriver(dut, "i", beats, gap=gap, seed=seed + 1)
    sink = StreamSink(dut, "o", count=len(beats), stall=stall, seed=seed + 2)
    t0 = time.perf_counter()
    cycles = await ticker.run(drv, sink)
    elapsed = time.perf_counter() - t0

    got = unpack_beats(sink.received, lanes)
    bad = np.flatnonzero(got != expected)
    covered = len(np.unique(inputs[:len(got)]))
    dut._log.info("%s x%d: %d inputs in %d beats, %d cycles (%.1f s), %d output stalls, "
                  "%d mismatches", label, lanes, len(inputs), len(beats), cycles, elapsed,
                  sink.stall_cycles, len(bad))
    result = {"run_id": run_id, "cases": len(inputs), "lanes": lanes, "inputs": int(covered),
              "beats": len(beats), "cycles": int(cycles),
              "cycles_per_element": cycles / len(inputs), "gap": gap, "stall": stall,
              "sim_seconds": elapsed, "mismatches": int(len(bad)),
              "output_stall_cycles": int(sink.stall_cycles), **(record or {})}
    with open("result.json", "w") as f:
        json.dump(result, f)
    assert len(got) == len(inputs), f"received {len(got)} of {len(inputs)} results"
    assert covered == 1 << 16
    assert not len(bad), (f"{len(bad)} mismatches, e.g. " + ", ".join(
        f"x={int(inputs[i]):#06x}: got {int(got[i]):#06x} expected {int(expected[i]):#06x}"
        for i in bad[:8]))
    if gap > 0 and stall > 0:
        assert sink.stall_cycles > 0 and drv.valid_cycles < cycles, "no stall or gap was exercised"
    return result
