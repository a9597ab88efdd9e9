"""cocotb testbench of hw/softex/gelu.py (driven by tests/softex/test_gelu_verilator.py).

Every BF16 pattern (all 65,536) goes through the DUT exactly once, in a seeded random order,
packed ``lanes`` per beat (last beat padded with the first inputs again), under random valid
gaps and ready stalls (``gap`` / ``stall``; with both 0 the run measures full-throughput cycles
per element); each lane of each output beat must equal ``sim.golden.gelu.gelu`` bit for bit.
Parameters (``load_params``): terms, acc_width, expp_mode, lanes, seed, gap, stall.
Statistics go to ``result.json`` in the run folder (incl. ``cycles_per_element``).
"""

import json
import time

import cocotb
import numpy as np

from sim.golden.gelu import gelu
from sim.tb.clock import Ticker
from sim.tb.params import load_params
from sim.tb.stream import StreamDriver, StreamSink
from tests.tb.expp_tb import pack_beats, unpack_beats


@cocotb.test()
async def gelu_exhaustive(dut):
    p = load_params()
    lanes = int(p["lanes"])
    terms, acc_width, mode = int(p["terms"]), int(p["acc_width"]), p["expp_mode"]
    seed = int(p.get("seed", 1))
    gap, stall = float(p.get("gap", 0.25)), float(p.get("stall", 0.25))
    inputs = np.random.default_rng(seed).permutation(1 << 16).astype(np.uint16)
    pad = (-len(inputs)) % lanes
    inputs = np.concatenate([inputs, inputs[:pad]])
    expected = gelu(inputs, terms=terms, acc_width=acc_width, expp_mode=mode)
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
    dut._log.info("gelu K=%d W=%d %s x%d: %d inputs in %d beats, %d cycles (%.1f s), "
                  "%d mismatches", terms, acc_width, mode, lanes, len(inputs), len(beats),
                  cycles, elapsed, len(bad))
    with open("result.json", "w") as f:
        json.dump({"run_id": p.get("run_id"), "cases": len(inputs), "terms": terms,
                   "acc_width": acc_width, "expp_mode": mode, "lanes": lanes,
                   "inputs": int(covered), "beats": len(beats), "cycles": int(cycles),
                   "cycles_per_element": cycles / len(inputs), "gap": gap, "stall": stall,
                   "sim_seconds": elapsed, "mismatches": int(len(bad)),
                   "output_stall_cycles": int(sink.stall_cycles)}, f)
    assert len(got) == len(inputs), f"received {len(got)} of {len(inputs)} results"
    assert covered == 1 << 16
    assert not len(bad), (f"{len(bad)} mismatches, e.g. " + ", ".join(
        f"x={int(inputs[i]):#06x}: got {int(got[i]):#06x} expected {int(expected[i]):#06x}"
        for i in bad[:8]))
    if gap > 0 and stall > 0:
        assert sink.stall_cycles > 0 and drv.valid_cycles < cycles, "no stall or gap exercised"
